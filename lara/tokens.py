"""Token counting and the one truncation policy used everywhere.

Truncation applies to the *context only*, after reserving the generation budget and the tokens of
the rest of the prompt, and is always reported (LongBench/HELMET style middle truncation by
default). Tokenizers: ``cl100k`` and ``o200k`` (tiktoken's encodings, offline via the
``bpe-openai`` package, see :mod:`lara.tokenizers_cl100k`), ``hf:<path>`` (a local Hugging Face tokenizer), and ``words``
(a dependency-free approximation for tests and quick estimates).
"""

from __future__ import annotations

import functools
import re
from typing import Protocol, Sequence

from lara.errors import DataError
from lara.types import TruncationReport

POLICIES = ("middle", "left", "right", "skip", "error")


class Tokenizer(Protocol):
    name: str

    def encode(self, text: str) -> Sequence[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def count(self, text: str) -> int: ...


class ContextTooLong(DataError):
    """Raised by the ``error`` policy."""


class SkipSample(Exception):
    """Raised by the ``skip`` policy: the sample is excluded from denominators and counted."""

    def __init__(self, report: TruncationReport) -> None:
        super().__init__(f"context of {report.original_tokens} tokens exceeds {report.kept_tokens}")
        self.report = report


class WordTokenizer:
    """Whitespace-attached word pieces: dependency-free, reversible, roughly 1.3 BPE tokens each."""

    name = "words"
    _re = re.compile(r"\s*\S+|\s+$")

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._inv: list[str] = []

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self._re.findall(text):
            i = self._vocab.get(piece)
            if i is None:
                i = self._vocab[piece] = len(self._inv)
                self._inv.append(piece)
            ids.append(i)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._inv[i] for i in ids)

    def count(self, text: str) -> int:
        return len(self._re.findall(text))


class HFTokenizer:
    """Wraps a ``transformers`` tokenizer (the evaluated model's own, when known)."""

    def __init__(self, tok: object, name: str) -> None:
        self._tok = tok
        self.name = name

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids))  # type: ignore[attr-defined]

    def count(self, text: str) -> int:
        return len(self.encode(text))


@functools.lru_cache(maxsize=8)
def get_tokenizer(name: str = "cl100k") -> Tokenizer:
    if name == "words":
        return WordTokenizer()
    if name in ("cl100k", "cl100k_base"):
        from lara.tokenizers_cl100k import cl100k

        return cl100k()
    if name in ("o200k", "o200k_base"):
        from lara.tokenizers_cl100k import o200k

        return o200k()
    if name.startswith("hf:"):
        from transformers import AutoTokenizer

        return HFTokenizer(AutoTokenizer.from_pretrained(name[3:]), name)
    raise ValueError(f"unknown tokenizer {name!r}; valid: cl100k, o200k, words, hf:<path>")


def truncate_tokens(
    ids: Sequence[int], max_tokens: int, policy: str = "middle"
) -> tuple[list[int], TruncationReport]:
    """Cut a token sequence to ``max_tokens`` by ``policy``; ``middle`` keeps head and tail halves."""
    if policy not in POLICIES:
        raise ValueError(f"unknown truncation policy {policy!r}; valid: {', '.join(POLICIES)}")
    n = len(ids)
    max_tokens = max(0, max_tokens)
    if n <= max_tokens:
        return list(ids), TruncationReport(policy, n, n, 0)
    report = TruncationReport(policy, n, max_tokens, n - max_tokens)
    if policy == "skip":
        raise SkipSample(report)
    if policy == "error":
        raise ContextTooLong(f"context of {n} tokens exceeds the {max_tokens} available")
    if policy == "right":  # keep the beginning
        return list(ids[:max_tokens]), report
    if policy == "left":  # keep the end
        return list(ids[n - max_tokens :]), report
    head = max_tokens // 2
    tail = max_tokens - head
    return list(ids[:head]) + list(ids[n - tail :]), report


def truncate_text(
    tokenizer: Tokenizer, text: str, max_tokens: int, policy: str = "middle"
) -> tuple[str, TruncationReport]:
    ids = tokenizer.encode(text)
    if len(ids) <= max_tokens:
        return text, TruncationReport(policy, len(ids), len(ids), 0)
    kept, report = truncate_tokens(ids, max_tokens, policy)
    if policy == "middle":
        head = max_tokens // 2
        return tokenizer.decode(kept[:head]) + tokenizer.decode(kept[head:]), report
    return tokenizer.decode(kept), report
