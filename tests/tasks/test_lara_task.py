"""LaRA task: loading quirks, filters, ids, metadata, byte-exact paper prompts, truncation, data fetch."""

from __future__ import annotations

import collections
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.tasks.lara import LaraTask, lc_truncation_report, resolve_data_dir, split_papers
from lara.tokens import WordTokenizer
from lara.types import Chunk

# Expected strings typed from shared/docs/BENCHMARKS.md §1 (not read from lara/prompts/lara.yaml).
LC = {
    "paper": "Read the papers below and answer a question \n\n{context}\n\nQuestion: {question}\n\n Be concise.",
    "financial": "Read the financial statement below and answer a question \n\n{context}\n\nQuestion: {question}\n\n Be concise.",
    "book": "Read the book below and answer a question.\n\n{context}\n\nQuestion: {question}\n\nBe concise.",
}
RAG_FIRST = {
    "paper": "Here are some chunks retrieved from some papers. Read these chunks to answer a question.",
    "financial": "Here are some chunks retrieved from a financial statement. Read these chunks to answer a question. ",
    "book": "Here are some chunks retrieved from a book. Read these chunks to answer a question.",
}
LC_FIRST = {
    "paper": "Read the papers below and answer a question ",
    "financial": "Read the financial statement below and answer a question ",
    "book": "Read the book below and answer a question.",
}
SYSTEM = "You are a helpful assistant"

from lara.testing.fixtures import BOOK, FIN, PAPERS, make_fixture  # noqa: E402,F401


@pytest.fixture()
def fixture_dir(tmp_path: Path) -> Path:
    return make_fixture(tmp_path / "lara")


def test_registered_and_loads_fixture(fixture_dir: Path) -> None:
    task = tasks.get("lara")(data_dir=str(fixture_dir), lengths=["32k"])
    samples = task.samples()
    assert len(samples) == 6
    ids = [s.id for s in samples]
    assert len(set(ids)) == len(ids)
    by_id = {s.id: s for s in samples}
    loc = by_id["32k_book_location_1"]
    assert loc.metadata["category"] == "location" and loc.metadata["context_type"] == "book"
    assert loc.metadata["length"] == "32k" and loc.metadata["context_order"] == 1
    assert loc.metadata["line"] == 2 and loc.metadata["type_field"] == "novelette_fake"
    assert "context" not in loc.metadata and loc.references == ("Hartman.",)
    assert loc.documents[0].text is None and loc.documents[0].load_text() == BOOK
    comp = by_id["32k_book_comp_0"]
    assert comp.metadata["category"] == "comparison" and comp.metadata["comp_parts"] == [0, 2]
    assert by_id["32k_book_hallu_0"].metadata["context_order"] == "full"
    assert by_id["32k_book_hallu_0"].metadata["category"] == "hallucination"
    # one Document object per file, shared by its questions
    assert loc.documents[0] is comp.documents[0]


def test_filters(fixture_dir: Path) -> None:
    t = LaraTask(data_dir=str(fixture_dir), lengths=["32k"], context_types=["book"], categories=["comparison", "location"])
    assert sorted(s.id for s in t.samples()) == ["32k_book_comp_0", "32k_book_location_0", "32k_book_location_1"]
    with pytest.raises(ValueError, match="unknown categories"):
        LaraTask(data_dir=str(fixture_dir), categories=["comp"])
    with pytest.raises(TypeError):
        LaraTask(data_dir=str(fixture_dir), bogus=1)  # type: ignore[call-arg]


