"""Judge prompts are byte-exact with their sources (BENCHMARKS.md §1 for LaRA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lara.scoring.judge_prompts import LARA_BINARY, LARA_HALLU, LARA_SYSTEM, PROMPTS, pandalm_messages


def _benchmarks(shared_data: Path) -> str:
    p = shared_data.parent / "docs" / "BENCHMARKS.md"
    if not p.exists():
        pytest.skip(f"{p} not found")
    return p.read_text(encoding="utf-8")


def test_lara_prompts_match_benchmarks_doc(shared_data):
    doc = _benchmarks(shared_data)
    assert f'system `"{LARA_SYSTEM}"`' in doc
    assert "```\n" + LARA_BINARY.template + "\n```" in doc
    first, rest = LARA_HALLU.template.split("\n\n", 1)
    assert f"for hallu: first paragraph replaced by `{first}`" in doc
    assert rest.endswith("Now, start your judgement:")
    assert LARA_BINARY.template.endswith("Now, start your judgment:")
    assert rest.replace("judgement:", "judgment:") == LARA_BINARY.template.split("\n\n", 1)[1]


def test_render_lara():
    msgs = LARA_BINARY.render(query="Q?", label="A", pred="B")
    assert [m.role for m in msgs] == ["system", "user"]
    assert "[Query] Q?\n\n[Groundtruth Answer] A\n\n[AI Assistant's Answer] B\n\n" in msgs[1].content


def test_prompt_ids_and_sources():
    for pid, p in PROMPTS.items():
        assert p.id == pid and p.version and p.source


def test_pandalm_prompt_with_and_without_input():
    p, msgs = pandalm_messages("Rewrite.", "Some text", " r1</s> ", "r2")
    assert p.id == "pandalm-v1" and len(msgs) == 1 and msgs[0].role == "user"
    c = msgs[0].content
    assert c.startswith("Below are two responses for a given task. The task is defined by the Instruction with an Input")
    assert "### Instruction:\nRewrite.\n\n### Input:\nSome text\n\n### Response 1:\nr1\n\n### Response 2:\nr2\n\n### Evaluation:\n" in c
    p2, msgs2 = pandalm_messages("Rewrite.", "", "a", "b")
    assert p2.id == "pandalm-v1-noinput" and "### Input:" not in msgs2[0].content
