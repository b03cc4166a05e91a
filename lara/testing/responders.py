"""Loopback-server responders shared by tests and benchmarks (one copy, not one per test file)."""

from __future__ import annotations

from typing import Any


def iterdrag_responder(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    """A model that plays IterDRAG's Self-Ask protocol: one follow-up, its intermediate answer, then
    the final answer ``1234``. The prompt's own instructions name "Follow up:" twice, so a third
    occurrence is the follow-up already asked."""
    from lara.runners.iterdrag import DECIDE, FORCE, INTERMEDIATE

    last = messages[-1]["content"]
    if last.endswith(INTERMEDIATE):
        return "Intermediate answer: 1234"
    if last.endswith(FORCE) or last.count("Follow up:") > 2:
        return "So the final answer is: 1234"
    if not last.endswith(DECIDE):
        raise ValueError("not an IterDRAG prompt")
    return "Follow up: What is the access code?"
