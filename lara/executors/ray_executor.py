"""``executor="ray"``: the same per-sample code on Ray actors, grouped by document; the ``[ray]`` extra.

Each actor prepares the run once (:func:`lara.engine.prepare`: its own backend stack, so
connection pools and a local model are reused across batches) and evaluates batches of samples with
the engine's own dispatcher and :func:`lara.engine.evaluate_sample`, returning the records and its
call counts; the driver writes them with the run's single writer and sums the counts into the
summary. So a Ray run executes exactly the code of a local run (runners, scorers, retries,
truncation) and its records are interchangeable with a local run's. A batch is one document's questions (small groups are
packed together up to ``batch_size``), in the prefix scheduler's order, so each document's prompts
reach the server together. ``ray.init(address="auto")`` joins a running cluster (or
``$RAY_ADDRESS``); without one a local Ray starts. Actors ask for fractional CPUs (the work is I/O
bound; whole CPUs deadlock 2-core machines).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from dataclasses import asdict
from typing import Any, Callable, Sequence

from lara.config import RunSpec
from lara.scheduling import OrderPolicy, PrefixDispatcher, document_key
from lara.types import Sample

log = logging.getLogger(__name__)

ENV_PASSTHROUGH = ("LARA_CACHE_DIR", "LARA_DATA_DIR", "LARA_PRESET_PATH", "OMP_NUM_THREADS", "HF_HUB_OFFLINE")


def document_batches(samples: Sequence[Sample], order: OrderPolicy, batch_size: int) -> list[list[Sample]]:
    """Whole documents per batch, in scheduler order; small documents packed up to ``batch_size``."""
    ordered = PrefixDispatcher(samples, OrderPolicy("prefix_grouped" if order.name != "dataset" else "dataset")).order()
    batches: list[list[Sample]] = []
    current: list[Sample] = []
    key = None
    for s in ordered:
        k = document_key(s)
        if current and k != key and len(current) >= batch_size:
            batches.append(current)
            current = []
        current.append(s)
        key = k
    if current:
        batches.append(current)
    return batches


class SampleWorker:
    """The actor: prepares the run once, then evaluates batches with the engine's own code."""

    def __init__(self, spec_json: dict[str, Any], options: dict[str, Any], order: dict[str, Any],
                 env: dict[str, str]) -> None:
        os.environ.update(env)
        from lara.backends.retry import RetryPolicy
        from lara.engine import RunOptions, prepare

        opts = dict(options)
        opts["retry"] = RetryPolicy(**opts["retry"])
        opts["order"] = OrderPolicy(**order)
        opts["executor"] = "local"
        self.prepared = prepare(RunSpec.from_json(spec_json), RunOptions(**opts))

    async def run_batch(self, samples: list[Sample], attempts: dict[str, int]) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Ray runs an actor with coroutine methods on its own event loop (an async actor)."""
        from lara.engine import dispatch_local

        before = self.prepared.counters()
        out: list[dict[str, Any]] = []
        await dispatch_local(self.prepared, samples, lambda rec: out.append(rec.to_dict()), attempts=attempts)
        after = self.prepared.counters()
        return out, {k: after[k] - before.get(k, 0) for k in after}


def init_ray(address: str | None = None, num_cpus: float | None = None) -> bool:
    """Join a cluster (``address``, $RAY_ADDRESS or "auto") or start a local Ray; True if started here."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("executor 'ray' needs Ray: pip install 'lara[ray]'") from exc
    if ray.is_initialized():
        return False
    opts = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    try:
        ray.init(address=target, **opts)
        return True
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address:
            raise
        log.info("no Ray cluster at %s (%s): starting a local Ray", target, exc)
    ray.init(num_cpus=num_cpus or max(2, os.cpu_count() or 2), **opts)
    return True


async def run_on_ray(
    prepared: Any,
    samples: Sequence[Sample],
    write: Callable[[Any], None],
    *,
    attempts: dict[str, int] | None = None,
    num_actors: int = 2,
    cpus_per_actor: float = 0.25,
    batch_size: int = 16,
    address: str | None = None,
) -> dict[str, int]:
    """Run ``samples`` on Ray actors; each record goes to ``write`` as its batch returns. Returns the
    actors' summed call counts (model calls, cache hits)."""
    import ray

    from lara.results.record import Record

    started = init_ray(address)
    options = prepared.options
    try:
        worker_cls = ray.remote(num_cpus=cpus_per_actor, max_restarts=1)(SampleWorker)
        env = {k: os.environ[k] for k in ENV_PASSTHROUGH if k in os.environ}
        batches = document_batches(samples, prepared.order, batch_size)
        n = max(1, min(num_actors, len(batches)))
        opts = {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name != "order"}
        opts["retry"] = asdict(options.retry)
        opts["output_root"] = str(options.output_root)
        opts["cache_path"] = str(options.cache_path) if options.cache_path else None
        # the spec travels without secrets; backends read API keys from the workers' environment
        actors = [worker_cls.remote(prepared.spec.to_json(), opts, asdict(prepared.order), env) for _ in range(n)]
        queue = list(reversed(batches))
        pending: dict[Any, Any] = {}
        attempts = attempts or {}

        def submit(actor: Any) -> None:
            batch = queue.pop()
            pending[actor.run_batch.remote(batch, {s.id: attempts[s.id] for s in batch if s.id in attempts})] = actor

        for a in actors:
            if queue:
                submit(a)
        counters = {"model_calls": 0, "cache_hits": 0}
        while pending:
            done, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
            ref = done[0]
            actor = pending.pop(ref)
            records, counts = await asyncio.to_thread(ray.get, ref)
            for rec in records:
                write(Record.from_dict(rec))
            for k, v in counts.items():
                counters[k] = counters.get(k, 0) + v
            if queue:
                submit(actor)
        for a in actors:
            ray.kill(a)
        return counters
    finally:
        if started:
            ray.shutdown()
