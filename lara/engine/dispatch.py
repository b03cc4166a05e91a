"""The local dispatcher: a sliding window of sample tasks in prefix-cache-aware order.

The window holds ``max(4, 2 × connections)`` samples in flight (never fixed batches), the per-
endpoint semaphores inside backends hold the real connection limit, and the order comes from
:mod:`lara.scheduling` (warm-first for runners that read whole documents). Each finished record
goes to ``sink`` (the run's single writer) from the event loop, so writes never interleave. With
a spending cap (``options.budget``, :mod:`lara.engine.budget`) each sample passes its gate first;
once the cap is reached, in-flight samples finish and the rest are recorded as ``skipped: budget``.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence

from lara import scheduling
from lara.engine.prepare import Prepared
from lara.engine.sample import evaluate_sample, skipped_record
from lara.results.record import Record
from lara.types import Sample


async def dispatch_local(prepared: Prepared, todo: Sequence[Sample], sink: Callable[[Record], None],
                         *, attempts: dict[str, int] | None = None) -> None:
    """Evaluate ``todo`` and hand every record to ``sink``; cancels in-flight samples on error.
    ``attempts`` gives the attempt number per sample id (retries of earlier error records)."""
    window = asyncio.Semaphore(max(4, 2 * prepared.options.max_connections))
    pending: set[asyncio.Task[None]] = set()
    dispatcher = scheduling.dispatcher_for(todo, prepared.order, prepared.task, prepared.tokenizer)
    wake = asyncio.Event()
    attempts = attempts or {}
    budget = prepared.options.budget
    if budget is not None:
        budget.check_model(prepared.backend.info.id, prepared.backend.info.backend)
    stopped = False

    async def guarded(sample: Sample) -> None:
        try:
            record = await evaluate_sample(sample, prepared, attempt=attempts.get(sample.id, 1))
            if budget is not None:
                budget.add(record)
            sink(record)
        finally:
            dispatcher.done(sample)
            wake.set()
            window.release()

    async def may_start() -> bool:
        """The budget's verdict for the next sample, waiting for in-flight samples when asked to."""
        while True:
            verdict = budget.gate(len(pending))
            if verdict != "wait":
                return verdict == "go"
            await asyncio.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)

    try:
        while True:
            await window.acquire()
            sample = await scheduling.adispatch(dispatcher, wake)
            if sample is None:
                window.release()
                break
            if budget is not None and not stopped:
                stopped = not await may_start()
            if stopped:
                budget.skipped += 1
                sink(skipped_record(sample, prepared, "budget", attempt=attempts.get(sample.id, 1)))
                dispatcher.done(sample)
                window.release()
                continue
            t = asyncio.create_task(guarded(sample))
            pending.add(t)
            t.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*list(pending))
    finally:
        for t in list(pending):
            t.cancel()
        if pending:
            await asyncio.gather(*list(pending), return_exceptions=True)