def test_env_data_dir_and_missing(fixture_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LARA_DATA_DIR", str(fixture_dir))
    assert resolve_data_dir(None) == fixture_dir / "datasets"
    assert len(LaraTask(lengths=["32k"]).samples()) == 6
    monkeypatch.delenv("LARA_DATA_DIR")
    with pytest.raises(FileNotFoundError, match="lara data fetch lara"):
        resolve_data_dir(None)
    # a missing query file names its path
    (fixture_dir / "datasets" / "query" / "32k_paper_hallu.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="32k_paper_hallu.jsonl"):
        LaraTask(data_dir=str(fixture_dir), lengths=["32k"]).samples()


def test_corrupt_line_names_path_and_line(fixture_dir: Path) -> None:
    p = fixture_dir / "datasets" / "query" / "32k_book_comp.jsonl"
    p.write_text(p.read_text(encoding="utf-8") + '\n{"file": "Carol.txt", "question": ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"32k_book_comp\.jsonl:2: malformed JSON"):
        LaraTask(data_dir=str(fixture_dir), lengths=["32k"]).samples()


def test_missing_context_file_names_it(fixture_dir: Path) -> None:
    (fixture_dir / "datasets" / "32k" / "financial" / "ACME.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"32k_financial_location\.jsonl:1: context file missing: .*ACME\.txt"):
        LaraTask(data_dir=str(fixture_dir), lengths=["32k"]).samples()


def test_prompts_byte_exact(fixture_dir: Path) -> None:
    task = LaraTask(data_dir=str(fixture_dir), lengths=["32k"])
    docs = {"book": BOOK, "paper": PAPERS, "financial": FIN}
    for s in task.samples():
        ctype = s.metadata["context_type"]
        msgs = task.messages(s, ContextBlock(mode="long_context"))
        assert msgs[0].role == "system" and msgs[0].content == SYSTEM
        expected = LC[ctype].replace("{context}", docs[ctype]).replace("{question}", s.question)
        assert msgs[1].content == expected
        chunks = (Chunk("d:0", "d", 0, "first piece", 0, 11), Chunk("d:3", "d", 3, "second", 20, 26))
        rag = task.messages(s, ContextBlock(mode="rag", chunks=chunks))[1].content
        body = "chunk 0: first piece.\n\nchunk 1: second.\n\n"
        want = LC[ctype].replace(LC_FIRST[ctype], RAG_FIRST[ctype], 1).replace("{context}", body).replace("{question}", s.question)
        assert rag == want
        none = task.messages(s, ContextBlock(mode="none"))[1].content
        assert s.question in none and docs[ctype] not in none and none.startswith("Answer a question")


def test_split_papers() -> None:
    assert split_papers(PAPERS) == [(0, "# Paper zero\nAlpha."), (1, "# Paper one\nBeta.")]


def test_fit_context_cuts_middle_of_prompt(fixture_dir: Path) -> None:
    task = LaraTask(data_dir=str(fixture_dir), lengths=["32k"], context_types=["book"], categories=["location"])
    s = task.samples()[0]
    tok = WordTokenizer()
    full = task.messages(s, ContextBlock(mode="long_context"))[1].content
    n = tok.count(full)
    block, rep = task.fit_context(s, n, tok)
    assert not rep.truncated and block.text == BOOK
    block, rep = task.fit_context(s, 24, tok)
    assert rep.original_tokens == n and rep.kept_tokens == 24 and rep.dropped_tokens == n - 24
    ids = tok.encode(full)
    assert task.messages(s, block)[1].content == tok.decode(ids[:12] + ids[-12:])
    with pytest.raises(ValueError, match="too small"):
        task.fit_context(s, 6, tok)


def _make_archive(tmp_path: Path, kind: str) -> Path:
    files = {
        "LaRA-c1715/datasets/query/32k_book_comp.jsonl": '{"file": "a.txt", "question": "q", "answer": "a", "comp_parts": [0, 1]}',
        "LaRA-c1715/datasets/32k/book/a.txt": "text",
        "LaRA-c1715/evaluation/prediction/m/full_preds_m_32k_book_comp.jsonl": "{}",
        "LaRA-c1715/README.md": "ignored",
    }
    if kind == "zip":
        path = tmp_path / "lara.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, text in files.items():
                zf.writestr(name, text)
        return path
    src = tmp_path / "src"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    path = tmp_path / "lara.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        tf.add(src / "LaRA-c1715", arcname="LaRA-c1715")
    return path


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_unpack_archive(tmp_path: Path, kind: str) -> None:
    from lara.commands.data import fetch_lara

    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    out, counts = fetch_lara(dest, archive=_make_archive(tmp_path, kind))
    assert counts == {"datasets": 2, "predictions": 1}
    assert (out / "datasets" / "32k" / "book" / "a.txt").read_text() == "text"
    assert (out / "predictions" / "m" / "full_preds_m_32k_book_comp.jsonl").exists()
    assert not (out / "stale.txt").exists() and not (out / "README.md").exists()
    assert resolve_data_dir(out) == out / "datasets"


def test_unpack_rejects_unsafe_and_non_lara(tmp_path: Path) -> None:
    from lara.commands.data import DataFetchError, unpack_lara

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("LaRA-x/datasets/../../evil.txt", "x")
    with pytest.raises(DataFetchError, match="unsafe"):
        unpack_lara(bad, tmp_path / "o1")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("repo-x/README.md", "x")
    with pytest.raises(DataFetchError, match="datasets/query"):
        unpack_lara(other, tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_fetch_offline_is_a_clear_error(tmp_path: Path) -> None:
    from lara.commands.data import DataFetchError, fetch_lara

    with pytest.raises(DataFetchError, match="LARA_DATA_DIR"):
        fetch_lara(tmp_path / "o", url="http://127.0.0.1:9/lara.tar.gz")


# ---- real data --------------------------------------------------------------------------------
PUBLISHED = {  # BENCHMARKS.md §1: location/reasoning/comp/hallu
    ("32k", "book"): (75, 59, 45, 59), ("32k", "financial"): (148, 118, 87, 118), ("32k", "paper"): (53, 53, 19, 53),
    ("128k", "book"): (250, 168, 73, 167), ("128k", "financial"): (108, 77, 33, 77), ("128k", "paper"): (129, 131, 92, 134),
}


def test_real_data_counts(shared_data: Path) -> None:
    samples = LaraTask(data_dir=str(shared_data / "lara")).samples()
    assert len(samples) == 2326
    assert len({s.id for s in samples}) == 2326
    c = collections.Counter((s.metadata["length"], s.metadata["context_type"], s.metadata["category"]) for s in samples)
    for (length, ctype), counts in PUBLISHED.items():
        got = tuple(c[(length, ctype, cat)] for cat in ("location", "reasoning", "comparison", "hallucination"))
        assert got == counts, (length, ctype)
    assert sum(1 for s in samples if s.metadata["length"] == "32k") == 887
    assert len({s.documents[0].id for s in samples}) == 131


def test_real_data_truncation_count(shared_data: Path) -> None:
    report = lc_truncation_report(shared_data / "lara")
    assert report["truncated_questions"] == 81
    assert len(report["truncated_documents"]) == 3
    assert all(d.startswith("lara/128k/book/") for d in report["truncated_documents"])


def test_real_data_fit_context_matches_paper(shared_data: Path) -> None:
    from lara.tokens import get_tokenizer

    tok = get_tokenizer("cl100k")
    task = LaraTask(data_dir=str(shared_data / "lara"), lengths=["128k"], context_types=["book"], categories=["comparison"])
    s = next(x for x in task.samples() if x.metadata["file"] == "Pere Goriot.txt")
    block, rep = task.fit_context(s, 127_800, tok)
    assert rep.kept_tokens == 127_000 and rep.truncated
    ids = tok.encode(task.messages(s, ContextBlock(mode="long_context"))[1].content)
    assert task.messages(s, block)[1].content == tok.decode(ids[:63_500] + ids[-63_500:])
