"""Loopback-server responders shared by tests and benchmarks (one copy, not one per test file)."""

from __future__ import annotations

from typing import Any


def iterdrag_responder(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    """A model that plays IterDRAG's Self-Ask protocol (lara/prompts/iterdrag.yaml): one follow-up,
    its intermediate answer, then the final answer ``1234``. Demonstrations' chains come before the
    test question's own part (after the last final-answer line), where follow-ups are counted."""
    from lara.runners.selfask import prompts

    p = prompts()
    last = messages[-1]["content"]
    test_part = last.rsplit(f"\n{p.final} ", 1)[-1]
    if last.endswith(p.answer_follow_up):
        return "Intermediate answer: 1234"
    if last.endswith(p.force) or test_part.count(p.follow_up) > 2:
        return "So the final answer is: 1234"
    if not last.endswith(p.decide):
        raise ValueError("not an IterDRAG prompt")
    return "Follow up: What is the access code?"
