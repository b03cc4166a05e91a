"""``run(spec, options)``: prepare -> open the run folder -> dispatch -> finalize.

Promises (docs/architecture.md): a rerun of a finished spec makes 0 model calls; a killed run loses
at most the in-flight samples and never duplicates a line; failures become records; samples that
share a document are dispatched together (prefix-cache friendly).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from lara import sharding
from lara.config import RunSpec
from lara.engine.budget import budget_skipped_ids
from lara.engine.dispatch import dispatch_local
from lara.engine.options import Progress, RunOptions, RunResult
from lara.engine.prepare import Prepared, prepare
from lara.errors import DataError
from lara.results import store
from lara.results.collect import latest_per_sample
from lara.results.record import Record, utc_now
from lara.results.summary import environment, summarize
from lara.secrets import origin_of
from lara.types import Sample, to_dict

log = logging.getLogger(__name__)


def load_samples(task: Any, limit: int | None) -> list[Sample]:
    """The task's samples (the first ``limit``); duplicate ids are a data error."""
    out: list[Sample] = []
    seen: set[str] = set()
    for s in task.samples():
        if s.id in seen:
            raise DataError(f"task {task.name!r} yields duplicate sample id {s.id!r}")
        seen.add(s.id)
        out.append(s)
        if limit is not None and len(out) >= limit:
            break
    return out


def run_dir_for(prepared: Prepared) -> Path:
    return prepared.options.output_root / sharding.shard_dir_name(prepared.run_id, prepared.options.shard)


def write_run_json(prepared: Prepared, run_dir: Path) -> None:
    previous = store.read_run_json(run_dir)
    spec, options = prepared.spec, prepared.options
    store.write_json_atomic(run_dir / store.RUN_JSON, {
        "run_id": prepared.run_id,
        "spec_hash": prepared.spec_hash,
        "spec": spec.to_json(),
        "task_version": getattr(prepared.task, "version", ""),
        "data_revision": getattr(prepared.task, "data_revision", None),
        "model_info": to_dict(prepared.backend.info),
        "scorer": prepared.scorer_name,
        "strategy": prepared.strategy,
        "order": prepared.order.name,
        "order_params": prepared.order.to_json(),
        "shard": list(options.shard) if options.shard else None,
        "executor": options.executor,
        # the endpoints and key variables the run was created with: `lara resume` refuses others
        "origin": previous.get("origin") or origin_of(spec.to_json()),
        "created_at": previous.get("created_at", utc_now()),
        "updated_at": utc_now(),
        "environment": environment(),
    })


