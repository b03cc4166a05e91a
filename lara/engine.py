"""run(spec): load samples -> skip completed -> bounded async map -> single writer.

Promises (see docs/architecture.md): a rerun of a finished spec makes 0 model calls; a killed run
loses at most the in-flight samples and never duplicates a line; failures become records; samples
that share a document are dispatched together (prefix-cache friendly).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

from lara import registry, scheduling, sharding
from lara.backends.base import EndpointLimits, build_backend, parse_model
from lara.cache import CachedBackend, ResponseCache
from lara.config import RunSpec
from lara.protocols import RunContext
from lara.results import store
from lara.results.record import build_record, utc_now
from lara.results.summary import environment, summarize
from lara.tokens import SkipSample, get_tokenizer
from lara.types import ErrorInfo, RunOutput, Sample, Score, to_dict

log = logging.getLogger(__name__)


class Progress(Protocol):
    def start(self, total: int, already_done: int) -> None: ...

    def update(self, record: dict[str, Any]) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    records_written: int


def _accepts(factory: Any, name: str) -> bool:
    """Whether a factory names ``name`` as a parameter (judge scorers take the shared limits)."""
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def build_run_backend(spec: RunSpec, limits: EndpointLimits, max_connections: int) -> Any:
    """The spec's model backend; a list ``base_url`` becomes replicas (lara.backends.multi)."""
    params = dict(spec.model_params)
    factory = registry.backends.get(parse_model(spec.model)[0])
    if _accepts(factory, "max_connections"):
        params.setdefault("max_connections", max_connections)
    if isinstance(params.get("base_url"), (list, tuple)):
        from lara.backends.multi import build_multi

        return build_multi(spec.model, params, limits)
    return build_backend(spec.model, params, limits)


def load_samples(task: Any, limit: int | None) -> list[Sample]:
    out: list[Sample] = []
    seen: set[str] = set()
    for s in task.samples():
        if s.id in seen:
            raise ValueError(f"task {task.name!r} yields duplicate sample id {s.id!r}")
        seen.add(s.id)
        out.append(s)
        if limit is not None and len(out) >= limit:
            break
    return out


def _tokenizer_for(spec: RunSpec, backend: Any) -> Any:
    name = spec.runner_params.get("tokenizer")
    if name:
        return get_tokenizer(name)
    tok = getattr(backend, "tokenizer", None)
    if tok is not None:
        return tok
    try:
        return get_tokenizer("cl100k")
    except Exception:  # noqa: BLE001 - cl100k files unavailable: degrade to an approximation
        log.warning("cl100k tokenizer unavailable; counting tokens with the 'words' approximation")
        return get_tokenizer("words")


