"""Reading saved result records back into (Sample, RunOutput) for judging, and atomic JSONL writes.

The record schema (lara/results/record.py) keeps references and metadata but not always the
question text; when a record lacks it we rebuild the task from run.json (data on disk, no model
call) and take the question from there.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from lara.errors import ResultsError
from lara.results import store
from lara.results.record import Record
from lara.types import RunOutput, Sample

log = logging.getLogger(__name__)


def samples_path(run: Path | str) -> Path:
    p = Path(run)
    return p if p.is_file() else p / store.SAMPLES


def read_records(path: Path | str) -> list[Record]:
    """Records of one run (a run folder or a samples file, not a folder of runs): the latest record
    per sample id, as every view counts them (:func:`lara.results.collect.read_run`)."""
    from lara.results.collect import read_run

    src = samples_path(path)
    if not src.exists():
        raise ResultsError(f"no such run folder or samples file: {path}")
    return list(read_run(src).records)


def read_jsonl_tolerant(path: Path) -> Iterator[dict[str, Any]]:
    """Lines of a file that may end with a partial line (an interrupted writer): skip bad lines."""
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                log.warning("%s:%d: unreadable line skipped", path, i)


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write to ``<path>.tmp`` then ``os.replace``: readers never see a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def slug(text: str) -> str:
    """``openai:gpt-4o`` → ``openai-gpt-4o`` (safe in a file name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "judge"


def question_of(rec: Record) -> str | None:
    meta = rec.metadata or {}
    for q in (rec.question, meta.get("question"), meta.get("query")):
        if isinstance(q, str) and q:
            return q
    return None


def task_questions(run_dir: Path) -> dict[str, str]:
    """Questions rebuilt from the task named in run.json (reads data files only). {} if impossible."""
    run_json = run_dir / "run.json"
    if not run_json.exists():
        return {}
    try:
        meta = json.loads(run_json.read_text(encoding="utf-8"))
        spec = meta.get("spec", meta)
        from lara.registry import tasks

        task = tasks.get(spec["task"])(**dict(spec.get("task_params") or {}))
        return {s.id: s.question for s in task.samples()}
    except Exception as exc:  # best effort: the caller reports samples without a question
        log.warning("%s: could not rebuild questions from the task: %s", run_dir, exc)
        return {}


def to_sample(rec: Record, question: str | None = None) -> Sample:
    meta = dict(rec.metadata or {})
    for k in ("category", "context_type", "length"):
        if getattr(rec, k) is not None:
            meta.setdefault(k, getattr(rec, k))
    return Sample(
        id=rec.sample_id,
        question=question or question_of(rec) or "",
        references=tuple(rec.references),
        metadata=meta,
    )


def to_output(rec: Record) -> RunOutput:
    """The run's output as the scorer saw it in ``lara run`` (answer, context size, length skip)."""
    return RunOutput(answer=rec.answer, effective_context_tokens=rec.effective_context_tokens or 0,
                     skipped=rec.skipped)
