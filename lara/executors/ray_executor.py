"""``--executor ray``: the engine's own per-sample code on Ray actors, laid out to run on a cluster.

- **Actors**: ``--ray-actors N``, each with ``--ray-actor-resources`` (e.g. ``{"num_cpus": 1,
  "num_gpus": 1}``: Ray then gives each actor its own GPU, and a ``vllm:`` model builds one engine
  per actor); default a quarter CPU each, as the work of an endpoint client is I/O bound (whole CPUs
  would deadlock a 2-core machine). Each actor prepares the run itself (:func:`lara.engine.prepare`:
  its own backend, connection pool and response cache) and evaluates batches with
  :func:`lara.engine.dispatch_local`, so a Ray run executes exactly a local run's code and writes
  interchangeable records. ``--max-connections`` is per actor: N actors open N times as many.
- **Documents** travel through the object store, once per document: the driver reads each text once
  (``ray.put``), ships samples without text or path, and an actor fetches each document's text
  once; no worker opens the data folder, so nodes need no shared disk. (A task whose prompts read
  other files, e.g. a demonstration corpus, still needs them on every node.)
- **Results** stream back: each batch is a streaming generator, every record goes to the driver's
  single writer as soon as its sample finishes. Batches are whole documents (small ones packed up to
  ``batch_size``, smaller on a small run so that every actor gets work) in the prefix scheduler's
  order, two in flight per actor so an actor's connections do not idle between batches.
- **Counts**: the actors' model calls and cache hits are summed into the summary, with the actors'
  process ids and sample counts under ``executor``.

``--ray-address``: unset starts a private local Ray (unless ``$RAY_ADDRESS`` names a cluster);
``auto`` joins the running cluster; ``ray://host:10001`` connects a Ray Client. lara must be
installed on the cluster's nodes (e.g. ``pip install 'lara[ray]'`` in the image); API keys are read
from the nodes' environment, never shipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections import deque
from dataclasses import asdict
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

from lara.config import RunSpec
from lara.errors import ConfigError
from lara.scheduling import OrderPolicy, PrefixDispatcher, document_key
from lara.types import Sample

log = logging.getLogger(__name__)

ENV_PASSTHROUGH = ("LARA_CACHE_DIR", "LARA_PRESET_PATH", "LARA_MODEL_CACHE_DIR", "OMP_NUM_THREADS", "HF_HUB_OFFLINE")
DEFAULT_RESOURCES: Mapping[str, float] = {"num_cpus": 0.25}
BATCHES_PER_ACTOR = 2
BATCH_SIZE = 16


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


def ship_documents(samples: Sequence[Sample]) -> tuple[list[Sample], dict[str, Any]]:
    """Each document's text into the object store once; the samples without text or path (what
    workers get) and the document id -> ObjectRef map."""
    import ray

    refs: dict[str, Any] = {}
    light: list[Sample] = []
    for s in samples:
        docs = []
        for d in s.documents:
            if d.id not in refs:
                refs[d.id] = ray.put(d.load_text())
            docs.append(dataclasses.replace(d, text=None, path=None))
        light.append(dataclasses.replace(s, documents=tuple(docs)))
    return light, refs


def actor_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """``{"num_cpus": 1, "num_gpus": 1, "memory": ..., "my_resource": 1}`` -> Ray actor options."""
    given = dict(resources or DEFAULT_RESOURCES)
    opts: dict[str, Any] = {k: given.pop(k) for k in ("num_cpus", "num_gpus", "memory") if k in given}
    opts.setdefault("num_cpus", DEFAULT_RESOURCES["num_cpus"])
    if given:
        opts["resources"] = given
    return opts


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
        self.texts: dict[str, str] = {}
        self.samples = 0

    async def run_batch(self, samples: list[Sample], refs: dict[str, Any],
                        attempts: dict[str, int]) -> AsyncIterator[dict[str, Any]]:
        """Yields each record (as a dict) as its sample finishes (a streaming generator)."""
        from lara.engine import dispatch_local

        missing = [d for d in refs if d not in self.texts]
        for doc_id, text in zip(missing, await asyncio.gather(*(refs[d] for d in missing))):
            self.texts[doc_id] = text
        full = [dataclasses.replace(s, documents=tuple(dataclasses.replace(d, text=self.texts[d.id])
                                                       for d in s.documents)) for s in samples]
        queue: asyncio.Queue[Any] = asyncio.Queue()
        end = object()

        async def drive() -> None:
            try:
                await dispatch_local(self.prepared, full, queue.put_nowait, attempts=attempts)
            finally:
                queue.put_nowait(end)

        task = asyncio.create_task(drive())
        while (record := await queue.get()) is not end:
            self.samples += 1
            yield record.to_dict()
        await task

    async def counters(self) -> dict[str, Any]:
        return {**self.prepared.counters(), "pid": os.getpid(), "samples": self.samples}

    async def close(self) -> None:
        await self.prepared.aclose()


def init_ray(address: str | None = None, num_cpus: float | None = None) -> bool:
    """Join the cluster at ``address`` (or $RAY_ADDRESS), else start a private local Ray; True if
    this call initialised Ray (the caller shuts it down)."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--executor ray needs Ray: pip install 'lara[ray]'") from exc
    if ray.is_initialized():
        return False
    opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        ray.init(address=target, **opts)
    else:  # "local": never join some other user's instance that happens to run on this machine
        ray.init(address="local", num_cpus=int(num_cpus or max(2, os.cpu_count() or 2)), **opts)
    return True


