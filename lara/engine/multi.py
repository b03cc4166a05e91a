"""One dispatcher for several runs: their samples share one window and the endpoints' connections.

A sweep is many runs of one task against one model. Run one after the other, each drains to its
last slow sample (an IterDRAG chain makes several calls in a row) while the other connections idle,
and the idle tail repeats for every configuration. Here every run's samples feed one sliding window
of ``max(4, 2 × connections)`` samples: each run keeps its own prefix-aware order
(:func:`lara.scheduling.dispatcher_for`) and the runs are chained in the given order, so the next
run's samples start while the previous one finishes. Each record still goes to its own run's sink
(its folder's single writer); resume and the response cache are each run's own, unchanged.
:func:`lara.engine.dispatch.dispatch_local` is this with one run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from lara import scheduling
from lara.engine.prepare import Prepared
from lara.engine.sample import evaluate_sample, skipped_record
from lara.results.record import Record
from lara.types import Sample


class Coalescing:
    """Identical requests in flight at the same time make one model call; the others get its answer
    (marked ``cached``, as a cache hit would be). Runs of a sweep share prompts (e.g. every ``k=0,
    m=0`` chain starts alike): one after the other, the later run hit the response cache; side by
    side they would both miss it. Wrap each run's cached backend with :meth:`wrap` (one instance
    per dispatch); ``reused[i]`` counts the answers run ``i`` took from another request."""

    def __init__(self) -> None:
        self._flights: dict[Any, asyncio.Future[Any]] = {}
        self.reused: dict[int, int] = {}

    def wrap(self, index: int, inner: Any) -> "_CoalescedBackend":
        return _CoalescedBackend(self, index, inner)


class _CoalescedBackend:
    def __init__(self, owner: Coalescing, index: int, inner: Any) -> None:
        self.owner, self.index, self.inner = owner, index, inner
        self.info = inner.info

    def __getattr__(self, name: str) -> Any:  # tokenizer, count_tokens, supports_guided...
        return getattr(self.inner, name)

    async def generate(self, messages: Any, config: Any) -> Any:
        from dataclasses import replace

        # what the response cache keys on, as a plain tuple (the runs share one model and endpoint)
        key = (tuple((m.role, m.content) for m in messages), config)
        flights = self.owner._flights
        leader = flights.get(key)
        if leader is not None:
            try:
                gen = await asyncio.shield(leader)
            except Exception:  # noqa: BLE001 - the leader failed: this request tries on its own
                return await self.inner.generate(messages, config)
            self.owner.reused[self.index] = self.owner.reused.get(self.index, 0) + 1
            return replace(gen, cached=True, latency_s=0.0)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        flights[key] = future
        try:
            gen = await self.inner.generate(messages, config)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            flights.pop(key, None)
        future.set_result(gen)
        return gen


@dataclass
class Work:
    """One run's part of a shared dispatch: its samples to do and where their records go."""

    prepared: Prepared
    todo: Sequence[Sample]
    sink: Callable[[Record], None]
    attempts: dict[str, int] = field(default_factory=dict)


class ChainedDispatcher:
    """Each run's own dispatcher, asked in run order: the first with a ready sample wins."""

    def __init__(self, works: Sequence[Work]) -> None:
        self.works = list(works)
        self.parts = [scheduling.dispatcher_for(w.todo, w.prepared.order, w.prepared.task, w.prepared.tokenizer)
                      for w in self.works]

    @property
    def exhausted(self) -> bool:
        return all(p.exhausted for p in self.parts)

    def next_ready(self) -> tuple[int, Sample] | None:
        for i, part in enumerate(self.parts):
            if not part.exhausted:
                s = part.next_ready()
                if s is not None:
                    return i, s
        return None

    def done(self, item: tuple[int, Sample]) -> None:
        self.parts[item[0]].done(item[1])


async def dispatch_many(works: Sequence[Work], *, window: int | None = None,
                        on_done: Callable[[int], Any] | None = None) -> None:
    """Evaluate every run's samples through one window; cancels in-flight samples on error.
    ``window`` defaults to ``max(4, 2 × the largest max_connections)``; ``on_done(i)`` is called
    after each record of run ``i`` has been handed to its sink. A run with a spending cap
    (``options.budget``, :mod:`lara.engine.budget`) asks it before each sample starts; once it
    says stop, that budget's remaining samples are recorded as ``skipped: budget``."""
    if not works:
        return
    size = window or max(4, 2 * max(w.prepared.options.max_connections for w in works))
    slots = asyncio.Semaphore(size)
    pending: set[asyncio.Task[None]] = set()
    dispatcher = ChainedDispatcher(works)
    wake = asyncio.Event()
    stopped: set[int] = set()  # id() of budgets that said stop (one budget may serve several runs)
    for w in works:
        if w.prepared.options.budget is not None:
            w.prepared.options.budget.check_model(w.prepared.backend.info.id, w.prepared.backend.info.backend)

    async def guarded(item: tuple[int, Sample]) -> None:
        i, sample = item
        work = works[i]
        try:
            record = await evaluate_sample(sample, work.prepared, attempt=work.attempts.get(sample.id, 1))
            if work.prepared.options.budget is not None:
                work.prepared.options.budget.add(record)
            work.sink(record)
            if on_done is not None:
                on_done(i)
        finally:
            dispatcher.done(item)
            wake.set()
            slots.release()

    async def may_start(budget: Any) -> bool:
        """The budget's verdict for the next sample, waiting for in-flight samples when asked to."""
        while True:
            verdict = budget.gate(len(pending))
            if verdict != "wait":
                return bool(verdict == "go")
            await asyncio.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)

    try:
        while True:
            await slots.acquire()
            item = await scheduling.adispatch(dispatcher, wake)
            if item is None:
                slots.release()
                break
            budget = works[item[0]].prepared.options.budget
            if budget is not None and id(budget) not in stopped and not await may_start(budget):
                stopped.add(id(budget))
            if budget is not None and id(budget) in stopped:
                work = works[item[0]]
                budget.skipped += 1
                work.sink(skipped_record(item[1], work.prepared, "budget", attempt=work.attempts.get(item[1].id, 1)))
                dispatcher.done(item)
                slots.release()
                continue
            t = asyncio.create_task(guarded(item))
            pending.add(t)
            t.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*list(pending))
    finally:
        for t in list(pending):
            t.cancel()
        if pending:
            await asyncio.gather(*list(pending), return_exceptions=True)