async def run_async(
    spec: RunSpec,
    *,
    output_root: Path | str = "results",
    max_connections: int = 8,
    log_prompts: bool = False,
    progress: Progress | None = None,
    limits: EndpointLimits | None = None,
    use_cache: bool = True,
    backend: Any = None,
    samples: Iterable[Sample] | None = None,
    shard: tuple[int, int] | None = None,
    order: scheduling.OrderPolicy | None = None,
    prefix_cache_tokens: int | None = None,
    executor: str = "local",
) -> RunResult:
    """Run one spec. ``shard=(i, N)`` runs only the samples of shard i (own folder, see
    lara.sharding); ``order`` defaults to warm-first prefix scheduling for LC runners
    (lara.scheduling) with documents in flight bounded by ``prefix_cache_tokens``; a list
    ``base_url`` spreads requests over replicas (lara.backends.multi); ``executor="ray"`` runs the
    per-sample work on Ray actors (lara.executors.ray_executor) and writes here."""
    if executor not in ("local", "ray"):
        raise ValueError(f"unknown executor {executor!r}; valid: local, ray")
    shard = sharding.parse_shard(shard)
    order = order or scheduling.default_policy(spec.runner, prefix_cache_tokens)
    task = registry.tasks.get(spec.task)(**spec.task_params)
    runner = registry.runners.get(spec.runner)(**spec.runner_params)
    limits = limits or EndpointLimits(default=max_connections)
    if backend is None:
        backend = build_run_backend(spec, limits, max_connections)
    cache = ResponseCache() if use_cache else None
    model_backend = CachedBackend(backend, cache) if cache else backend
    scorer_name = spec.scorer or task.default_scorer
    scorer_factory = registry.scorers.get(scorer_name)
    scorer_params = dict(spec.scorer_params)
    if _accepts(scorer_factory, "limits"):
        scorer_params.setdefault("limits", limits)
    scorer = scorer_factory(**scorer_params)

    run_id = spec.run_id()
    spec_hash = spec.spec_hash()
    run_dir = Path(output_root) / sharding.shard_dir_name(run_id, shard)
    run_dir.mkdir(parents=True, exist_ok=True)
    samples_path = run_dir / store.SAMPLES
    done = store.repair_and_scan(samples_path)
    all_samples = list(samples) if samples is not None else load_samples(task, spec.limit)
    all_samples = sharding.select_shard(all_samples, shard)
    todo = [s for s in all_samples if s.id not in done]

    previous = store.read_run_json(run_dir)
    run_info = {
        "run_id": run_id,
        "spec_hash": spec_hash,
        "spec": spec.to_json(),
        "task_version": getattr(task, "version", ""),
        "data_revision": getattr(task, "data_revision", None),
        "model_info": to_dict(backend.info),
        "scorer": scorer_name,
        "order": order.name,
        "order_params": order.to_json(),
        "shard": list(shard) if shard else None,
        "executor": executor,
        "created_at": previous.get("created_at", utc_now()),
        "updated_at": utc_now(),
        "environment": environment(),
    }
    store.write_json_atomic(run_dir / store.RUN_JSON, run_info)

    ctx = RunContext(
        task=task,
        backend=model_backend,
        generate_config=spec.generation,
        params=spec.runner_params,
        tokenizer=_tokenizer_for(spec, backend),
        log_prompts=log_prompts,
    )
    writer = store.JsonlWriter(samples_path)
    if progress:
        progress.start(len(all_samples), len(all_samples) - len(todo))
    gen_dict = to_dict(spec.generation)

    async def one(sample: Sample) -> None:
        scheduling.AFFINITY.set(scheduling.document_key(sample))  # this task's context only
        started, t0 = utc_now(), time.perf_counter()
        output: RunOutput | None = None
        error: ErrorInfo | None = None
        scores: list[Score] = []
        try:
            output = await runner.run(sample, ctx)
        except SkipSample as exc:
            output = RunOutput(answer=None, truncation=exc.report, skipped="context_too_long")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - failures are data
            log.debug("sample %s failed", sample.id, exc_info=True)
            error = ErrorInfo(
                type(exc).__name__, str(exc), int(getattr(exc, "retries", 0) or 0), getattr(exc, "kind", None)
            )
        if output is not None and output.skipped:
            scores = [Score(scorer_name, None, "skipped", output.skipped, scorer_name)]
        elif output is not None and error is None:
            try:
                scores = [await scorer.score(sample, output)]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                scores = [Score(scorer_name, None, "error", f"{type(exc).__name__}: {exc}", scorer_name)]
        record = build_record(
            run_id=run_id,
            spec_hash=spec_hash,
            task=spec.task_preset or spec.task,
            task_version=getattr(task, "version", ""),
            sample=sample,
            runner=spec.runner,
            runner_label=spec.runner_preset or spec.runner,
            runner_params=spec.runner_params,
            model=spec.model,
            backend=backend.info.backend,
            model_id=backend.info.id,
            generation=gen_dict,
            output=output,
            scores=scores,
            primary=scorer_name,
            error=error,
            started_at=started,
            latency_s=time.perf_counter() - t0,
        ).to_dict()
        writer.write(record)
        if progress:
            progress.update(record)

    window = asyncio.Semaphore(max(4, 2 * max_connections))
    pending: set[asyncio.Task[None]] = set()
    # Ray actors dispatch their own share; locally the task's prefix_key hook orders the queue.
    dispatcher = scheduling.dispatcher_for([] if executor == "ray" else todo, order, task, ctx.tokenizer)
    wake = asyncio.Event()

    async def guarded(sample: Sample) -> None:
        try:
            await one(sample)
        finally:
            dispatcher.done(sample)
            wake.set()
            window.release()

    try:
        if executor == "ray" and todo:
            from lara.executors.ray_executor import run_on_ray

            await run_on_ray(spec, todo, writer.write, order=order, max_connections=max_connections,
                             log_prompts=log_prompts, use_cache=use_cache, progress=progress)
        while True:
            await window.acquire()
            sample = await scheduling.adispatch(dispatcher, wake)
            if sample is None:
                window.release()
                break
            t = asyncio.create_task(guarded(sample))
            pending.add(t)
            t.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*list(pending))
    finally:
        for t in list(pending):
            t.cancel()
        writer.close()
        if progress:
            progress.stop()
        summary = summarize(store.read_records(samples_path), expected=len(all_samples))
        summary["run_id"] = run_id
        if isinstance(model_backend, CachedBackend):
            summary["model_calls_this_invocation"] = model_backend.calls
            summary["cache_hits_this_invocation"] = model_backend.hits
        usage = getattr(scorer, "usage", None)
        if callable(usage):
            summary["judge_usage_this_invocation"] = usage()  # kept apart from the model's usage
        store.write_json_atomic(run_dir / store.SUMMARY_JSON, summary)
        if cache:
            cache.close()
    return RunResult(run_dir=run_dir, summary=summary, records_written=writer.written)


def run(spec: RunSpec, **kwargs: Any) -> RunResult:
    """Synchronous wrapper around :func:`run_async` for scripts and the CLI."""
    return asyncio.run(run_async(spec, **kwargs))
