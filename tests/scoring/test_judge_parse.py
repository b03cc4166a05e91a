"""Parsing tables for every judge output format: a verdict or None (unparsed), never a guess."""

from __future__ import annotations

import pytest

from lara.scoring.judge_parse import parse_ab, parse_binary, parse_pandalm, parse_rating


@pytest.mark.parametrize(
    "text, expected",
    [
        ("True", True),
        ("False", False),
        ("true", True),
        ("FALSE", False),
        ("  True.\n", True),
        ("**False**", False),
        ('"True"', True),
        ("Judgement: True", True),
        ("Answer - false", False),
        ("True. The answer matches the ground truth.", True),
        ("False, it names the wrong year.", False),
        ("not true", None),
        ("Not True", None),
        ("", None),
        (None, None),
        ("   ", None),
        ("True or False", None),
        ("True. Actually, False.", None),
        ("The answer is True", None),  # more than one leading word
        ("yes", None),
        ("Truely correct", None),
        ("garbage output", None),
    ],
)
def test_parse_binary(text, expected):
    assert parse_binary(text) is expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[7]]", 7.0),
        ("Rating: [[7.5]]", 7.5),
        ("The answer is fine.\n\nRating: [[10]]", 10.0),
        ("[[ 3 ]]", 3.0),
        ("Rating: [[7]] ... as said, [[7]]", 7.0),
        ("Rating: [[7]] or [[8]]", None),  # contradictory
        ("[[11]]", None),  # out of range
        ("[[0]]", None),
        ("Rating: 7", None),
        ("[7]", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_rating(text, expected):
    assert parse_rating(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[A]]", 1),
        ("Assistant B is more accurate. [[B]]", 2),
        ("Both are equal. [[C]]", 0),
        ("[[A]] ... final: [[B]]", None),
        ("A", None),
        ("[A]", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_ab(text, expected):
    assert parse_ab(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1\n\n### Reason: Response 1 is concise.\n\n### Reference: Hi.", 1),
        ("2\n### Reason: better", 2),
        ("Tie\n\n### Reason: both fine", 0),
        ("tie", 0),
        ("  1  ", 1),
        ("Response 2\n### Reason: x", 2),
        ("### Evaluation:\n1\n\n### Reason: r", 1),
        ("3\n### Reason: x", None),
        ("Response 1 is better", None),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_pandalm_label(text, expected):
    assert parse_pandalm(text).label == expected


def test_parse_pandalm_sections():
    out = parse_pandalm("1\n\n### Reason: Response 1 is concise.\n\n### Reference: Hello there.\n")
    assert out.reason == "Response 1 is concise."
    assert out.reference == "Hello there."
