"""Bring-your-own JSONL task: field mapping, shared documents, errors naming file and line, template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.config import load_preset
from lara.protocols import ContextBlock
from lara.registry import scorers, tasks
from lara.tasks.demos import DataError


def _write(tmp_path: Path, rows: list[dict], name: str = "qa.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_field_mapping_and_shared_documents(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The lighthouse at Varnholm was built in 1871.")
    rows = [{"qid": "q1", "q": "When was the lighthouse built?", "gold": "1871", "doc": "docs/a.txt", "kind": "location"},
            {"qid": "q2", "q": "Where is the lighthouse?", "gold": ["Varnholm", "in Varnholm"], "doc": "docs/a.txt", "kind": "location"}]
    task = tasks.get("jsonl")(path=str(_write(tmp_path, rows)), question_field="q", answers_field="gold",
                              document_path_field="doc", id_field="qid", metadata_fields=["kind"])
    s1, s2 = list(task.samples())
    assert (s1.id, s1.references, s1.metadata) == ("q1", ("1871",), {"kind": "location"})
    assert s2.references == ("Varnholm", "in Varnholm")
    assert s1.documents[0] is s2.documents[0] and "1871" in s1.documents[0].load_text()
    lc = task.messages(s1, ContextBlock(mode="long_context", text=s1.documents[0].load_text()))[0].content
    assert "Document:\nThe lighthouse" in lc and lc.endswith("Question: When was the lighthouse built?\nAnswer:")
    assert task.default_scorer == "synthetic_exact"
    scorers.get(task.default_scorer)  # the default scorer exists


def test_inline_document_text(tmp_path: Path) -> None:
    rows = [{"question": "Colour?", "answers": "blue", "context": "The sky is blue."}]
    task = tasks.get("jsonl")(path=str(_write(tmp_path, rows)), document_field="context")
    (s,) = list(task.samples())
    assert s.documents[0].text == "The sky is blue." and s.id == "qa-1"


@pytest.mark.parametrize("line, match", [
    ("{broken", r"qa\.jsonl:2: malformed JSON"),
    ('{"answers": "x"}', r"qa\.jsonl:2: missing or empty field 'question'"),
    ('{"question": "q?"}', r"qa\.jsonl:2: missing field 'answers'"),
    ('{"question": "q?", "answers": "x", "context": 3}', r"qa\.jsonl:2: field 'context' must be a string"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    p = _write(tmp_path, [{"question": "ok?", "answers": "yes", "context": "yes"}])
    with p.open("a") as f:
        f.write(line + "\n")
    with pytest.raises(DataError, match=match):
        list(tasks.get("jsonl")(path=str(p), document_field="context").samples())


def test_missing_document_file_is_named(tmp_path: Path) -> None:
    p = _write(tmp_path, [{"question": "q?", "answers": "a", "doc": "nope.txt"}])
    with pytest.raises(DataError, match=r"qa\.jsonl:1: document file not found"):
        list(tasks.get("jsonl")(path=str(p), document_path_field="doc").samples())


def test_bad_params_are_clear() -> None:
    with pytest.raises(ValueError, match="path"):
        tasks.get("jsonl")()
    with pytest.raises(TypeError):
        tasks.get("jsonl")(path="x.jsonl", questions="q")


def test_template_preset_is_valid(tmp_path: Path) -> None:
    preset = load_preset("tasks", "jsonl")
    assert preset is not None and preset["task"] == "jsonl"
    params = dict(preset["params"])
    rows = [{"id": "1", "question": "q?", "answers": ["a"], "document": "a text"}]
    params["path"] = str(_write(tmp_path, rows))
    (tmp_path / "a.txt").write_text("a text")
    rows[0]["document"] = "a.txt"
    params["path"] = str(_write(tmp_path, rows))
    (s,) = list(tasks.get("jsonl")(**params).samples())
    assert s.id == "1"
