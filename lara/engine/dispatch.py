"""The local dispatcher: a sliding window of sample tasks in prefix-cache-aware order.

The window holds ``max(4, 2 × connections)`` samples in flight (never fixed batches), the per-
endpoint semaphores inside backends hold the real connection limit, and the order comes from
:mod:`lara.scheduling` (warm-first for runners that read whole documents). Each finished record
goes to ``sink`` (the run's single writer) from the event loop, so writes never interleave. The
window is :func:`lara.engine.multi.dispatch_many` with one run; a batch backend (one that defers
calls, e.g. ``openai-batch``) is driven in rounds by :mod:`lara.engine.deferred` instead.
With a spending cap (``options.budget``, :mod:`lara.engine.budget`) each sample passes its gate
first; once the cap is reached, in-flight samples finish and the rest are recorded as
``skipped: budget``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from lara.engine.multi import Work, dispatch_many
from lara.engine.prepare import Prepared
from lara.results.record import Record
from lara.types import Sample


async def dispatch_local(prepared: Prepared, todo: Sequence[Sample], sink: Callable[[Record], None],
                         *, attempts: dict[str, int] | None = None,
                         run_dir: Path | None = None) -> dict[str, int] | None:
    """Evaluate ``todo`` and hand every record to ``sink``; cancels in-flight samples on error.
    ``attempts`` gives the attempt number per sample id (retries of earlier error records).
    Returns the call counters when the dispatch counted them itself (batch rounds), else None."""
    from lara.engine.deferred import batch_backend, dispatch_deferred

    batcher = batch_backend(prepared.backend)
    if batcher is not None:
        if run_dir is None:
            raise ValueError("a batch backend keeps its state in the run folder: pass run_dir")
        return await dispatch_deferred(prepared, todo, sink, batcher, run_dir=run_dir, attempts=attempts)
    await dispatch_many([Work(prepared, todo, sink, attempts or {})])
    return None
