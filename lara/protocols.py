"""The small protocols every pluggable part implements.

Kept in one place so a newcomer sees the whole contract at once. Implementations register themselves
with the decorator registries in :mod:`lara.registry`. Optional capabilities (a task that chunks its
own documents, a backend that knows its tokenizer...) are protocols too, checked with
``isinstance`` where they are used, so a type checker sees every hook a part may offer. Plug-ins
(tasks, runners, backends, scorers, retrievers) import only the core: this module, ``types``,
``registry``, ``config``, ``tokens``, ``errors`` and ``vocabulary``; the engine talks to them
through these contracts (the request context below carries what a backend may want to know about
the sample being served).
"""

from __future__ import annotations

import contextvars
import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Literal, Mapping, Protocol, Sequence, TypeGuard, TypeVar, cast, runtime_checkable

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


@dataclass(frozen=True)
class Failure:
    """How a backend classifies an exception raised by one attempt of :meth:`Backend.generate`.

    ``action``: ``fatal`` (retrying cannot help: bad request, auth), ``retryable`` (transient:
    connection, timeout, 5xx; back off and retry), ``rate_limited`` (back off at least
    ``retry_after`` seconds when the server said so), ``failover`` (retry at once: the backend has
    another replica to try). ``kind`` names the cause in error records.
    """

    kind: str
    action: Literal["fatal", "retryable", "rate_limited", "failover"] = "fatal"
    retry_after: float | None = None


@runtime_checkable
class Backend(Protocol):
    """A chat model: one attempt per :meth:`generate` call (retries live in ``RetryingBackend``, the
    response cache in ``CachedBackend``). Implementations hold one concurrency limit per endpoint
    and release their connections in :meth:`aclose`."""

    info: ModelInfo

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation: ...

    def classify(self, exc: BaseException) -> Failure: ...

    def count_tokens(self, text: str) -> int: ...

    async def aclose(self) -> None: ...


class Deferred(BaseException):
    """Raised by a batch backend's :meth:`Backend.generate` for a call it will answer in a later
    round (the request is recorded; the engine sets the sample aside without a record and re-runs it
    once the batch is back). A ``BaseException`` so that ``except Exception`` in runners and in the
    retry loop lets it through, like cancellation."""


@runtime_checkable
class BatchesCalls(Protocol):
    """A backend that answers calls in batches (``openai-batch``; the Ray Data executor's engine):
    :meth:`bind` loads its state from the run folder, ``generate`` raises :class:`Deferred` for
    calls it has no answer for yet, :meth:`complete` submits the recorded ones and waits for their
    answers (False: they went out by hand, e.g. ``lara export-batch``, and the run stops here).
    ``submitted`` counts the requests sent this invocation (the run's model calls)."""

    submitted: int

    def bind(self, run_dir: Any, run_id: str) -> None: ...

    def pending(self) -> int: ...

    async def complete(self) -> bool: ...


@runtime_checkable
class HasTokenizer(Protocol):
    """A backend that knows its model's tokenizer (a ``lara.tokens.Tokenizer``)."""

    @property
    def tokenizer(self) -> Any: ...


@dataclass(frozen=True)
class RequestContext:
    """What the engine knows about the sample a model call serves, for backends that care:
    ``affinity`` groups calls that share a prompt prefix (a multi-replica backend keeps them on one
    replica), ``sample_id`` lets a mock backend answer per sample. Set per sample by the engine in
    a context variable, so the ``generate`` signature and the cache key stay as they are."""

    sample_id: str | None = None
    affinity: str | None = None


REQUEST: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("lara_request", default=RequestContext())


def current_request() -> RequestContext:
    return REQUEST.get()


@runtime_checkable
class Scorer(Protocol):
    name: str

    async def score(self, sample: Sample, output: RunOutput) -> Score: ...


@runtime_checkable
class ReportsUsage(Protocol):
    """A scorer that calls a model (a judge) and reports its own token usage, kept apart from the
    evaluated model's."""

    def usage(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Closeable(Protocol):
    async def aclose(self) -> None: ...


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
    services: dict[Any, Any] = field(default_factory=dict)  # shared per-run objects (retriever caches...)


@runtime_checkable
class Runner(Protocol):
    """Answers one sample. Class attributes describe the runner to the rest of lara, so a new
    runner needs no edit anywhere else:

    - ``strategy``: how it uses context (``lara.vocabulary.STRATEGIES``): stored in every record,
      and what tables (LC vs RAG columns) and routing key on;
    - ``whole_documents``: its prompts start with the whole document, so the engine orders requests
      warm-first for a server's prefix cache;
    - ``cost_params``: the runner parameters that shape its token cost (e.g. ``k``, ``m``, ``n``),
      which sweeps enumerate and budgets price.
    """

    name: str
    strategy: ClassVar[str]
    whole_documents: ClassVar[bool]
    cost_params: ClassVar[tuple[str, ...]]

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput: ...


# -- optional task hooks ------------------------------------------------------------------------


@runtime_checkable
class ChunksDocuments(Protocol):
    """A task with natural retrieval units (one solved train problem, one catalogue code)."""

    def chunk(self, doc: Document) -> list[Chunk]: ...


@runtime_checkable
class FitsContext(Protocol):
    """A task that builds its own long context for a token budget (e.g. as many demonstrations as
    fit, or LaRA's paper cut at 127k); returns the block and its truncation report."""

    def fit_context(self, sample: Sample, max_tokens: int | None, tokenizer: Any) -> tuple[ContextBlock, Any]: ...


@runtime_checkable
class HasRetrievalQuery(Protocol):
    """A task whose retrieval query differs from the question shown to the model."""

    def retrieval_query(self, sample: Sample) -> str: ...


@runtime_checkable
class HasCorpus(Protocol):
    """A task whose RAG context is a shared corpus (solved train problems), not per-sample documents."""

    def corpus(self) -> Any: ...


@runtime_checkable
class HasPrefixKey(Protocol):
    """A task that refines which prompts share a cached prefix (LaRA: truncated prompts are keyed
    by their kept tail's alignment); None means the document key."""

    def prefix_key(self, sample: Sample, tokenizer: Any) -> str | None: ...


@runtime_checkable
class HasDecomposition(Protocol):
    """A task that knows how a question decomposes into (sub-question, intermediate answer) steps,
    used for IterDRAG's Self-Ask demonstration chains; empty when it has none for that sample."""

    def decomposition(self, sample: Sample) -> Sequence[tuple[str, str]]: ...


P = TypeVar("P")


@functools.lru_cache(maxsize=None)
def _members(proto: Any) -> tuple[str, ...]:
    return tuple(n for n in vars(proto) if not n.startswith("_") and callable(getattr(proto, n, None)))


def supports(obj: object, proto: type[P]) -> TypeGuard[P]:
    """Whether ``obj`` offers the optional hook(s) of ``proto`` (a protocol above). Same answer as
    ``isinstance`` on a runtime-checkable protocol, without its per-call cost on Python 3.11
    (it recomputes the protocol's members every time; this runs once per sample)."""
    return all(callable(getattr(obj, name, None)) for name in _members(cast(Any, proto)))


def runner_strategy(runner: Any) -> str:
    """A runner's (class's) strategy; ``none`` when it declares none."""
    return str(getattr(runner, "strategy", "none"))


def runner_reads_whole_documents(runner: Any) -> bool:
    return bool(getattr(runner, "whole_documents", False))


def runner_cost_params(runner: Any) -> tuple[str, ...]:
    return tuple(getattr(runner, "cost_params", ()))
