"""GSM8K task and scorer: loading, LC/RAG context hooks, extraction, and the real-data self-check."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lara.protocols import ContextBlock
from lara.registry import scorers, tasks
from lara.scoring.gsm8k import extract_flexible, extract_strict
from lara.tasks.demos import DataError
from lara.tokens import get_tokenizer
from lara.types import RunOutput, Sample


def _write(tmp_path: Path, n_train: int = 6) -> Path:
    train = [{"question": f"Tom has {i} apples and buys {i + 1} more. How many?",
              "answer": f"He has {i} + {i + 1} = <<{i}+{i + 1}={2 * i + 1}>>{2 * i + 1} apples.\n#### {2 * i + 1}"}
             for i in range(n_train)]
    test = [{"question": "Ann has 1,000 pears and eats 1. How many are left?", "answer": "1000 - 1 = 999\n#### 999"},
            {"question": "Bob has 3 apples and buys 4 more. How many?", "answer": "3+4=7\n#### 7"}]
    for name, rows in (("train", train), ("test", test)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def _score(sample: Sample, answer: str, **params):
    return asyncio.run(scorers.get("gsm8k")(**params).score(sample, RunOutput(answer=answer)))


def test_samples_share_one_corpus_document(tmp_path: Path) -> None:
    task = tasks.get("gsm8k")(data_dir=str(_write(tmp_path)))
    samples = list(task.samples())
    assert [s.references for s in samples] == [("999",), ("7",)]
    assert samples[0].documents[0] is samples[1].documents[0]
    chunks = task.chunk(samples[0].documents[0])
    assert len(chunks) == 6 and chunks[2].id == f"{samples[0].documents[0].id}:2"
    assert "<<" not in chunks[0].text and chunks[0].text.endswith("The answer is 1.")


def test_lc_fits_whole_demonstrations_only(tmp_path: Path) -> None:
    task = tasks.get("gsm8k")(data_dir=str(_write(tmp_path)), max_demos=5)
    sample = next(iter(task.samples()))
    tok = get_tokenizer("words")
    one = tok.count(task.chunk(sample.documents[0])[0].text + "\n\n")
    block, report = task.fit_context(sample, int(one * 2.5), tok)
    assert len(block.demonstrations) == 2  # the third would be cut in half: left out
    assert report.truncated and report.kept_tokens <= one * 2.5
    full, rep = task.fit_context(sample, None, tok)
    assert len(full.demonstrations) == 5 and not rep.truncated  # capped by max_demos
    text = task.messages(sample, block)[0].content
    assert text.count("Q: ") == 3 and text.rstrip().endswith("A:")


def test_rag_and_lc_use_the_same_prompt_family(tmp_path: Path) -> None:
    task = tasks.get("gsm8k")(data_dir=str(_write(tmp_path)), max_demos=2)
    sample = next(iter(task.samples()))
    lc, _ = task.fit_context(sample, None, get_tokenizer("words"))
    rag = ContextBlock(mode="rag", chunks=tuple(task.chunk(sample.documents[0])[:2]))
    assert task.messages(sample, lc) == task.messages(sample, rag)


def test_cot8_baseline_uses_the_fixed_exemplars(tmp_path: Path) -> None:
    task = tasks.get("gsm8k")(data_dir=str(_write(tmp_path)), prompt_style="cot8")
    sample = next(iter(task.samples()))
    assert sample.documents == ()
    text = task.messages(sample, ContextBlock(mode="none"))[0].content
    assert text.count("Q: ") == 9 and text.count(". The answer is") == 8 and "15 trees" in text


def test_extraction_strict_and_flexible(tmp_path: Path) -> None:
    assert extract_strict("so 5 + 4 = 9. The answer is $1,234.") == "1234"
    assert extract_strict("blah\n#### -3") == "-3"
    assert extract_strict("I think it is 12") is None
    assert extract_flexible("I think it is 12, not 13.") == "13"
    sample = Sample("s", "q", references=("12",))
    s = _score(sample, "I think it is 12.")
    assert s.value == 1.0 and s.details["strict"] is None and s.details["flexible_correct"]
    assert _score(sample, "I think it is 12.", mode="strict").value == 0.0
    assert _score(sample, "The answer is 12.00").value == 1.0
    with pytest.raises(ValueError):
        scorers.get("gsm8k")(mode="loose")


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path)
    with (tmp_path / "test.jsonl").open("a") as f:
        f.write("{not json\n")
    with pytest.raises(DataError, match=r"test\.jsonl:3"):
        list(tasks.get("gsm8k")(data_dir=str(tmp_path)).samples())


def test_real_gold_answers_score_against_themselves(shared_data: Path) -> None:
    task = tasks.get("gsm8k")(data_dir=str(shared_data / "gsm8k"))
    scorer = scorers.get("gsm8k")()
    samples = list(task.samples())
    assert len(samples) == 1319
    assert len(task.corpus().demos) == 7473

    async def all_scores():
        return [await scorer.score(s, RunOutput(answer=s.metadata["solution"])) for s in samples]

    scores = asyncio.run(all_scores())
    assert sum(s.value for s in scores) == 1319
    assert all(s.details["strict_correct"] for s in scores)
