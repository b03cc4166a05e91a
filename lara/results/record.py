"""The result record: one flat JSON line per (sample × run spec).

Schema (version 1). Top-level keys, all present on every line (null when not applicable):

- ``schema_version`` int, ``lara_version`` str, ``run_id`` str, ``spec_hash`` str
- ``task`` str, ``task_version`` str, ``sample_id`` str, ``question`` str
- ``category`` str|null, ``context_type`` str|null, ``length`` str|null (length bucket, e.g. "32k"),
  ``metadata`` object (every task-specific field)
- ``runner`` str (registered name), ``runner_label`` str (preset name, e.g. rag-lara), ``runner_params`` object, ``retriever`` str|null
- ``model`` str, ``backend`` str, ``model_id`` str, ``generation`` object
- ``steps`` list of {kind, query, retrieved:[{chunk_id, score, rank}], prompt_hash, input_tokens,
  output_tokens, latency_s, cached, output, prompt}
- ``n_calls`` int, ``input_tokens`` int, ``output_tokens`` int, ``effective_context_tokens`` int
- ``truncation`` {policy, original_tokens, kept_tokens, dropped_tokens}|null, ``skipped`` str|null
- ``answer`` str|null, ``references`` list[str]
- ``scores`` object name -> {value, status, explanation, scorer, details}
- ``score`` float|null (the primary score's value), ``score_name`` str|null,
  ``score_status`` "ok"|"unparsed"|"error"|"skipped"|null
- ``error`` {type, message, retries, kind}|null (kind e.g. rate_limit, upstream_failure)
- ``cached`` bool (every model call was a cache hit), ``latency_s`` float
- ``started_at`` / ``finished_at`` ISO-8601 UTC, ``extra`` object (runner-specific diagnostics)

Load with ``pandas.read_json(path, lines=True)`` or DuckDB ``read_json_auto``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

from lara import __version__
from lara.types import ErrorInfo, RunOutput, Sample, Score, to_dict

SCHEMA_VERSION = 1


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def build_record(
    *,
    run_id: str,
    spec_hash: str,
    task: str,
    task_version: str,
    sample: Sample,
    runner: str,
    runner_label: str | None = None,
    runner_params: Mapping[str, Any],
    model: str,
    backend: str,
    model_id: str,
    generation: Mapping[str, Any],
    output: RunOutput | None,
    scores: list[Score],
    primary: str | None,
    error: ErrorInfo | None,
    started_at: str,
    latency_s: float,
) -> dict[str, Any]:
    meta = dict(sample.metadata)
    steps = [to_dict(s) for s in output.steps] if output else []
    calls = [s for s in (output.steps if output else ()) if s.kind != "retrieve"]
    prim = next((s for s in scores if s.name == primary), scores[0] if scores else None)
    return {
        "schema_version": SCHEMA_VERSION,
        "lara_version": __version__,
        "run_id": run_id,
        "spec_hash": spec_hash,
        "task": task,
        "task_version": task_version,
        "sample_id": sample.id,
        "question": sample.question,
        "category": meta.get("category"),
        "context_type": meta.get("context_type"),
        "length": meta.get("length"),
        "metadata": meta,
        "runner": runner,
        "runner_label": runner_label or runner,
        "runner_params": dict(runner_params),
        "retriever": runner_params.get("retriever"),
        "model": model,
        "backend": backend,
        "model_id": model_id,
        "generation": dict(generation),
        "steps": steps,
        "n_calls": len(calls),
        "input_tokens": sum(s.input_tokens for s in calls),
        "output_tokens": sum(s.output_tokens for s in calls),
        "effective_context_tokens": output.effective_context_tokens if output else 0,
        "truncation": to_dict(output.truncation) if output and output.truncation else None,
        "skipped": output.skipped if output else None,
        "answer": output.answer if output else None,
        "references": list(sample.references),
        "scores": {s.name: {k: v for k, v in to_dict(s).items() if k != "name"} for s in scores},
        "score": prim.value if prim else None,
        "score_name": prim.name if prim else None,
        "score_status": prim.status if prim else None,
        "error": to_dict(error) if error else None,
        "cached": bool(calls) and all(s.cached for s in calls),
        "latency_s": round(latency_s, 4),
        "started_at": started_at,
        "finished_at": utc_now(),
        "extra": to_dict(output.extra) if output else {},
    }
