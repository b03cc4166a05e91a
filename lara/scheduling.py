"""Prefix-cache-aware dispatch: samples that share a document run together, one warms the cache first.

A server with prefix caching (vLLM, llama.cpp) prefills a long document once and reuses its KV
blocks for every later prompt that starts with it, but only if (1) the later prompts arrive after
the first one has been prefilled (concurrent cold requests each prefill the whole document) and
(2) the document's blocks are still resident. So :class:`PrefixDispatcher` sends one request per
document first (the *warm* request), releases that document's other requests once it has finished,
and bounds the documents in flight by ``prefix_cache_tokens`` (a 128k document's KV cache is many
GB, so a server holds only a few). It is a plain synchronous state machine, so the engine, the Ray
executor and ``benchmarks/prefix.py`` drive the very same object; :func:`adispatch` is the asyncio
wrapper the engine uses.

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
CHARS_PER_TOKEN = 4.0  # estimate of a document's token count from its size (English prose, cl100k)
HEAD_CHARS = 2048  # documents that start alike (e.g. LaRA paper files opening with the same paper)

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
    """How a run orders its requests; recorded in run.json."""

    name: str = "prefix_warm"
    prefix_cache_tokens: int | None = None  # the server's prefix-cache size in tokens
    # Documents in flight may fill only this share of the cache: the rest holds question tails and
    # the next document's warm request, so LRU eviction does not hit a document still in use.
    cache_fill: float = 0.8

    def __post_init__(self) -> None:
        if self.name not in ORDER_POLICIES:
            raise ValueError(f"unknown order policy {self.name!r}; valid: {', '.join(ORDER_POLICIES)}")
        if self.prefix_cache_tokens is not None and self.prefix_cache_tokens <= 0:
            raise ValueError("prefix_cache_tokens must be positive")
        if not 0 < self.cache_fill <= 1:
            raise ValueError("cache_fill must be in (0, 1]")

    @property
    def doc_budget(self) -> int | None:
        """Tokens of documents that may be in flight at once (None: unbounded)."""
        return None if self.prefix_cache_tokens is None else int(self.prefix_cache_tokens * self.cache_fill)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.name, "prefix_cache_tokens": self.prefix_cache_tokens, "cache_fill": self.cache_fill}


def default_policy(runner: Any, prefix_cache_tokens: int | None = None) -> OrderPolicy:
    """Warm-first for runners whose prompts start with the whole document (the runner class says
    so with ``whole_documents``; a registered name is looked up), grouped otherwise."""
    if isinstance(runner, str):
        from lara.registry import runners

        runner = runners.get(runner)
    warm = runner_reads_whole_documents(runner)
    return OrderPolicy("prefix_warm" if warm else "prefix_grouped", prefix_cache_tokens)


class _Group:
    __slots__ = ("key", "samples", "tokens", "head", "next", "running", "finished", "warmed")

    def __init__(self, key: str, samples: list[Sample], tokens: int, head: str) -> None:
        self.key, self.samples, self.tokens, self.head = key, samples, tokens, head
        self.next = 0  # index of the next sample to dispatch
        self.running = 0
        self.finished = 0
        self.warmed = False  # the first request has completed: the prefix is cached


class PrefixDispatcher:
    """Decides which sample to send next; call :meth:`next_ready` when a slot is free, :meth:`done`
    when a sample finishes. ``next_ready`` returns None when nothing may start now (wait for a
    ``done``); :attr:`exhausted` is True once every sample has been handed out.

    Policies: ``prefix_warm`` (one request per document, the rest after it finished; documents in
    flight bounded by ``prefix_cache_tokens``; groups with equal heads queue together, and one whose
    head no group has warmed yet waits while another group with that head is warming, as their
    prompts share that head), ``prefix_grouped`` (document groups back
    to back, no waiting), ``dataset`` (the given order).
    """

    def __init__(
        self,
        samples: Iterable[Sample],
        policy: OrderPolicy = OrderPolicy(),
        doc_tokens: Callable[[Sample], int] = estimate_doc_tokens,
        doc_head: Callable[[Sample], str] = head_key,
        prefix_key: Callable[[Sample], str] = document_key,
    ) -> None:
        self.policy = policy
        items = list(samples)
        if policy.name == "dataset":
            self._flat: Iterator[Sample] | None = iter(items)
            self._left = len(items)
            self._groups: list[_Group] = []
        else:
            self._flat = None
            by_key: OrderedDict[str, list[Sample]] = OrderedDict()
            for s in items:
                by_key.setdefault(prefix_key(s), []).append(s)
            warm = policy.name == "prefix_warm"
            groups = [_Group(k, g, doc_tokens(g[0]), doc_head(g[0]) if warm else k) for k, g in by_key.items()]
            # groups with equal heads queue together (stable), so their shared head is still cached
            rank: dict[str, int] = {}
            for g in groups:
                rank.setdefault(g.head, len(rank))
            self._groups = sorted(groups, key=lambda g: rank[g.head])
            self._left = len(items)
        self._open: list[_Group] = []  # groups with a dispatched warm request and unfinished samples
        self._pending: list[_Group] = list(self._groups)  # groups not yet opened, in order
        self._by_id: dict[str, _Group] = {s.id: g for g in self._groups for s in g.samples}
        self.in_flight = 0
        self.max_docs_open = 0
        self._rr = 0  # round-robin position over open documents
        self._warm_heads: set[str] = set()  # heads some group has warmed (cached, shared by the rest)

    @property
    def exhausted(self) -> bool:
        return self._left == 0

    def _open_tokens(self) -> int:
        return sum(g.tokens for g in self._open)

    def _may_open(self, group: _Group) -> bool:
        cap = self.policy.doc_budget
        if cap is None or not self._open:
            return True  # always admit one document, however large
        return self._open_tokens() + group.tokens <= cap

    def _take(self, group: _Group) -> Sample:
        s = group.samples[group.next]
        group.next += 1
        group.running += 1
        self._left -= 1
        self.in_flight += 1
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
        #    grouped: oldest first (back to back).
        n = len(self._open)
        start = self._rr % n if (warm and n) else 0
        for j in range(n):
            g = self._open[(start + j) % n]
            if g.next < len(g.samples) and (g.warmed or not warm):
                self._rr = start + j + 1
                return self._take(g)
        # 2) open the next document with its warm request, if the cache bound allows; skip (for now)
        #    documents whose head matches one still warming, unless a group with that head has
        #    already warmed: they will reuse its prefix (which holds the head only, so once it is
        #    cached, e.g. the tail alignments of one truncated document warm side by side)
        warming = {g.head for g in self._open if not g.warmed} - self._warm_heads if warm else set()
        for i, g in enumerate(self._pending):
            if g.head in warming:
                continue
            if warm and not self._may_open(g):
                break
            del self._pending[i]
            self._open.append(g)
            self.max_docs_open = max(self.max_docs_open, len(self._open))
            return self._take(g)
        return None

    def done(self, sample: Sample) -> None:
        self.in_flight -= 1
        g = self._by_id.get(sample.id)
        if g is None:
            return
        g.running -= 1
        g.finished += 1
        g.warmed = True
        self._warm_heads.add(g.head)
        if g.finished == len(g.samples):
            self._open.remove(g)

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
    """The dispatcher a run uses (engine and benchmarks/prefix.py): the task's prefix key, if any."""
    return PrefixDispatcher(samples, policy, prefix_key=task_prefix_key(task, tokenizer, policy), **kwargs)


async def adispatch(dispatcher: PrefixDispatcher, wake: asyncio.Event) -> Sample | None:
    """The next sample to start, waiting for completions (which set ``wake``) when none is ready."""
    while True:
        s = dispatcher.next_ready()
        if s is not None or dispatcher.exhausted:
            return s
        wake.clear()
        await wake.wait()