def finalize(prepared: Prepared, run_dir: Path, expected: int, counters: dict[str, int],
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json from every record of the run folder (this invocation's calls counted apart)."""
    records = latest_per_sample(Record.from_dict(d) for d in store.read_records(run_dir / store.SAMPLES))
    summary = summarize(records, expected=expected)
    summary["run_id"] = prepared.run_id
    summary["model_calls_this_invocation"] = counters.get("model_calls", 0)
    summary["cache_hits_this_invocation"] = counters.get("cache_hits", 0)
    usage = getattr(prepared.scorer, "usage", None)
    if callable(usage):
        summary["judge_usage_this_invocation"] = usage()  # kept apart from the model's usage
    summary.update(extra or {})
    store.write_json_atomic(run_dir / store.SUMMARY_JSON, summary)
    return summary


@dataclass
class OpenRun:
    """A locked run folder ready for records: what is left to do (resume) and its single writer."""

    prepared: Prepared
    run_dir: Path
    expected: int
    todo: list[Sample]
    attempts: dict[str, int]
    writer: store.JsonlWriter
    lock: Any

    def close(self, counters: dict[str, Any]) -> RunResult:
        """Close the writer, write summary.json (counters besides the call counts, e.g. what an
        executor ran where, go into it as they are) and release the folder."""
        try:
            with store.results_errors(self.run_dir):
                self.writer.close()
                extra = {k: v for k, v in counters.items() if k not in ("model_calls", "cache_hits")}
                summary = finalize(self.prepared, self.run_dir, self.expected, counters, extra)
            return RunResult(run_dir=self.run_dir, summary=summary, records_written=self.writer.written)
        finally:
            self.lock.release()

    def abandon(self) -> None:
        """After a write failure: close quietly and release the folder (resume continues later)."""
        try:
            self.writer.close()
        except OSError:
            pass
        self.lock.release()


def open_run(prepared: Prepared, samples: Iterable[Sample] | None = None) -> OpenRun:
    """Lock and create or reopen the run folder: the samples still to do (resume skips written ids;
    with ``retry_errors`` error records run again; samples a spending cap stopped always run again),
    run.json, and the writer. A second process on the folder gets exit 2 with this one's pid."""
    options = prepared.options
    all_samples = list(samples) if samples is not None else load_samples(prepared.task, prepared.spec.limit)
    all_samples = sharding.select_shard(all_samples, options.shard)
    run_dir = run_dir_for(prepared)
    with store.results_errors(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = store.RunLock(run_dir).acquire()
    samples_path = run_dir / store.SAMPLES
    try:
        with store.results_errors(run_dir):
            written = store.scan(samples_path)
            write_run_json(prepared, run_dir)
            writer = store.JsonlWriter(samples_path)
        retry = {sid for sid, e in written.items() if e.error} if options.retry_errors else set()
        retry |= budget_skipped_ids(samples_path)
        if options.budget is not None:
            options.budget.add_prior(samples_path)
    except BaseException:
        lock.release()
        raise
    todo = [s for s in all_samples if s.id not in written or s.id in retry]
    attempts = {sid: written[sid].attempt + 1 for sid in retry if sid in written}
    return OpenRun(prepared, run_dir, len(all_samples), todo, attempts, writer, lock)


async def run_prepared(prepared: Prepared, *, progress: Progress | None = None,
                       samples: Iterable[Sample] | None = None) -> RunResult:
    """Run an already prepared spec (the caller closes ``prepared``).

    The run folder is locked for the whole run. An OSError on the folder (read-only, disk full)
    stops the run cleanly: the in-flight samples are cancelled, the records written so far stay, and
    one ResultsError names the path and errno; a later run of the same spec resumes from there.
    """
    options = prepared.options
    opened = open_run(prepared, samples)
    todo, attempts = opened.todo, opened.attempts
    if progress:
        progress.start(opened.expected, opened.expected - len(todo))
    failed: list[OSError] = []

    def sink(record: Record) -> None:
        if failed:
            return  # stopping: this sample runs again on resume
        try:
            opened.writer.write(record)
        except OSError as exc:
            failed.append(exc)
            work.cancel()  # cancels the in-flight samples; their tasks end quietly
            return
        if progress:
            progress.update(record)

    async def dispatch() -> dict[str, Any] | None:
        if options.executor in ("ray", "ray-data") and todo:
            from lara.executors import execute

            return await execute(prepared, todo, sink, attempts=attempts, run_dir=opened.run_dir)
        return await dispatch_local(prepared, todo, sink, attempts=attempts, run_dir=opened.run_dir)

    counters: dict[str, Any] | None = None
    work = asyncio.ensure_future(dispatch())
    try:
        try:
            counters = await work
        except asyncio.CancelledError:
            if not failed:
                raise
        if failed:
            with store.results_errors(opened.run_dir / store.SAMPLES):
                raise failed[0]
    finally:
        if progress:
            progress.stop()
        if failed:
            opened.abandon()
        else:
            result = opened.close(counters if counters is not None else prepared.counters())
    return result


async def run_async(spec: RunSpec, options: RunOptions | None = None, *, progress: Progress | None = None,
                    backend: Any = None, samples: Iterable[Sample] | None = None, limits: Any = None,
                    **option_kwargs: Any) -> RunResult:
    """Run one spec. Options come as a :class:`RunOptions` or as its field names (``output_root=``,
    ``max_connections=``, ``use_cache=``, ``shard=``, ``executor=``...). ``backend`` is a model the
    caller owns; ``samples`` replaces the task's own sample list."""
    options = RunOptions.from_kwargs(options, **option_kwargs)
    prepared = prepare(spec, options, backend=backend, limits=limits)
    async with prepared.stack:
        return await run_prepared(prepared, progress=progress, samples=samples)


def run(spec: RunSpec, options: RunOptions | None = None, **kwargs: Any) -> RunResult:
    """Synchronous wrapper around :func:`run_async` for scripts and the CLI."""
    return asyncio.run(run_async(spec, options, **kwargs))
