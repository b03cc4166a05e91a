"""Replay backend: recorded predictions answer the task's own prompts; failures become typed errors."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from lara.backends.base import BackendError, build_backend
from lara.protocols import ContextBlock
from lara.tasks.lara import LaraTask
from lara.types import Chunk, GenerateConfig, Message

from lara.testing.fixtures import make_fixture

CFG = GenerateConfig()


def _preds(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")


@pytest.fixture()
def setup(tmp_path: Path):
    root = make_fixture(tmp_path / "lara")
    pred = root / "predictions" / "model-x"
    # file names carry another model's name on purpose (the gpt-4o-0806 quirk)
    _preds(pred, "full_preds_other_32k_book_location.jsonl", [
        {"file": "Carol.txt", "context_order": 0, "question": "Who signed 0?", "prediction": "Hartman (LC).", "ground_truth": "Hartman."},
        {"file": "Carol.txt", "context_order": 1, "question": "Who signed 1?", "prediction": False, "ground_truth": "Hartman."},
    ])
    _preds(pred, "rag_preds_other_32k_book_location.jsonl", [
        {"file": "Carol.txt", "context_order": 0, "question": "Who signed 0?", "prediction": "Hartman (RAG).", "ground_truth": "Hartman."},
    ])
    _preds(pred, "full_preds_other_32k_financial_location.jsonl", [
        {"file": "Other.txt", "context_order": 0, "question": "What was the net loss?", "prediction": "$9 (other filing).", "ground_truth": "$9."},
        {"file": "ACME.txt", "context_order": 0, "question": "What was the net loss?", "prediction": "$5 (ACME).", "ground_truth": "$5."},
    ])
    (root / "datasets" / "32k" / "financial" / "Other.txt").write_text("Other Inc. Net loss was $9. " * 20)
    task = LaraTask(data_dir=str(root), lengths=["32k"])
    return root, pred, task


async def test_answers_lc_and_rag(setup) -> None:
    root, pred, task = setup
    b = build_backend(f"replay:{pred}")
    assert b.info.id == "model-x" and b.info.backend == "replay" and b.info.context_window == 128000
    assert b.info.endpoint == f"replay://{pred.resolve()}"
    s = next(x for x in task.samples() if x.id == "32k_book_location_0")
    msgs = task.messages(s, ContextBlock(mode="long_context"))
    g = await b.generate(msgs, CFG)
    assert g.text == "Hartman (LC)."
    assert g.input_tokens == sum(b.count_tokens(m.content) for m in msgs) > 10
    assert g.output_tokens == b.count_tokens("Hartman (LC).")
    rag = task.messages(s, ContextBlock(mode="rag", chunks=(Chunk("d:0", "d", 0, "Hartman signed it", 0, 17),)))
    assert (await b.generate(rag, CFG)).text == "Hartman (RAG)."


async def test_mode_param_overrides_prompt(setup) -> None:
    _, pred, _ = setup
    b = build_backend(f"replay:{pred}", {"mode": "rag"})
    msgs = [Message("system", "x"), Message("user", "Some other prompt.\n\nQuestion: Who signed 0?")]
    assert (await b.generate(msgs, CFG)).text == "Hartman (RAG)."
    with pytest.raises(ValueError, match="unknown mode"):
        build_backend(f"replay:{pred}", {"mode": "bogus"})
    with pytest.raises(TypeError):
        build_backend(f"replay:{pred}", {"bogus": 1})
    with pytest.raises(ValueError, match="not found"):
        build_backend(f"replay:{pred}/nope")


async def test_missing_and_false_predictions_are_typed_errors(setup) -> None:
    _, pred, task = setup
    b = build_backend(f"replay:{pred}")
    by_id = {s.id: s for s in task.samples()}
    with pytest.raises(BackendError, match="upstream_failure") as exc:
        await b.generate(task.messages(by_id["32k_book_location_1"], ContextBlock(mode="long_context")), CFG)
    assert exc.value.kind == "upstream_failure"
    with pytest.raises(BackendError, match="no recorded prediction") as exc:
        await b.generate(task.messages(by_id["32k_book_comp_0"], ContextBlock(mode="long_context")), CFG)
    assert exc.value.kind == "missing"


async def test_duplicate_question_resolved_by_document(setup) -> None:
    root, pred, task = setup
    b = build_backend(f"replay:{pred}", {"data_dir": str(root)})
    s = next(x for x in task.samples() if x.id == "32k_financial_location_0")
    g = await b.generate(task.messages(s, ContextBlock(mode="long_context")), CFG)
    assert g.text == "$5 (ACME)."  # the other filing's row comes first in the file
    assert b.duplicates == {("long_context", "financial", "What was the net loss?"): 2}


def test_token_counts_cached_and_exact(setup) -> None:
    _, pred, _ = setup
    b = build_backend(f"replay:{pred}")
    from lara.tokens import get_tokenizer

    tok = get_tokenizer("cl100k")
    doc = "".join(f"Paragraph {i}. Some text, it's fine.\nMore {i}\n" for i in range(500))
    for q in ("Who?", "What was the net loss for 2024?"):
        prompt = f"Read the book below and answer a question.\n\n{doc}\n\nQuestion: {q}\n\nBe concise."
        assert b.count_tokens(prompt) == tok.count(prompt)
    assert len(b._token_cache) == 1  # the document head was counted once


async def test_real_replay_gpt4o_mini_32k(shared_data: Path) -> None:
    pred = shared_data / "lara" / "predictions" / "gpt-4o-mini"
    task = LaraTask(data_dir=str(shared_data / "lara"), lengths=["32k"])
    b = build_backend(f"replay:{pred}")
    outcome: collections.Counter = collections.Counter()
    for s in task.samples():
        text = s.documents[0].load_text()
        chunk = Chunk("c:0", s.documents[0].id, 0, text[:1500], 0, 1500)
        for mode, block in (("long_context", ContextBlock(mode="long_context", text=text)),
                            ("rag", ContextBlock(mode="rag", chunks=(chunk,)))):
            try:
                g = await b.generate(task.messages(s, block), CFG)
                assert g.text and g.input_tokens > 0
                outcome[(mode, "ok")] += 1
            except BackendError as exc:
                assert exc.kind == "upstream_failure", str(exc)
                outcome[(mode, "upstream_failure")] += 1
    for mode in ("long_context", "rag"):
        assert outcome[(mode, "ok")] + outcome[(mode, "upstream_failure")] == 887
    # every failure is one of the JSON-false rows recorded upstream, counted here from the files
    false_rows = collections.Counter()
    for f in pred.glob("*_32k_*.jsonl"):
        mode = "long_context" if f.name.startswith("full_") else "rag"
        false_rows[mode] += sum(1 for line in f.open() if line.strip() and json.loads(line)["prediction"] is False)
    print("gpt-4o-mini 32k replay:", dict(outcome), "json-false rows:", dict(false_rows))
    for mode in ("long_context", "rag"):
        assert outcome[(mode, "upstream_failure")] == false_rows[mode]
