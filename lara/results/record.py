"""The result record: one flat JSON line per (sample × run spec).

Schema (version 2; version 1 lines are read too: see :meth:`Record.from_dict`). Top-level keys, all present on every line (null when not applicable):

- ``schema_version`` int, ``lara_version`` str, ``run_id`` str, ``spec_hash`` str
- ``task`` str, ``task_version`` str, ``sample_id`` str, ``question`` str
- ``category`` str|null, ``context_type`` str|null, ``length`` str|null (length bucket, e.g. "32k"),
  ``metadata`` object (every task-specific field)
- ``runner`` str (registered name), ``runner_label`` str (preset name, e.g. rag-lara), ``strategy`` str
  (``long_context|rag|iterative_rag|self_route|none``, from the runner class), ``runner_params`` object,
  ``retriever`` str|null
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
- ``attempt`` int (1 for the first record of a sample in a run; a retried sample appends a record
  with the next number, and readers take the latest per sample id)

How a record counts is decided once, by :attr:`Record.outcome`.

Load with ``pandas.read_json(path, lines=True)`` or DuckDB ``read_json_auto``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from lara import __version__
from lara.types import ErrorInfo, RunOutput, Sample, Score, to_dict

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
Outcome = Literal["correct", "incorrect", "unparsed", "error", "skipped"]
OUTCOMES: tuple[str, ...] = ("correct", "incorrect", "unparsed", "error", "skipped")
# Schema 1 lines carry no strategy: it follows from the registered runner name (runners of that
# release), which is all a v1 reader can know.
_V1_STRATEGY = {
    "long_context": "long_context", "lc": "long_context", "rag": "rag", "drag": "iterative_rag",
    "iterdrag": "iterative_rag", "self_route": "self_route", "no_context": "none",
}


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Record:
    """One result line, typed. Standard library only so that :mod:`lara.routing` can read runs.

    Nested parts (``steps``, ``scores``, ``truncation``, ``metadata``...) stay plain JSON mappings:
    they are written and read as they are, and analysts see the same shape in pandas.
    """

    run_id: str
    sample_id: str
    task: str = ""
    spec_hash: str = ""
    task_version: str = ""
    question: str = ""
    category: str | None = None
    context_type: str | None = None
    length: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    runner: str = ""
    runner_label: str = ""
    strategy: str = "none"
    runner_params: Mapping[str, Any] = field(default_factory=dict)
    retriever: str | None = None
    model: str = ""
    backend: str = ""
    model_id: str = ""
    generation: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[Mapping[str, Any], ...] = ()
    n_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    effective_context_tokens: int = 0
    truncation: Mapping[str, Any] | None = None
    skipped: str | None = None
    answer: str | None = None
    references: tuple[str, ...] = ()
    scores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    score: float | None = None
    score_name: str | None = None
    score_status: str | None = None
    error: Mapping[str, Any] | None = None
    cached: bool = False
    latency_s: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    schema_version: int = SCHEMA_VERSION
    lara_version: str = __version__

    # -- how a record counts: the one rule every view uses ----------------------------------
    def classify(self, threshold: float = 0.5) -> Outcome:
        """``error`` (the run or the scorer failed) before ``skipped`` (excluded on purpose, e.g.
        too long) before ``unparsed`` (a judge reply that could not be read); otherwise ``correct``
        when the primary score is at least ``threshold``, else ``incorrect``."""
        status = self.score_status
        if self.error or status == "error":
            return "error"
        if self.skipped or status == "skipped":
            return "skipped"
        if status == "unparsed":
            return "unparsed"
        if status != "ok" or self.score is None:
            return "error"  # no usable score is a failure the reader must see, never a silent drop
        return "correct" if self.score >= threshold else "incorrect"

    @property
    def outcome(self) -> Outcome:
        """:meth:`classify` at the default threshold 0.5 (scores in [0, 1])."""
        return self.classify()

    @property
    def value(self) -> float | None:
        """The primary score when it counts in a mean (outcome correct or incorrect), else None."""
        return float(self.score) if self.outcome in ("correct", "incorrect") and self.score is not None else None

    @property
    def truncated(self) -> bool:
        return bool(self.truncation and (self.truncation.get("dropped_tokens") or 0) > 0)

    @property
    def error_info(self) -> ErrorInfo | None:
        e = self.error
        if not e:
            return None
        return ErrorInfo(str(e.get("type", "")), str(e.get("message", "")), int(e.get("retries") or 0), e.get("kind"))

    # -- serialisation ------------------------------------------------------------------------
    @classmethod
    def coerce(cls, obj: "Record | Mapping[str, Any]") -> "Record":
        """A Record from a Record or a record dict (identity fields may be missing in hand-built
        analysis rows; they default to empty)."""
        if isinstance(obj, Record):
            return obj
        return cls.from_dict({"run_id": "", "sample_id": "", **obj})

    def to_dict(self) -> dict[str, Any]:
        """The JSON line (schema :data:`SCHEMA_VERSION`), keys in schema order."""
        d = {name: getattr(self, name) for name in _KEYS}
        d["steps"] = [dict(s) for s in self.steps]
        d["references"] = list(self.references)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Record":
        """Read a schema 1 or 2 line; unknown keys are ignored (a newer writer's additions)."""
        version = d.get("schema_version", 1)
        if version not in READABLE_VERSIONS:
            raise ValueError(f"unsupported record schema_version {version!r}; this lara reads {READABLE_VERSIONS}")
        kw = {k: d[k] for k in _FIELDS if k in d and d[k] is not None or k in _NULLABLE and k in d}
        kw["steps"] = tuple(d.get("steps") or ())
        kw["references"] = tuple(d.get("references") or ())
        if version == 1:
            kw["strategy"] = _V1_STRATEGY.get(str(d.get("runner", "")), "none")
            kw["schema_version"] = 1
        if "run_id" not in kw or "sample_id" not in kw:
            raise ValueError("record without run_id or sample_id")
        return cls(**kw)


_FIELDS = tuple(f.name for f in dataclasses.fields(Record))
_NULLABLE = {f.name for f in dataclasses.fields(Record) if "None" in str(f.type)}
# schema order of the JSON line: identity first, as version 1 wrote it
_KEYS = (
    "schema_version", "lara_version", "run_id", "spec_hash", "task", "task_version", "sample_id",
    "question", "category", "context_type", "length", "metadata", "runner", "runner_label", "strategy",
    "runner_params", "retriever", "model", "backend", "model_id", "generation", "steps", "n_calls",
    "input_tokens", "output_tokens", "effective_context_tokens", "truncation", "skipped", "answer",
    "references", "scores", "score", "score_name", "score_status", "error", "cached", "latency_s",
    "started_at", "finished_at", "extra", "attempt",
)
assert set(_KEYS) == set(_FIELDS), set(_KEYS) ^ set(_FIELDS)


def build_record(
    *,
    run_id: str,
    spec_hash: str,
    task: str,
    task_version: str,
    sample: Sample,
    runner: str,
    runner_label: str | None = None,
    strategy: str = "none",
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
    attempt: int = 1,
) -> Record:
    meta = dict(sample.metadata)
    steps = tuple(to_dict(s) for s in output.steps) if output else ()
    calls = [s for s in (output.steps if output else ()) if s.kind != "retrieve"]
    prim = next((s for s in scores if s.name == primary), scores[0] if scores else None)
    return Record(
        run_id=run_id,
        spec_hash=spec_hash,
        task=task,
        task_version=task_version,
        sample_id=sample.id,
        question=sample.question,
        category=meta.get("category"),
        context_type=meta.get("context_type"),
        length=meta.get("length"),
        metadata=meta,
        runner=runner,
        runner_label=runner_label or runner,
        strategy=strategy,
        runner_params=dict(runner_params),
        retriever=runner_params.get("retriever"),
        model=model,
        backend=backend,
        model_id=model_id,
        generation=dict(generation),
        steps=steps,
        n_calls=len(calls),
        input_tokens=sum(s.input_tokens for s in calls),
        output_tokens=sum(s.output_tokens for s in calls),
        effective_context_tokens=output.effective_context_tokens if output else 0,
        truncation=to_dict(output.truncation) if output and output.truncation else None,
        skipped=output.skipped if output else None,
        answer=output.answer if output else None,
        references=tuple(sample.references),
        scores={s.name: {k: v for k, v in to_dict(s).items() if k != "name"} for s in scores},
        score=prim.value if prim else None,
        score_name=prim.name if prim else None,
        score_status=prim.status if prim else None,
        error=to_dict(error) if error else None,
        cached=bool(calls) and all(s.cached for s in calls),
        latency_s=round(latency_s, 4),
        started_at=started_at,
        finished_at=utc_now(),
        extra=to_dict(output.extra) if output else {},
        attempt=attempt,
    )
