"""Frozen records passed between tasks, runners, backends, scorers and the results writer.

Everything here is plain data (dataclasses, tuples, str/int/float) so that records are hashable,
cheap to copy between asyncio tasks and trivially serialisable with ``to_dict``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from lara.errors import MissingDataError

ScoreStatus = Literal["ok", "unparsed", "error", "skipped"]
ContextMode = Literal["long_context", "rag", "none"]


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    """dataclasses.fields() is slow and records are serialised on the hot path: memoise per class."""
    return tuple(f.name for f in dataclasses.fields(cls))


_SCALARS = (str, int, float, type(None))


def to_dict(obj: Any) -> Any:
    """Recursively convert records (dataclasses, tuples, mappings) to JSON-ready values."""
    if isinstance(obj, _SCALARS):  # most leaves: checked first, this is on the per-sample path
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: to_dict(getattr(obj, name)) for name in _field_names(type(obj))}
    if isinstance(obj, abc.Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


@dataclass(frozen=True)
class Document:
    """A long document. ``text`` may be None when the text lives in ``path`` and is read on demand."""

    id: str
    text: str | None = None
    path: str | None = None
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def load_text(self) -> str:
        if self.text is not None:
            return self.text
        if self.path is None:
            raise ValueError(f"document {self.id!r} has neither text nor path")
        try:
            return Path(self.path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise MissingDataError(f"document {self.id!r}: file not found: {self.path}") from exc


@dataclass(frozen=True)
class Chunk:
    """A piece of a document; ``id`` is ``doc_id:index`` and [start, end) are character offsets."""

    id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float
    rank: int


@dataclass(frozen=True)
class Sample:
    """One question with its references and the documents that form its context."""

    id: str
    question: str
    references: tuple[str, ...] = ()
    documents: tuple[Document, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class GenerateConfig:
    """Generation parameters. Everything here changes outputs and is part of the cache key,
    except ``timeout_s`` which is excluded explicitly."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    guided_regex: str | None = None
    timeout_s: float = 120.0

    def semantic(self) -> dict[str, Any]:
        d = to_dict(self)
        d.pop("timeout_s")
        return d


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "stop"
    latency_s: float = 0.0
    cached: bool = False
    model: str = ""


@dataclass(frozen=True)
class ModelInfo:
    id: str
    backend: str
    context_window: int | None = None
    endpoint: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrievedRef:
    chunk_id: str
    score: float
    rank: int


@dataclass(frozen=True)
class Step:
    """One model call (or retrieval) inside a runner."""

    kind: str
    query: str | None = None
    retrieved: tuple[RetrievedRef, ...] = ()
    prompt_hash: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    output: str | None = None
    prompt: tuple[Message, ...] | None = None  # only kept with --log-prompts


@dataclass(frozen=True)
class TruncationReport:
    policy: str
    original_tokens: int
    kept_tokens: int
    dropped_tokens: int

    @property
    def truncated(self) -> bool:
        return self.dropped_tokens > 0


@dataclass(frozen=True)
class RunOutput:
    answer: str | None
    steps: tuple[Step, ...] = ()
    effective_context_tokens: int = 0
    truncation: TruncationReport | None = None
    skipped: str | None = None  # reason when the sample is excluded (e.g. truncation policy "skip")
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    name: str
    value: float | None
    status: ScoreStatus = "ok"
    explanation: str = ""
    scorer: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    message: str
    retries: int = 0
    kind: str | None = None
