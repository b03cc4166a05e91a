"""Pairwise judging: both orders, mapping back, disagreement → tie, conflict rate."""

from __future__ import annotations

import asyncio
import re

import pytest

from lara.judging.pairwise import OrderResult, combine, conflict_rate, judge_pair, swap_label
from lara.scoring.judge import Judge
from lara.testing.backends import scripted


def ScriptedBackend(fn):  # noqa: N802 - the shared double under the name these tests use
    return scripted(fn)


def _r1(text: str) -> str:
    m = re.search(r"### Response 1:\n(.*?)\n\n### Response 2:", text, re.S)
    return m.group(1) if m else ""


def run(coro):
    return asyncio.run(coro)


def test_swap_label():
    assert [swap_label(x) for x in (1, 2, 0, None)] == [2, 1, 0, None]


@pytest.mark.parametrize(
    "fwd, bwd, status, label, conflict",
    [
        ((1, "ok"), (1, "ok"), "ok", 1, False),
        ((2, "ok"), (2, "ok"), "ok", 2, False),
        ((0, "ok"), (0, "ok"), "ok", 0, False),
        ((1, "ok"), (2, "ok"), "ok", 0, True),
        ((1, "ok"), (0, "ok"), "ok", 0, True),
        ((1, "ok"), (None, "unparsed"), "unparsed", None, False),
        ((None, "error"), (None, "unparsed"), "error", None, False),
    ],
)
def test_combine(fwd, bwd, status, label, conflict):
    v = combine(OrderResult(fwd[1], fwd[0], "x", "p"), OrderResult(bwd[1], bwd[0], "y", "p"))
    assert (v.status, v.label, v.conflict) == (status, label, conflict)


def test_consistent_judge_both_orders_mapped_back():
    # prefers the response containing "good" wherever it is shown
    be = ScriptedBackend(lambda t: "1\n### Reason: r" if "good" in _r1(t) else "2\n### Reason: r")
    v = run(judge_pair(Judge(be, "scripted"), "Do it", "good answer", "bad answer"))
    assert len(be.prompts) == 2
    assert "### Response 1:\ngood answer" in be.prompts[0] and "### Response 1:\nbad answer" in be.prompts[1]
    assert (v.status, v.label, v.conflict) == ("ok", 1, False)
    assert v.forward.label == 1 and v.backward.label == 1  # backward "2" mapped back to 1


def test_position_biased_judge_becomes_tie():
    be = ScriptedBackend(lambda t: "1")  # always prefers the first position
    v = run(judge_pair(Judge(be, "scripted"), "Do it", "x", "y"))
    assert (v.status, v.label, v.conflict) == ("ok", 0, True)


def test_mtbench_format_and_conflict_rate():
    be = ScriptedBackend(lambda t: "[[A]]" if "Answer]\nwin" in t.split("Assistant B")[0] else "[[B]]")
    j = Judge(be, "scripted")
    v1 = run(judge_pair(j, "q", "win", "lose", fmt="mtbench"))
    assert (v1.label, v1.conflict) == (1, False)
    biased = Judge(ScriptedBackend(lambda t: "[[A]]"), "scripted")
    v2 = run(judge_pair(biased, "q", "a", "b", fmt="mtbench"))
    v3 = run(judge_pair(Judge(ScriptedBackend(lambda t: "??"), "s"), "q", "a", "b", fmt="mtbench"))
    assert v3.status == "unparsed"
    assert conflict_rate([v1, v2, v3]) == pytest.approx(0.5)  # unparsed pairs are not in the denominator
    assert conflict_rate([v3]) is None


def test_endpoint_failure_is_error_status():
    j = Judge(ScriptedBackend(lambda t: RuntimeError("down")), "scripted")
    v = run(judge_pair(j, "q", "a", "b"))
    assert v.status == "error" and v.label is None and "down" in v.forward.error
    assert j.usage.errors == 2 and j.usage.calls == 0


def test_unknown_format():
    with pytest.raises(ValueError, match="pandalm"):
        run(judge_pair(Judge(ScriptedBackend(lambda t: "1"), "s"), "q", "a", "b", fmt="nope"))
