"""The small protocols every pluggable part implements.

Kept in one place so a newcomer sees the whole contract at once. Implementations register themselves
with the decorator registries in :mod:`lara.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from lara.types import (
    Chunk,
    Document,
    GenerateConfig,
    Generation,
    Message,
    ModelInfo,
    RunOutput,
    Sample,
    Score,
    ScoredChunk,
)


@runtime_checkable
class Task(Protocol):
    """Yields samples and owns the prompt family, so that LC and RAG differ only in the context block."""

    name: str
    version: str
    default_scorer: str

    def samples(self) -> Iterable[Sample]: ...

    def messages(self, sample: Sample, context: "ContextBlock") -> list[Message]: ...


@dataclass(frozen=True)
class ContextBlock:
    """What a runner puts in front of the question.

    mode ``long_context``: ``text`` is the (possibly truncated) document text.
    mode ``rag``: ``chunks`` are the retrieved chunks in the order they are shown.
    mode ``none``: no context (memorisation control).
    ``demonstrations`` are (question, answer) pairs for many-shot / retrieved-demo tasks.
    """

    mode: str
    text: str | None = None
    chunks: tuple[Chunk, ...] = ()
    demonstrations: tuple[tuple[str, str], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A chat model. Implementations hold one concurrency limit per endpoint."""

    info: ModelInfo

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class Scorer(Protocol):
    name: str

    async def score(self, sample: Sample, output: RunOutput) -> Score: ...


@runtime_checkable
class Chunker(Protocol):
    def chunk(self, doc: Document) -> list[Chunk]: ...


@runtime_checkable
class Retriever(Protocol):
    """An index over chunks. ``index`` may be called once per document set; ``search`` many times."""

    name: str

    def index(self, chunks: Sequence[Chunk]) -> None: ...

    def search(self, query: str, k: int) -> list[ScoredChunk]: ...


@dataclass
class RunContext:
    """Everything a runner needs for one sample, built once per run by the engine."""

    task: Task
    backend: Backend
    generate_config: GenerateConfig
    params: Mapping[str, Any]
    tokenizer: Any  # lara.tokens.Tokenizer
    log_prompts: bool = False
    services: dict[str, Any] = field(default_factory=dict)  # shared per-run objects (retriever caches...)


@runtime_checkable
class Runner(Protocol):
    name: str

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput: ...
