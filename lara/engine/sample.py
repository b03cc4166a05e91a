"""``evaluate_sample(sample, prepared) -> Record``: the one path every sample takes.

Used by the local dispatcher and by Ray workers; its scoring half (:func:`score_output`) is what
``lara score`` applies to saved answers. Failures are data: a runner exception becomes the record's
``error``, a scorer exception a score with status ``error``, a length skip a ``skipped`` record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from lara.engine.prepare import Prepared
from lara.protocols import REQUEST, RequestContext
from lara.results.record import Record, build_record, utc_now
from lara.scheduling import document_key
from lara.tokens import SkipSample
from lara.types import ErrorInfo, RunOutput, Sample, Score

log = logging.getLogger(__name__)


async def score_output(sample: Sample, output: RunOutput, scorer: Any, scorer_name: str) -> Score:
    """Score one answer: a skipped output is ``skipped``; a scorer exception is status ``error``."""
    if output.skipped:
        return Score(scorer_name, None, "skipped", output.skipped, scorer_name)
    try:
        return await scorer.score(sample, output)  # type: ignore[no-any-return]
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - failures are data
        log.debug("scoring %s failed", sample.id, exc_info=True)
        return Score(scorer_name, None, "error", f"{type(exc).__name__}: {exc}", scorer_name)


def error_info(exc: BaseException) -> ErrorInfo:
    return ErrorInfo(type(exc).__name__, str(exc), int(getattr(exc, "retries", 0) or 0), getattr(exc, "kind", None))


async def evaluate_sample(sample: Sample, prepared: Prepared, *, attempt: int = 1) -> Record:
    """Run, score and describe one sample. Backends see the sample id and its document key (for
    replica affinity) in the request context for the duration of the call."""
    token = REQUEST.set(RequestContext(sample_id=sample.id, affinity=document_key(sample)))
    started, t0 = utc_now(), time.perf_counter()
    output: RunOutput | None = None
    error: ErrorInfo | None = None
    scores: list[Score] = []
    try:
        try:
            output = await prepared.runner.run(sample, prepared.ctx)
        except SkipSample as exc:
            output = RunOutput(answer=None, truncation=exc.report, skipped="context_too_long")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - failures are data
            log.debug("sample %s failed", sample.id, exc_info=True)
            error = error_info(exc)
        if output is not None:
            scores = [await score_output(sample, output, prepared.scorer, prepared.scorer_name)]
    finally:
        REQUEST.reset(token)
    return _record(prepared, sample, output, scores, error, started, time.perf_counter() - t0, attempt)


def skipped_record(sample: Sample, prepared: Prepared, reason: str, *, attempt: int = 1) -> Record:
    """The record of a sample the engine chose not to start (e.g. ``budget``: a spending cap)."""
    output = RunOutput(answer=None, skipped=reason)
    score = Score(prepared.scorer_name, None, "skipped", reason, prepared.scorer_name)
    return _record(prepared, sample, output, [score], None, utc_now(), 0.0, attempt)


def _record(prepared: Prepared, sample: Sample, output: RunOutput | None, scores: list[Score],
            error: ErrorInfo | None, started: str, latency_s: float, attempt: int) -> Record:
    spec = prepared.spec
    info = prepared.backend.info
    return build_record(
        run_id=prepared.run_id,
        spec_hash=prepared.spec_hash,
        task=prepared.task_label,
        task_version=str(getattr(prepared.task, "version", "")),
        sample=sample,
        runner=spec.runner,
        runner_label=prepared.runner_label,
        strategy=prepared.strategy,
        runner_params=spec.runner_params,
        model=spec.model,
        backend=info.backend,
        model_id=info.id,
        generation=prepared.generation,
        output=output,
        scores=scores,
        primary=prepared.scorer_name,
        error=error,
        started_at=started,
        latency_s=latency_s,
        attempt=attempt,
    )
