"""Offline cl100k: same ids as tiktoken's cl100k_base, exact split counting, tiktoken cache seeding."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lara.tokenizers_cl100k import CL100K_URL, cl100k, seed_tiktoken_cache, stable_split
from lara.tokens import get_tokenizer, truncate_text

SAMPLES = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "Net loss was $1,093,095 for the three months ended March 31, 2024.\n\n\nItem 2.",
    "héllo 日本語 🎉 — “quotes” and ’apostrophes’ it's we'll",
    "<|endoftext|> is plain text here <|fim_prefix|>",
    "   leading spaces\r\n\ttabs\n\n  trailing   ",
    "x" * 3000 + " 12345678901234567890",
]


@pytest.fixture(scope="module")
def tiktoken_enc(tmp_path_factory: pytest.TempPathFactory):
    tiktoken = pytest.importorskip("tiktoken")
    seed_tiktoken_cache(tmp_path_factory.mktemp("tiktoken"))
    return tiktoken.get_encoding("cl100k_base")


def test_protocol_and_registry() -> None:
    tok = get_tokenizer("cl100k")
    assert tok is cl100k() and tok.name == "cl100k"
    ids = tok.encode("hello world")
    assert ids == [15339, 1917] and tok.count("hello world") == 2 and tok.decode(ids) == "hello world"


def test_seeded_cache_file(tmp_path: Path) -> None:
    path = seed_tiktoken_cache(tmp_path)
    assert path.name == hashlib.sha1(CL100K_URL.encode()).hexdigest()
    assert path.stat().st_size > 1_000_000


def test_same_ids_as_tiktoken(tiktoken_enc) -> None:
    tok = cl100k()
    for text in SAMPLES:
        ids = tok.encode(text)
        assert ids == tiktoken_enc.encode_ordinary(text)
        assert tok.count(text) == len(ids)
        assert tok.decode(ids) == text


def test_decode_partial_utf8_replaces() -> None:
    tok = cl100k()
    ids = tok.encode("日本語🎉")
    assert tok.decode(ids[:-1]).endswith("\ufffd")


def test_middle_truncation_with_cl100k() -> None:
    tok = cl100k()
    text = " ".join(f"word{i}" for i in range(2000))
    cut, rep = truncate_text(tok, text, 100)
    assert rep.kept_tokens == 100 and cut.startswith("word0") and cut.endswith("word1999")


def test_stable_split_is_exact() -> None:
    tok = cl100k()
    base = "".join(f"Line {i}: it's 3.14 — ok?\n\n  Indented {i}\n" for i in range(400))
    for tail in ("\n\nQuestion: Who?\n\nBe concise.", "Question", ".\n\n Be concise."):
        text = base + tail
        s = stable_split(text, len(base))
        assert s is not None and text[s - 1] == "\n" and text[s].isalpha()
        assert tok.count(text[:s]) + tok.count(text[s:]) == tok.count(text)


def test_real_texts_same_ids_and_split(shared_data: Path, tiktoken_enc) -> None:
    tok = cl100k()
    files = sorted((shared_data / "lara" / "datasets" / "32k").glob("*/*"))[::10][:6]
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert tok.encode(text) == tiktoken_enc.encode_ordinary(text)
        prompt = "Read the book below and answer a question.\n\n" + text + "\n\nQuestion: Why?\n\nBe concise."
        s = stable_split(prompt, prompt.rfind("\n\nQuestion: "))
        if s is not None:
            assert tok.count(prompt[:s]) + tok.count(prompt[s:]) == tok.count(prompt)
