"""LaRA through `datasets`: the one-row-per-question table written from the upstream folder, saved
with save_to_disk or as parquet, with or without the document text, gives the folder loader's
samples (ids, questions, references, metadata, documents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lara.errors import DataError
from lara.tasks.lara import LaraTask
from lara.tasks.lara_hf import rows_from_folder
from lara.testing.fixtures import make_fixture

datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")


def key(s) -> tuple:
    return (s.id, s.question, s.references, dict(s.metadata), s.documents[0].id, s.documents[0].load_text())


def test_table_sources_give_the_folder_samples(tmp_path: Path) -> None:
    root = make_fixture(tmp_path / "lara")
    with_docs = datasets.Dataset.from_list(rows_from_folder(root, with_documents=True))
    with_docs.save_to_disk(str(tmp_path / "saved"))
    with_docs.to_parquet(str(tmp_path / "lara.parquet"))
    datasets.Dataset.from_list(rows_from_folder(root)).save_to_disk(str(tmp_path / "no-docs"))
    expected = [key(s) for s in LaraTask(data_dir=str(root), lengths=["32k"]).samples()]
    assert len(expected) == 6
    for source, data_dir in ((tmp_path / "saved", None), (tmp_path / "lara.parquet", None),
                             (tmp_path / "no-docs", str(root))):
        got = [key(s) for s in LaraTask(source=str(source), data_dir=data_dir, lengths=["32k"]).samples()]
        assert got == expected, source
    only = LaraTask(source=str(tmp_path / "saved"), lengths=["32k"], categories=["location"]).samples()
    assert [s.metadata["category"] for s in only] == ["location"] * 3


def test_missing_columns_and_contexts_are_data_errors(tmp_path: Path) -> None:
    root = make_fixture(tmp_path / "lara")
    rows = rows_from_folder(root)
    datasets.Dataset.from_list([{k: v for k, v in r.items() if k != "question"} for r in rows]).save_to_disk(
        str(tmp_path / "broken"))
    with pytest.raises(DataError, match="missing field 'question'"):
        LaraTask(source=str(tmp_path / "broken"), lengths=["32k"]).samples()
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "no-docs"))
    with pytest.raises(DataError, match="no 'document' column and no context file"):
        LaraTask(source=str(tmp_path / "no-docs"), data_dir=str(tmp_path / "elsewhere-lara"), lengths=["32k"]).samples()


@pytest.mark.realdata
def test_real_lara_table_equals_the_folder_loader(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "lara"
    datasets.Dataset.from_list(rows_from_folder(root)).save_to_disk(str(tmp_path / "lara"))
    a = LaraTask(data_dir=str(root)).samples()
    b = LaraTask(source=str(tmp_path / "lara"), data_dir=str(root)).samples()
    assert len(a) == 2326
    assert [(s.id, s.question, s.references, dict(s.metadata), s.documents[0].id) for s in a] == \
        [(s.id, s.question, s.references, dict(s.metadata), s.documents[0].id) for s in b]
