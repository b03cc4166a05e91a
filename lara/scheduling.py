"""Prefix-cache-aware dispatch: samples that share a document run together, one warms the cache first.

A server with prefix caching (vLLM, llama.cpp) prefills a long document once and reuses its KV
blocks for every later prompt that starts with it, but only if (1) the later prompts arrive after
the first one has been prefilled (concurrent cold requests each prefill the whole document) and
(2) the document's blocks are still resident. So :class:`PrefixDispatcher` sends one request per
document first (the *warm* request) and releases that document's other requests once it has
finished. It is a plain synchronous state machine, so the engine, the Ray executor and
``benchmarks/prefix.py`` drive the very same object; :func:`adispatch` is the asyncio wrapper.

**KV memory.** A server's KV cache holds the prefixes it can reuse *and* the blocks of the requests
it is running: a 128k-token prompt holds 128k tokens of cache while it runs, so a cache of a few
documents runs only a few such requests at once, whatever the connection count. The dispatcher
therefore plans with the server's cache size (``OrderPolicy.prefix_cache_tokens``, by default read
from the server: :func:`lara.backends.server_metrics.resolve_cache_tokens`): the open documents
(their prefix stays resident until their last request has finished) plus every in-flight request's
own tokens (question tail and output reservation) must fit ``cache_fill`` of it. It keeps every
connection busy with whatever fits: follow-ups of warmed documents first, then the warm request of
the first pending document that fits (a large one waits while smaller ones use the memory, and runs
once enough is free, or alone when nothing else is in flight). A connection is left idle only when
nothing more fits in the server's KV memory (a request sent then would wait in
the server's queue anyway, ahead of follow-ups that need the cached prefix), or when the only work
left would re-prefill a document whose warm request is still running: that duplicate holds as much
KV memory as a new document and finishes at most one question's time before the follow-up that
waits for the warm request would.

A task may refine what "shares a prefix" means with an optional hook ``prefix_key(sample,
tokenizer) -> str | None`` (None: the document key). LaRA's LC truncation keeps the head and the
tail of an over-long prompt, so two prompts on one document share a long prefix (head + the same
tail slice) only when their questions have the same token length; its hook returns a key per tail
alignment, and each such key gets its own warm request (:func:`dispatcher_for`). Groups whose
documents start alike queue together and wait until one of them has warmed (then the rest warm side
by side on the cached head), so the shared head is prefilled once.

The affinity key of the sample being processed (its :func:`document_key`) travels to backends in
the request context (:data:`lara.protocols.REQUEST`, set by the engine per sample), so a
multi-endpoint backend can send every request about one document to the same replica without
changing the Backend protocol or the cache key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from lara.protocols import HasPrefixKey, runner_reads_whole_documents, supports
from lara.types import Sample

ORDER_POLICIES = ("prefix_warm", "prefix_grouped", "dataset")
CHARS_PER_TOKEN = 4.0  # estimate of a text's token count from its size (English prose, cl100k)
HEAD_CHARS = 2048  # documents that start alike (e.g. LaRA paper files opening with the same paper)
CACHE_SOURCES = ("off", "option", "server", "default")

log = logging.getLogger(__name__)


def document_key(sample: Sample) -> str:
    """What samples sharing a prompt prefix have in common: their document ids (or their own id)."""
    return "|".join(d.id for d in sample.documents) or f"sample:{sample.id}"


def stable_hash(key: str) -> int:
    """A process-independent 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def estimate_doc_tokens(sample: Sample) -> int:
    """Token estimate of the sample's documents from their text length or file size (no reading)."""
    chars = 0
    for d in sample.documents:
        if d.text is not None:
            chars += len(d.text)
        elif d.path:
            try:
                chars += os.path.getsize(d.path)
            except OSError:
                pass
    return int(chars / CHARS_PER_TOKEN)


def token_counter(tokenizer: Any) -> Callable[[Sample], int]:
    """Exact token count of a sample's documents with ``tokenizer``, once per document set (the
    size estimate is off by -20%..+40% on LaRA's documents, too much to plan a tight cache with).
    Falls back to the estimate when a document cannot be read."""
    memo: dict[str, int] = {}

    def count(sample: Sample) -> int:
        key = document_key(sample)
        if key not in memo:
            try:
                memo[key] = sum(int(tokenizer.count(d.load_text())) for d in sample.documents)
            except (OSError, ValueError):
                memo[key] = estimate_doc_tokens(sample)
        return memo[key]

    return count