async def run_on_ray(prepared: Any, samples: Sequence[Sample], write: Callable[[Any], None], *,
                     attempts: dict[str, int] | None = None, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Run ``samples`` on Ray actors; each record goes to ``write`` as it arrives. Returns the
    actors' summed counters (model calls, cache hits) plus what ran where (``executor``)."""
    import ray

    from lara.engine.deferred import batch_backend
    from lara.results.record import Record

    if batch_backend(prepared.backend) is not None:
        raise ConfigError("--executor ray does not drive batch models; run openai-batch with the local executor")
    options = prepared.options
    attempts = attempts or {}
    started = init_ray(options.ray_address)
    actors: list[Any] = []
    try:
        worker_cls = ray.remote(max_restarts=0)(SampleWorker).options(**actor_options(options.ray_actor_resources))
        env = {k: os.environ[k] for k in ENV_PASSTHROUGH if k in os.environ}
        light, refs = ship_documents(samples)
        # small enough that every actor's batch slots get work on a small run, whole documents always
        size = max(1, min(batch_size, -(-len(light) // (options.ray_actors * BATCHES_PER_ACTOR))))
        batches = deque(document_batches(light, prepared.order, size))
        opts = {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name != "order"}
        opts.update(retry=asdict(options.retry), output_root=str(options.output_root),
                    cache_path=str(options.cache_path) if options.cache_path else None,
                    ray_actor_resources=dict(options.ray_actor_resources))
        # the spec travels without secrets; backends read API keys from the workers' environment
        actors = [worker_cls.remote(prepared.spec.to_json(), opts, asdict(prepared.order), env)
                  for _ in range(max(1, min(options.ray_actors, len(batches))))]

        async def feed(actor: Any) -> None:
            while batches:
                batch = batches.popleft()
                stream = actor.run_batch.options(num_returns="streaming").remote(
                    batch, {d.id: refs[d.id] for s in batch for d in s.documents},
                    {s.id: attempts[s.id] for s in batch if s.id in attempts})
                async for ref in stream:
                    write(Record.from_dict(await ref))

        await asyncio.gather(*(feed(a) for _ in range(BATCHES_PER_ACTOR) for a in actors))  # each actor, then seconds
        per_actor = await asyncio.gather(*(a.counters.remote() for a in actors))
        await asyncio.gather(*(a.close.remote() for a in actors))
        return {"model_calls": sum(c["model_calls"] for c in per_actor),
                "cache_hits": sum(c["cache_hits"] for c in per_actor),
                "executor": {"name": "ray", "actors": len(actors), "pids": [c["pid"] for c in per_actor],
                             "samples_per_actor": [c["samples"] for c in per_actor],
                             "documents_shipped": len(refs)}}
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()
