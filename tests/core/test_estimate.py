"""The dry run's counting and planning pieces: head-cached counts equal plain counts (cl100k and
o200k), the placeholder key never outlives the dry run, the read-only resume scan."""

from __future__ import annotations

import json
import os

import pytest

from lara.estimate import HeadCachingCounter, assumed_latency, placeholder_key, written_ids
from lara.tasks.synthetic import SyntheticTask
from lara.tokens import get_tokenizer

TEMPLATE = "Read the book below and answer a question.\n\n{context}\n\nQuestion: {question}\n\nBe concise."


@pytest.mark.parametrize("name", ["cl100k", "o200k"])
def test_head_cached_counts_equal_plain_counts(name: str) -> None:
    tok = get_tokenizer(name)
    counter = HeadCachingCounter(tok)
    samples = list(SyntheticTask(lengths=[6000], n_docs=2).samples())
    texts = [TEMPLATE.format(context=s.documents[0].text + "\nÜber café — 3,5 %\tend", question=s.question)
             for s in samples]
    for t in texts + texts:  # second pass served from the cache
        assert counter.count(t) == tok.count(t)
    assert len(counter._heads) == 2  # one cached head per document


def test_head_cached_counts_on_real_lara_documents(shared_data) -> None:
    books = sorted((shared_data / "lara" / "datasets" / "32k" / "book").iterdir())[:2]
    papers = sorted((shared_data / "lara" / "datasets" / "128k" / "paper").iterdir())[:1]
    for name in ("cl100k", "o200k"):
        tok = get_tokenizer(name)
        counter = HeadCachingCounter(tok)
        for path in books + papers:
            text = TEMPLATE.format(context=path.read_text(encoding="utf-8"), question="Who is Gordon?")
            assert counter.count(text) == tok.count(text), (name, path.name)


def test_placeholder_key_is_removed_after_the_block(monkeypatch) -> None:
    class Spec:
        model_params = {"api_key_env": "LARA_TEST_KEY_VAR"}

    monkeypatch.delenv("LARA_TEST_KEY_VAR", raising=False)
    with placeholder_key(Spec()):
        assert os.environ["LARA_TEST_KEY_VAR"].startswith("sk-lara-dry-run")
    assert "LARA_TEST_KEY_VAR" not in os.environ
    monkeypatch.setenv("LARA_TEST_KEY_VAR", "real")
    with placeholder_key(Spec()):
        assert os.environ["LARA_TEST_KEY_VAR"] == "real"
    assert os.environ["LARA_TEST_KEY_VAR"] == "real"


def test_written_ids_is_read_only_and_follows_resume_rules(tmp_path) -> None:
    f = tmp_path / "samples.jsonl"
    lines = [{"sample_id": "a"}, {"sample_id": "b", "error": {"type": "X"}}, {"sample_id": "c", "skipped": "budget"}]
    raw = "\n".join(json.dumps(x) for x in lines) + "\n{\"sample_id\": \"partial"
    f.write_text(raw, encoding="utf-8")
    assert written_ids(tmp_path, retry_errors=False) == {"a", "b"}  # budget skips run again
    assert written_ids(tmp_path, retry_errors=True) == {"a"}
    assert f.read_text(encoding="utf-8") == raw  # a dry run repairs nothing


def test_assumed_latency_grows_with_tokens() -> None:
    assert assumed_latency(100_000, 50) > assumed_latency(1_000, 50) > assumed_latency(1_000, 0) > 0
