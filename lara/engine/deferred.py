"""Runs against a batch backend, in rounds: collect every request, submit one batch, answer, repeat.

A batch API (OpenAI's Batches, vLLM's ``run_batch``, Ray Data with a vLLM engine) cannot answer a
``generate`` call while the runner waits, so the engine runs the samples against the backend as
usual and the backend raises :class:`~lara.protocols.Deferred` for each call it has no answer for,
recording the request. A round evaluates every sample still to do: the ones that finish (all their
calls answered, from the batch results or the response cache) get their record; the deferred ones
wait. Then the backend submits the round's requests as one batch (:meth:`BatchesCalls.complete`)
and the deferred samples run again from the start, their earlier calls now answered (a cache hit or
a stored result), so a multi-call runner (IterDRAG: one call per step) takes one round per call.
Failures are data: a request the batch failed is answered with a ``BackendError`` and its sample
gets an error record. Counters: ``model_calls`` are the requests this invocation sent in batches,
``cache_hits`` the response-cache hits of the first round (later rounds replay this invocation's
own answers through the cache; their per-step ``cached`` flags say so too).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from lara.engine.prepare import Prepared
from lara.engine.sample import evaluate_sample
from lara.errors import BackendError
from lara.protocols import BatchesCalls, Deferred
from lara.results.record import Record
from lara.types import Sample

log = logging.getLogger(__name__)

MAX_ROUNDS = 64  # a runner that needs more calls per sample than this is a bug, not a workload


def batch_backend(backend: Any) -> BatchesCalls | None:
    """The batch backend under a run's wrappers (retries, cache), or None. Its class must define the
    protocol's methods: wrappers forward attribute reads to what they wrap, so ``isinstance`` alone
    would take the wrapper for the batch backend."""
    seen = 0
    while backend is not None and seen < 8:
        if isinstance(backend, BatchesCalls) and all(hasattr(type(backend), m) for m in ("bind", "pending", "complete")):
            return backend
        backend = getattr(backend, "inner", None)
        seen += 1
    return None


async def one_round(prepared: Prepared, samples: Sequence[Sample], sink: Callable[[Record], None],
                    attempts: dict[str, int]) -> list[Sample]:
    """Evaluate ``samples`` (no model waits: every call is answered or deferred at once); finished
    ones go to ``sink``, deferred ones are returned."""
    deferred: list[Sample] = []
    gate = asyncio.Semaphore(max(4, 2 * prepared.options.max_connections))

    async def one(sample: Sample) -> None:
        async with gate:
            try:
                record = await evaluate_sample(sample, prepared, attempt=attempts.get(sample.id, 1))
            except Deferred:
                deferred.append(sample)
                return
        sink(record)

    await asyncio.gather(*(one(s) for s in samples))
    order = {s.id: i for i, s in enumerate(samples)}
    return sorted(deferred, key=lambda s: order[s.id])


def _cache_hits(prepared: Prepared) -> int:
    return int(prepared.counters().get("cache_hits", 0))


async def dispatch_deferred(prepared: Prepared, todo: Sequence[Sample], sink: Callable[[Record], None],
                            batcher: BatchesCalls, *, run_dir: Path,
                            attempts: dict[str, int] | None = None) -> dict[str, Any]:
    """Rounds until every sample has a record, or the batch went out by hand (then the samples
    still waiting get no record yet: importing the results and rerunning finishes them)."""
    attempts = attempts or {}
    batcher.bind(run_dir, prepared.run_id)
    hits0 = _cache_hits(prepared)
    hits = 0
    left = list(todo)
    for round_no in range(1, MAX_ROUNDS + 1):
        left = await one_round(prepared, left, sink, attempts)
        if round_no == 1:
            hits = _cache_hits(prepared) - hits0
        if not left:
            break
        if batcher.pending() == 0:
            raise BackendError(f"{len(left)} sample(s) deferred without a recorded request (a backend bug)")
        log.info("round %d: %d sample(s) wait for %d batched request(s)", round_no, len(left), batcher.pending())
        if not await batcher.complete():
            log.info("%d sample(s) wait for batch results to be imported", len(left))
            break
    else:
        raise BackendError(f"{len(left)} sample(s) still deferred after {MAX_ROUNDS} batch rounds")
    return {"model_calls": batcher.submitted, "cache_hits": hits, "waiting_for_batch": len(left)}