def head_key(sample: Sample) -> str:
    """The start of the sample's first document: documents with equal heads share a cached prefix,
    so they are warmed one after the other rather than at the same time."""
    if not sample.documents:
        return f"sample:{sample.id}"
    d = sample.documents[0]
    if d.text is not None:
        return d.text[:HEAD_CHARS]
    try:
        with open(d.path or "", encoding="utf-8", errors="replace") as f:
            return f.read(HEAD_CHARS)
    except OSError:
        return d.id


def grouped_order(samples: Iterable[Sample]) -> list[Sample]:
    """Group samples that share a document, keeping first-appearance order (stable)."""
    groups: OrderedDict[str, list[Sample]] = OrderedDict()
    for s in samples:
        groups.setdefault(document_key(s), []).append(s)
    return [s for g in groups.values() for s in g]


@dataclass(frozen=True)
class OrderPolicy:
    """How a run orders its requests; recorded in run.json.

    ``prefix_cache_tokens``: the server's KV cache in tokens (None: unbounded); ``source`` says
    where that figure came from (``option``, ``server`` /metrics, the stated ``default``, or ``off``).
    ``cache_fill``: the share of it the plan may fill: the client counts with its own tokenizer, and
    a server's tokenizer may count ~10% more tokens for the same text. ``output_tokens``: the KV
    memory reserved per request for its answer (the run's ``max_tokens``).
    """

    name: str = "prefix_warm"
    prefix_cache_tokens: int | None = None
    cache_fill: float = 0.9
    output_tokens: int = 128
    source: str = "option"

    def __post_init__(self) -> None:
        if self.name not in ORDER_POLICIES:
            raise ValueError(f"unknown order policy {self.name!r}; valid: {', '.join(ORDER_POLICIES)}")
        if self.prefix_cache_tokens is not None and self.prefix_cache_tokens <= 0:
            raise ValueError("prefix_cache_tokens must be positive")
        if not 0 < self.cache_fill <= 1:
            raise ValueError("cache_fill must be in (0, 1]")
        if self.output_tokens < 0:
            raise ValueError("output_tokens must be >= 0")
        if self.source not in CACHE_SOURCES:
            raise ValueError(f"unknown cache size source {self.source!r}; valid: {', '.join(CACHE_SOURCES)}")

    @property
    def doc_budget(self) -> int | None:
        """Tokens of KV memory the dispatcher may plan to fill (None: unbounded)."""
        return None if self.prefix_cache_tokens is None else int(self.prefix_cache_tokens * self.cache_fill)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.name, "prefix_cache_tokens": self.prefix_cache_tokens, "cache_fill": self.cache_fill,
                "output_tokens": self.output_tokens, "source": self.source}


def default_policy(runner: Any, prefix_cache_tokens: int | None = None) -> OrderPolicy:
    """Warm-first for runners whose prompts start with the whole document (the runner class says
    so with ``whole_documents``; a registered name is looked up), grouped otherwise."""
    if isinstance(runner, str):
        from lara.registry import runners

        runner = runners.get(runner)
    warm = runner_reads_whole_documents(runner)
    return OrderPolicy("prefix_warm" if warm else "prefix_grouped", prefix_cache_tokens)


def policy_for(runner: Any, setting: int | str | None, backend: Any = None, output_tokens: int = 128) -> OrderPolicy:
    """The run's order: warm-first with the resolved cache size for runners that read whole
    documents (the server is asked only then), grouped otherwise."""
    if isinstance(runner, str):
        from lara.registry import runners

        runner = runners.get(runner)
    if not runner_reads_whole_documents(runner):
        return OrderPolicy("prefix_grouped", output_tokens=output_tokens, source="off")
    from lara.backends.server_metrics import resolve_cache_tokens

    endpoint = str(getattr(getattr(backend, "info", None), "endpoint", None) or "")
    tokens, source = resolve_cache_tokens(setting, [e for e in endpoint.split(",") if e])
    return OrderPolicy("prefix_warm", tokens, output_tokens=output_tokens, source=source)


