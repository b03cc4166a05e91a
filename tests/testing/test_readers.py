"""The mock server's readers: the synthetic reader answers every question the real task generates
(the real scorer agrees), refuses when a fact is missing from the prompt, and the length-sensitive
reader's accuracy falls with prompt length, monotonically per question."""

from __future__ import annotations

import asyncio

from lara.protocols import ContextBlock
from lara.scoring.exact import SyntheticExactScorer
from lara.tasks.synthetic import SyntheticTask
from lara.testing.readers import (DEGRADED, REFUSAL, LengthSensitiveReader, ReaderResponder, load_answers,
                                  read_synthetic)
from lara.types import RunOutput


def lc_prompt(task: SyntheticTask, sample) -> str:
    return task.messages(sample, ContextBlock(mode="long_context", text=sample.documents[0].text))[-1].content


def test_reader_answers_every_synthetic_question_correctly() -> None:
    task = SyntheticTask(lengths=[500, 2000], n_docs=3, seed=7)
    scorer = SyntheticExactScorer()
    for s in task.samples():
        answer = read_synthetic(lc_prompt(task, s))
        assert answer is not None
        score = asyncio.run(scorer.score(s, RunOutput(answer=answer)))
        assert score.value == 1.0, (s.id, answer, s.references)


def test_reader_refuses_when_the_prompt_lacks_the_fact() -> None:
    task = SyntheticTask(lengths=[500], n_docs=1)
    for s in task.samples():
        if s.metadata["category"] == "hallucination":
            continue
        prompt = task.messages(s, ContextBlock(mode="long_context", text="Nothing relevant here."))[-1].content
        assert read_synthetic(prompt) == REFUSAL
    assert read_synthetic("no question in this prompt") is None


def test_length_sensitive_reader_degrades_with_length_and_stays_wrong_once_wrong() -> None:
    reader = LengthSensitiveReader(midpoint_words=4_000, steepness=6)
    task = SyntheticTask(lengths=[1000, 4000, 16000], n_docs=4)
    by_len: dict[int, list[bool]] = {}
    wrong_at: dict[str, int] = {}
    for s in task.samples():
        if s.metadata["category"] == "hallucination":
            continue
        msgs = [{"role": m.role, "content": m.content} for m in
                task.messages(s, ContextBlock(mode="long_context", text=s.documents[0].text))]
        reply = reader(msgs, {})
        ok = reply != DEGRADED
        length = s.metadata["target_words"]
        by_len.setdefault(length, []).append(ok)
        if not ok:
            wrong_at.setdefault(s.question, length)
    acc = {k: sum(v) / len(v) for k, v in by_len.items()}
    assert acc[1000] == 1.0 and acc[16000] == 0.0 and acc[1000] >= acc[4000] >= acc[16000]
    assert reader.p_correct(2_000) > 0.9 > 0.1 > reader.p_correct(8_000)


def test_answers_file_responder(tmp_path) -> None:
    f = tmp_path / "answers.jsonl"
    f.write_text('{"question": "What is the capital of Tuvalu?", "answer": "Funafuti"}\n', encoding="utf-8")
    r = ReaderResponder(load_answers(f))
    assert r([{"role": "user", "content": "Question: What is the capital of Tuvalu?"}], {}) == "Funafuti"
    assert r([{"role": "user", "content": "hello there"}], {}).startswith("echo:")
    f.write_text("not json\n", encoding="utf-8")
    try:
        load_answers(f)
    except ValueError as exc:
        assert "answers.jsonl:1" in str(exc)
    else:
        raise AssertionError("a malformed answers file must fail naming file:line")
