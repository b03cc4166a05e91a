"""MBPP task and pass@k scorer: splits, prompts, code extraction, sandboxed scoring, real references."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import pytest

from lara.protocols import ContextBlock
from lara.registry import scorers, tasks
from lara.scoring.mbpp import extract_code, pass_at_k
from lara.tasks.demos import DataError
from lara.tokens import get_tokenizer
from lara.types import RunOutput

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) not installed")


def _row(tid: int) -> dict:
    return {"text": f"Write a function to add {tid} to a number.", "code": f"def add_{tid}(x):\n    return x + {tid}",
            "task_id": tid, "test_setup_code": "", "test_list": [f"assert add_{tid}(1) == {tid + 1}"],
            "challenge_test_list": []}


def _write(tmp_path: Path) -> Path:
    rows = [_row(t) for t in (2, 3, 4, 11, 12, 600, 601, 602, 603)]
    (tmp_path / "mbpp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def _score(sample, answer, **kw):
    return asyncio.run(scorers.get("mbpp_pass")(**kw).score(sample, RunOutput(answer=answer)))


def test_splits_prompt_and_shared_corpus(tmp_path: Path) -> None:
    task = tasks.get("mbpp")(data_dir=str(_write(tmp_path)))
    samples = list(task.samples())
    assert [s.metadata["task_id"] for s in samples] == [11, 12]
    assert samples[0].documents[0] is samples[1].documents[0]
    chunks = task.chunk(samples[0].documents[0])
    assert len(chunks) == 3  # train 601-603 only
    assert chunks[0].text.startswith("You are an expert Python programmer, and here is your task: Write a function to add 601")
    assert "Your code should pass these tests:\n\nassert add_601(1) == 602\n[BEGIN]\ndef add_601" in chunks[0].text
    assert chunks[0].text.endswith("[DONE]")
    lc, rep = task.fit_context(samples[0], None, get_tokenizer("words"))
    assert len(lc.demonstrations) == 3 and not rep.truncated
    rag = ContextBlock(mode="rag", chunks=tuple(chunks))
    assert task.messages(samples[0], lc) == task.messages(samples[0], rag)
    assert task.messages(samples[0], lc)[0].content.endswith("[BEGIN]")


def test_three_shot_baseline(tmp_path: Path) -> None:
    task = tasks.get("mbpp")(data_dir=str(_write(tmp_path)), prompt_style="3shot")
    sample = next(iter(task.samples()))
    text = task.messages(sample, ContextBlock(mode="none"))[0].content
    assert text.count("\n[DONE]") == 3 and "add_2" in text and "add_4" in text and "add_601" not in text


def test_code_extraction() -> None:
    assert extract_code("[BEGIN]\ndef f():\n    return 1\n[DONE]") == "def f():\n    return 1"
    assert extract_code("Sure:\n```python\ndef f():\n    return 2\n```\nDone.") == "def f():\n    return 2"
    assert extract_code("def f():\n    return 3\n[DONE] trailing") == "def f():\n    return 3"
    assert extract_code("I cannot solve this.") == ""
    assert extract_code("[BEGIN]\n[DONE]") == ""


def test_pass_at_k_matches_the_combinatorial_formula() -> None:
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 5), (5, 5, 2), (7, 2, 7)]:
        expected = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)


@needs_bwrap
def test_scoring_in_the_sandbox(tmp_path: Path) -> None:
    task = tasks.get("mbpp")(data_dir=str(_write(tmp_path)))
    sample = next(iter(task.samples()))
    good = _score(sample, "[BEGIN]\ndef add_11(x):\n    return x + 11\n[DONE]")
    assert good.value == 1.0 and good.details["isolation"] == "bubblewrap" and good.details["reason"] == "passed"
    assert good.details["memory_bound"] in ("cgroup-v1", "cgroup-v2", "rlimits") and good.details["seccomp"]
    bad = _score(sample, "[BEGIN]\ndef add_11(x):\n    return x\n[DONE]")
    assert bad.value == 0.0 and bad.status == "ok" and "AssertionError" in bad.explanation
    assert bad.details["reason"] == "assertion"
    empty = _score(sample, "Sorry, no idea.")
    assert empty.value == 0.0 and empty.status == "ok" and empty.details["status"] == "no_code"
    slow = _score(sample, "[BEGIN]\ndef add_11(x):\n    while True: pass\n[DONE]", timeout_s=1)
    assert slow.value == 0.0 and slow.details["status"] == "timeout"
    many = asyncio.run(scorers.get("mbpp_pass")().score(sample, RunOutput(
        answer="[BEGIN]\ndef add_11(x):\n    return x + 11\n[DONE]",
        extra={"samples": ["[BEGIN]\ndef add_11(x):\n    return x + 11\n[DONE]", "no code", "[BEGIN]\nadd_11 = 1\n[DONE]"]})))
    assert many.details["n"] == 3 and many.details["c"] == 1
    assert many.details["pass@1"] == pytest.approx(1 / 3)


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path)
    with (tmp_path / "mbpp.jsonl").open("a") as f:
        f.write('{"text": "x", "task_id": 20}\n')
    with pytest.raises(DataError, match=r"mbpp\.jsonl:10: missing field"):
        list(tasks.get("mbpp")(data_dir=str(tmp_path)).samples())


def test_sanitized_variant_reads_real_file(shared_data: Path) -> None:
    task = tasks.get("mbpp")(data_dir=str(shared_data / "mbpp"), variant="sanitized")
    samples = list(task.samples())
    assert 0 < len(samples) < 427 and all(11 <= s.metadata["task_id"] <= 510 for s in samples)
    assert len(task.corpus().demos) == 374


@needs_bwrap
def test_all_974_reference_solutions_pass(shared_data: Path) -> None:
    from lara.sandbox import BubblewrapSandbox, run_tests_many
    from lara.sandbox.verdict import top_level_names

    task = tasks.get("mbpp")(data_dir=str(shared_data / "mbpp"), split="all")
    samples = list(task.samples())
    assert len(samples) == 974
    cases = [(s.references[0], s.metadata["tests"], s.metadata["test_setup_code"], top_level_names(s.references[0]))
             for s in samples]
    box = BubblewrapSandbox()
    results = run_tests_many(box, cases, timeout_s=20, workers=2)
    failed = [(s.metadata["task_id"], r.reason, r.explanation) for s, r in zip(samples, results) if not r.passed]
    assert failed == []
    # task 367 needs its setup code: without it the tests fail
    s = next(s for s in samples if s.metadata["task_id"] == 367)
    bare = box.run_tests(s.references[0], s.metadata["tests"], "", 20)
    assert bare.reason == "error" and "NameError" in bare.explanation