class _Group:
    __slots__ = ("key", "samples", "tokens", "head", "next", "running", "finished", "warmed")

    def __init__(self, key: str, samples: list[Sample], head: str) -> None:
        self.key, self.samples, self.head = key, samples, head
        self.tokens: int | None = None  # the shared prefix's tokens, counted when first needed
        self.next = 0  # index of the next sample to dispatch
        self.running = 0
        self.finished = 0
        self.warmed = False  # the first request has completed: the prefix is cached


class PrefixDispatcher:
    """Decides which sample to send next; call :meth:`next_ready` when a slot is free, :meth:`done`
    when a sample finishes. ``next_ready`` returns None when nothing may start now (wait for a
    ``done``); :attr:`exhausted` is True once every sample has been handed out.

    Policies: ``prefix_warm`` (one request per document, the rest after it finished; open documents
    and in-flight requests planned into the KV cache, see the module docstring; groups with equal
    heads queue together, and one whose head no group has warmed yet waits while another group
    with that head is warming, as their prompts share that head), ``prefix_grouped`` (document
    groups back to back, no waiting), ``dataset`` (the given order).
    """

    def __init__(
        self,
        samples: Iterable[Sample],
        policy: OrderPolicy = OrderPolicy(),
        doc_tokens: Callable[[Sample], int] = estimate_doc_tokens,
        doc_head: Callable[[Sample], str] = head_key,
        prefix_key: Callable[[Sample], str] = document_key,
        request_tokens: Callable[[Sample], int] | None = None,
    ) -> None:
        self.policy = policy
        self._doc_tokens = doc_tokens
        self._request_tokens = request_tokens or (
            lambda s: int(len(s.question) / CHARS_PER_TOKEN) + policy.output_tokens)
        items = list(samples)
        if policy.name == "dataset":
            self._flat: Iterator[Sample] | None = iter(items)
            self._groups: list[_Group] = []
        else:
            self._flat = None
            by_key: OrderedDict[str, list[Sample]] = OrderedDict()
            for s in items:
                by_key.setdefault(prefix_key(s), []).append(s)
            warm = policy.name == "prefix_warm"
            groups = [_Group(k, g, doc_head(g[0]) if warm else k) for k, g in by_key.items()]
            # groups with equal heads queue together (stable), so their shared head is still cached
            rank: dict[str, int] = {}
            for g in groups:
                rank.setdefault(g.head, len(rank))
            self._groups = sorted(groups, key=lambda g: rank[g.head])
        self._left = len(items)
        self._open: list[_Group] = []  # groups with a dispatched warm request and unfinished samples
        self._pending: list[_Group] = list(self._groups)  # groups not yet opened, in order
        self._by_id: dict[str, _Group] = {s.id: g for g in self._groups for s in g.samples}
        self._held: dict[str, int] = {}  # in-flight sample id -> its own KV tokens (tail + answer)
        self._held_total = 0  # sum of _held (kept as it changes: checked for every candidate)
        self._open_tokens = 0  # KV tokens of the open documents' prefixes
        self.in_flight = 0
        self.max_docs_open = 0
        self._rr = 0  # round-robin position over open documents

    @property
    def exhausted(self) -> bool:
        return self._left == 0

    @property
    def planned_tokens(self) -> int:
        """KV tokens the plan holds now: open prefixes plus in-flight requests' own tokens."""
        return self._open_tokens + self._held_total

    def _group_tokens(self, g: _Group) -> int:
        if g.tokens is None:
            g.tokens = int(self._doc_tokens(g.samples[0]))
        return g.tokens

    def _fits(self, extra: int) -> bool:
        cap = self.policy.doc_budget
        if cap is None or self.in_flight == 0:
            return True  # always admit one request, however large, so the run progresses
        return self.planned_tokens + extra <= cap

    def _take(self, group: _Group, own: int) -> Sample:
        s = group.samples[group.next]
        group.next += 1
        group.running += 1
        self._left -= 1
        self.in_flight += 1
        self._held[s.id] = own
        self._held_total += own
        return s

    def next_ready(self) -> Sample | None:
        if self._left == 0:
            return None
        if self._flat is not None:
            self._left -= 1
            self.in_flight += 1
            return next(self._flat)
        warm = self.policy.name == "prefix_warm"
        # 1) the rest of an open, warmed document. Warm: round robin over the open documents, so
        #    each one's cached prefix keeps being touched (LRU) while long prompts of another run;
        #    grouped: oldest first (back to back). Warm: a follow-up that does not fit the KV plan
        #    waits; another document's (shorter question) may fit.
        n = len(self._open)
        start = self._rr % n if (warm and n) else 0
        for j in range(n):
            g = self._open[(start + j) % n]
            if g.next < len(g.samples) and (g.warmed or not warm):
                own = self._request_tokens(g.samples[g.next]) if warm else 0
                if warm and not self._fits(own):
                    continue
                self._rr = start + j + 1
                return self._take(g, own)
        # 2) open the first pending document whose prefix and warm request fit the KV plan (a large
        #    one waits while smaller ones use the memory; it runs once enough is free, or alone).
        #    Warm: a head is cached while an open group with that head has warmed (its requests keep
        #    it in use; once the last one has finished it may be evicted). Groups with a cached head
        #    go first and wait first in line (a new document would evict that head); groups whose
        #    head is still warming wait (then they reuse it: it holds the head only, so e.g. the tail
        #    alignments of one truncated document warm side by side on it).
        cached_heads = {g.head for g in self._open if g.warmed} if warm else set()
        warming = {g.head for g in self._open if not g.warmed} - cached_heads if warm else set()
        for first in ((True, False) if warm else (False,)):
            for i, g in enumerate(self._pending):
                if g.head in warming or (first and g.head not in cached_heads):
                    continue
                own = 0
                if warm:
                    own = self._request_tokens(g.samples[0])
                    if not self._fits(self._group_tokens(g) + own):
                        if first:
                            return None  # its head is cached now: it goes before any new document evicts that
                        continue
                    self._open_tokens += self._group_tokens(g)
                del self._pending[i]
                self._open.append(g)
                self.max_docs_open = max(self.max_docs_open, len(self._open))
                return self._take(g, own)
        return None

    def done(self, sample: Sample) -> None:
        self.in_flight -= 1
        self._held_total -= self._held.pop(sample.id, 0)
        g = self._by_id.get(sample.id)
        if g is None:
            return
        g.running -= 1
        g.finished += 1
        g.warmed = True
        if g.finished == len(g.samples):
            self._open.remove(g)
            self._open_tokens -= g.tokens or 0

    def order(self) -> list[Sample]:
        """The static dispatch order when every request completes before the next is chosen."""
        out = []
        while not self.exhausted:
            s = self.next_ready()
            assert s is not None  # with nothing in flight something is always ready
            out.append(s)
            self.done(s)
        return out


