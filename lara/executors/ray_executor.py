"""``executor="ray"``: the same per-sample code on Ray actors, grouped by document; the ``[ray]`` extra.

Each actor holds one backend (built once, so connection pools and a local model are reused) and
runs batches of samples through :func:`lara.engine.run_async` itself, into a private temporary
folder, returning the records; the driver writes them with the run's single writer. So a Ray run
executes exactly the code of a local run (runners, scorers, retries, truncation) and its records
are interchangeable with a local run's. A batch is one document's questions (small groups are
packed together up to ``batch_size``), in the prefix scheduler's order, so each document's prompts
reach the server together. ``ray.init(address="auto")`` joins a running cluster (or
``$RAY_ADDRESS``); without one a local Ray starts. Actors ask for fractional CPUs (the work is I/O
bound; whole CPUs deadlock 2-core machines).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
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
    """The actor: holds a backend and runs batches through the engine."""

    def __init__(self, spec_json: dict[str, Any], max_connections: int, log_prompts: bool, use_cache: bool,
                 order: dict[str, Any], env: dict[str, str]) -> None:
        os.environ.update(env)
        from lara.backends.base import EndpointLimits
        from lara.engine import build_run_backend

        self.spec = RunSpec.from_json(spec_json)
        self.max_connections = max_connections
        self.log_prompts = log_prompts
        self.use_cache = use_cache
        self.order = OrderPolicy(**order)
        self.limits = EndpointLimits(default=max_connections)
        self.backend = build_run_backend(self.spec, self.limits, max_connections)

    async def run_batch(self, samples: list[Sample]) -> list[dict[str, Any]]:
        """Ray runs an actor with coroutine methods on its own event loop (an async actor)."""
        from lara.engine import run_async
        from lara.results.store import read_records

        tmp = tempfile.mkdtemp(prefix="lara-ray-")
        try:
            result = await run_async(
                self.spec, output_root=tmp, samples=samples, backend=self.backend, limits=self.limits,
                max_connections=self.max_connections, log_prompts=self.log_prompts,
                use_cache=self.use_cache, order=self.order,
            )
            return list(read_records(result.run_dir))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


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
    spec: RunSpec,
    samples: Sequence[Sample],
    write: Callable[[dict[str, Any]], None],
    *,
    order: OrderPolicy,
    max_connections: int = 8,
    log_prompts: bool = False,
    use_cache: bool = True,
    progress: Any = None,
    num_actors: int = 2,
    cpus_per_actor: float = 0.25,
    batch_size: int = 16,
    address: str | None = None,
) -> int:
    """Run ``samples`` on Ray actors; each record is passed to ``write`` as its batch returns."""
    import ray

    started = init_ray(address)
    try:
        worker_cls = ray.remote(num_cpus=cpus_per_actor, max_restarts=1)(SampleWorker)
        env = {k: os.environ[k] for k in ENV_PASSTHROUGH if k in os.environ}
        batches = document_batches(samples, order, batch_size)
        n = max(1, min(num_actors, len(batches)))
        per_actor = max(1, max_connections // n)
        # the spec travels without secrets; backends read API keys from the workers' environment
        actors = [worker_cls.remote(spec.to_json(), per_actor, log_prompts, use_cache, asdict(order), env)
                  for _ in range(n)]
        queue = list(reversed(batches))
        pending: dict[Any, Any] = {}
        for a in actors:
            if queue:
                pending[a.run_batch.remote(queue.pop())] = a
        written = 0
        while pending:
            done, _ = await asyncio.to_thread(ray.wait, list(pending), num_returns=1)
            ref = done[0]
            actor = pending.pop(ref)
            for rec in await asyncio.to_thread(ray.get, ref):
                write(rec)
                written += 1
                if progress:
                    progress.update(rec)
            if queue:
                pending[actor.run_batch.remote(queue.pop())] = actor
        for a in actors:
            ray.kill(a)
        return written
    finally:
        if started:
            ray.shutdown()

