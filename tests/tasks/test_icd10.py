"""ICD-10 tumour documentation task: loader, catalogue LC/RAG hooks and the §6 parsing/scoring rules.

Snippets are synthetic German text written here (no patient data exists in the repository).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lara.protocols import ContextBlock
from lara.registry import scorers, tasks
from lara.scoring.icd10 import extract_codes, normalize_date
from lara.tasks.demos import DataError
from lara.tasks.icd10 import DEFAULT_CATALOGUE, load_catalogue
from lara.tokens import get_tokenizer
from lara.types import RunOutput, Sample

SNIPPETS = [
    {"text": "Z.n. radikaler Prostatektomie 03/2015 bei Prostatakarzinom, aktuell PSA-Anstieg.",
     "label": [{"diagnosis": "C61", "date": "2015-03"}]},
    {"text": "Urothelkarzinom der Harnblase, ED 12.05.2019; ossäre Metastasen seit 2021.",
     "label": [{"diagnosis": "C67", "date": "2019-05-12"}, {"diagnosis": "C79", "date": "2021"}]},
    {"text": "Kontrolle bei Nierenzyste links, kein Anhalt für Malignität.", "label": []},
]
CATALOGUE = "# test catalogue\ncode\ttitle\nC61\tBösartige Neubildung der Prostata\nC64\tBösartige Neubildung der Niere\nC67\tBösartige Neubildung der Harnblase\nC79\tSekundäre bösartige Neubildung\n"


def _files(tmp_path: Path) -> tuple[str, str]:
    data = tmp_path / "uro.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in SNIPPETS), encoding="utf-8")
    cat = tmp_path / "cat.tsv"
    cat.write_text(CATALOGUE, encoding="utf-8")
    return str(data), str(cat)


def _score(sample: Sample, answer: str):
    return asyncio.run(scorers.get("icd10")().score(sample, RunOutput(answer=answer)))


@pytest.mark.parametrize("answer, codes", [
    ("C61.9", ["C61"]),
    ("c61", []),
    ("C61", ["C61"]),
    ("Prostatakarzinom (C61), Metastasen C79.5", ["C61"]),  # first match per line only
    ("C61\nC79.5", ["C61", "C79"]),
    ('["C67.9", "C61"]', ["C67", "C61"]),
    ("C611", []),
    ("D09.0", ["D09"]),
])
def test_code_parsing_table(answer: str, codes: list[str]) -> None:
    assert extract_codes(answer) == codes


def test_coding_scoring_rules(tmp_path: Path) -> None:
    data, cat = _files(tmp_path)
    task = tasks.get("icd10_uro")(data_path=data, catalogue=cat)
    samples = list(task.samples())
    assert [s.references for s in samples] == [("C61",), ("C67",)]  # C79 ignored; no-code snippet skipped
    s2 = samples[1]
    assert _score(s2, "C67").value == 1.0
    assert _score(s2, "C67.9\nC79.5").value == 1.0  # C77-C79 ignored in the answer too
    extra = _score(s2, "C67\nC61")
    assert extra.value == 0.0 and extra.details["extra"] == ["C61"]
    assert _score(s2, "c67").value == 0.0
    assert _score(samples[0], "C61.9").value == 1.0


def test_diagnosis_step(tmp_path: Path) -> None:
    data, cat = _files(tmp_path)
    samples = list(tasks.get("icd10_uro")(data_path=data, catalogue=cat, step="diagnosis").samples())
    assert len(samples) == 3
    assert _score(samples[0], '["Prostatakarzinom"]').value == 1.0
    assert _score(samples[2], "[]").value == 1.0
    assert _score(samples[2], '["Nierenzellkarzinom"]').value == 0.0
    unparsed = _score(samples[0], "Prostatakarzinom")
    assert unparsed.status == "unparsed" and unparsed.value is None


def test_date_step_and_normalisation(tmp_path: Path) -> None:
    assert normalize_date("12.05.2019") == "2019-05-12"
    assert normalize_date("03/2015") == "2015-03"
    assert normalize_date("2015-3") == "2015-03"
    assert normalize_date("0") == "0"
    data, cat = _files(tmp_path)
    samples = list(tasks.get("icd10_uro")(data_path=data, catalogue=cat, step="date").samples())
    assert [(s.metadata["code"], s.references[0]) for s in samples] == [("C61", "2015-03"), ("C67", "2019-05-12"), ("C79", "2021")]
    assert _score(samples[1], "Erstdiagnose am 12.05.2019").value == 1.0
    assert _score(samples[0], "2015").value == 0.0
    assert "C67" in tasks.get("icd10_uro")(data_path=data, catalogue=cat, step="date").messages(samples[1], ContextBlock(mode="none"))[0].content


def test_catalogue_lc_and_rag(tmp_path: Path) -> None:
    data, cat = _files(tmp_path)
    task = tasks.get("icd10_uro")(data_path=data, catalogue=cat)
    sample = next(iter(task.samples()))
    chunks = task.chunk(sample.documents[0])
    assert [c.text.split(":")[0] for c in chunks] == ["C61", "C64", "C67", "C79"]
    lc, rep = task.fit_context(sample, None, get_tokenizer("words"))
    assert len(lc.demonstrations) == 4 and not rep.truncated
    lc_text = task.messages(sample, lc)[0].content
    rag_text = task.messages(sample, ContextBlock(mode="rag", chunks=(chunks[0],)))[0].content
    assert "C64: Bösartige Neubildung der Niere" in lc_text and "C64" not in rag_text
    assert lc_text.endswith(sample.question) and rag_text.endswith(sample.question)


def test_bad_input_names_the_place(tmp_path: Path) -> None:
    data, cat = _files(tmp_path)
    Path(data).write_text(Path(data).read_text(encoding="utf-8") + '{"text": "x", "label": "oops"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"uro\.jsonl:4"):
        list(tasks.get("icd10_uro")(data_path=data, catalogue=cat).samples())
    bad_cat = tmp_path / "bad.tsv"
    bad_cat.write_text("C61 no tab here\n")
    with pytest.raises(DataError, match=r"bad\.tsv:1"):
        load_catalogue(bad_cat)


def test_parquet_loading(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "uro.parquet"
    pd.DataFrame(SNIPPETS).to_parquet(path)
    _, cat = _files(tmp_path)
    samples = list(tasks.get("icd10_uro")(data_path=str(path), catalogue=cat).samples())
    assert [s.references for s in samples] == [("C61",), ("C67",)]


def test_bundled_catalogue_covers_chapter_ii() -> None:
    entries = dict(load_catalogue(DEFAULT_CATALOGUE))
    assert "C61" in entries and "C67" in entries and "D48" in entries
    assert all(c[0] in "CD" and len(c) == 3 for c in entries)
    assert not any(c.startswith("D") and int(c[1:]) > 48 for c in entries)
