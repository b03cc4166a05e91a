"""Responders for the loopback server that behave like a reader, for offline demos and tests.

:func:`read_synthetic` is a perfect reader of the synthetic task's prompts (lara/tasks/synthetic.py):
it answers from the planted facts the prompt actually shows (so a RAG prompt whose chunks miss a
fact gets a refusal, as from an honest model) and refuses when a fact is absent. A test checks it
against every question the real task generates, so a change of the task's templates fails loudly.

:class:`LengthSensitiveReader` turns a reader into a model whose accuracy falls with prompt
length: it answers right with probability ``1 / (1 + (words / midpoint) ** steepness)``, decided
per question by a fixed hash, so a question answered wrongly at one length stays wrong at every
longer one and the length where RAG overtakes LC is known in advance. Other questions are answered
from an answers file (``{"question", "answer"}`` lines) when the answer occurs in the prompt's context.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

REFUSAL = "The document does not mention this."
DEGRADED = "I could not find that in the text; it is not mentioned."
_QUESTION = re.compile(r"Question:\s*(.+)")
_LOC_Q = re.compile(r"What is the access code for the (\w+) vault\?")
_CMP_Q = re.compile(r"Which is taller, the (\w+) tower or the (\w+) tower\?")
_RSN_Q = re.compile(r"What is the city where (\w+) lives famous for\?")


def split_question(prompt: str) -> tuple[str, str | None]:
    """(context before the last ``Question:``, the question line) of a prompt."""
    matches = list(_QUESTION.finditer(prompt))
    if not matches:
        return prompt, None
    last = matches[-1]
    return prompt[: last.start()], last.group(1).strip()


def read_synthetic(prompt: str) -> str | None:
    """The right answer to a synthetic-task prompt given what its context shows; None when the
    prompt is not a synthetic question."""
    context, question = split_question(prompt)
    if question is None:
        return None
    if m := _LOC_Q.search(question):
        f = re.search(rf"The access code for the {m.group(1)} vault is (\d+)\.", context)
        return f.group(1) if f else REFUSAL
    if m := _CMP_Q.search(question):
        heights = {}
        for name in m.groups():
            f = re.search(rf"The {name} tower is (\d+) meters tall\.", context)
            if f is None:
                return REFUSAL
            heights[name] = int(f.group(1))
        a, b = m.groups()
        return f"The {a} tower." if heights[a] > heights[b] else f"The {b} tower."
    if m := _RSN_Q.search(question):
        city = re.search(rf"{m.group(1)} lives in the city of (\w+)\.", context)
        if city is None:
            return REFUSAL
        thing = re.search(rf"The city of {city.group(1)} is famous for its ([^.]+)\.", context)
        return thing.group(1) if thing else REFUSAL
    return None


def load_answers(path: str | Path) -> dict[str, str]:
    """``{"question": ..., "answer": ...}`` JSON lines -> {question: answer}."""
    out: dict[str, str] = {}
    p = Path(path)
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["question"]).strip()] = str(row["answer"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{p}:{i}: expected a JSON object with 'question' and 'answer' ({exc})") from None
    return out


def lookup(answers: Mapping[str, str], question: str | None, prompt: str) -> str | None:
    """The answer of the question found in ``prompt`` (its ``Question:`` line, else any listed
    question the prompt contains)."""
    if question is not None and question in answers:
        return answers[question]
    for q, a in answers.items():
        if q and q in prompt:
            return a
    return None


def user_text(messages: list[dict[str, Any]]) -> str:
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return users[-1] if users else str(messages[-1].get("content") or "") if messages else ""


class ReaderResponder:
    """The mock server's default: reads synthetic-task facts from the prompt, answers listed
    questions from an answers file, and echoes the end of anything else."""

    def __init__(self, answers: Mapping[str, str] | None = None) -> None:
        self.answers = dict(answers or {})

    def __call__(self, messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
        prompt = user_text(messages)
        found = read_synthetic(prompt)
        if found is not None:
            return found
        _, question = split_question(prompt)
        found = lookup(self.answers, question, prompt)
        if found is not None:
            return found
        return "echo: " + " ".join(prompt.split()[-8:])


class LengthSensitiveReader:
    """A reader whose accuracy falls with prompt length (see the module docstring)."""

    def __init__(self, midpoint_words: int, steepness: float = 8.0, answers: Mapping[str, str] | None = None,
                 seed: int = 0) -> None:
        if midpoint_words <= 0 or steepness <= 0:
            raise ValueError("midpoint_words and steepness must be positive")
        self.midpoint = midpoint_words
        self.steepness = steepness
        self.answers = dict(answers or {})
        self.seed = seed

    def p_correct(self, words: int) -> float:
        return 1.0 / (1.0 + (words / self.midpoint) ** self.steepness)

    def _u(self, question: str) -> float:
        h = hashlib.sha256(f"{self.seed}:{question}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def truth(self, prompt: str) -> str | None:
        answer = read_synthetic(prompt)
        if answer is not None:
            return answer
        context, question = split_question(prompt)
        found = lookup(self.answers, question, prompt)
        if found is None:
            return None
        return found if found.strip() and found.strip().lower() in context.lower() else REFUSAL

    def __call__(self, messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
        prompt = user_text(messages)
        words = sum(len(str(m.get("content") or "").split()) for m in messages)
        answer = self.truth(prompt)
        if answer is None:
            return "I don't know."
        _, question = split_question(prompt)
        return answer if self._u(question or prompt) < self.p_correct(words) else DEGRADED