def task_prefix_key(task: Any, tokenizer: Any, policy: OrderPolicy) -> Callable[[Sample], str]:
    """The grouping key for warm-first dispatch: the task's ``prefix_key`` hook when it has one (and
    the policy warms), else :func:`document_key`. Only ``prefix_warm`` uses it: grouped dispatch keeps
    whole documents together (a finer key would only interleave them)."""
    if not supports(task, HasPrefixKey) or tokenizer is None or policy.name != "prefix_warm":
        return document_key
    hook = task.prefix_key

    def key(sample: Sample) -> str:
        try:
            return hook(sample, tokenizer) or document_key(sample)
        except Exception:  # noqa: BLE001 - a hint only: the sample's own run reports the failure
            log.debug("prefix_key failed for %s", sample.id, exc_info=True)
            return document_key(sample)

    return key


def dispatcher_for(samples: Iterable[Sample], policy: OrderPolicy, task: Any = None, tokenizer: Any = None,
                   **kwargs: Any) -> PrefixDispatcher:
    """The dispatcher a run uses (engine and benchmarks/prefix.py): the task's prefix key, if any,
    and exact document token counts with the run's tokenizer when the KV plan is bounded."""
    if tokenizer is not None and policy.name == "prefix_warm" and policy.doc_budget is not None:
        kwargs.setdefault("doc_tokens", token_counter(tokenizer))
    return PrefixDispatcher(samples, policy, prefix_key=task_prefix_key(task, tokenizer, policy), **kwargs)


async def adispatch(dispatcher: Any, wake: asyncio.Event) -> Any:
    """The next item to start, waiting for completions (which set ``wake``) when none is ready."""
    while True:
        s = dispatcher.next_ready()
        if s is not None or dispatcher.exhausted:
            return s
        wake.clear()
        await wake.wait()
