"""Re-score a saved run with any scorer (typically an LLM judge) without calling the evaluated model.

A sample is scored by :func:`lara.engine.score_output`, the scoring half of the engine's
``evaluate_sample``: a re-score and a run score a sample by the same code (a length-skipped sample
stays ``skipped``, a scorer exception becomes status ``error``). A record whose run failed has no
answer to score and is copied unchanged. The input is a run's latest record per sample.

Writes ``samples.scored-<scorer>-<judge>.jsonl`` beside the original ``samples.jsonl``, which is
never touched. Resumable: finished records go line by line into ``<new>.partial``; a rerun reuses
every record already scored ok/unparsed (errors are retried) from the partial or final file, so a
completed rescore makes 0 judge calls the second time. The final file is written as tmp +
``os.replace`` and then the partial is removed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from lara.judging.records import (
    question_of,
    read_jsonl_tolerant,
    read_records,
    samples_path,
    slug,
    task_questions,
    to_output,
    to_sample,
    write_jsonl_atomic,
)
from lara.results.record import Record
from lara.types import Score, to_dict

DONE_STATUSES = ("ok", "unparsed")  # errors and skips are retried (they cost no judge call or are transient)
_STATUS_OF = {"correct": "ok", "incorrect": "ok", "unparsed": "unparsed", "error": "error", "skipped": "skipped"}


@dataclass
class RescoreResult:
    path: Path
    counts: dict[str, int]  # ok / unparsed / error / skipped over the whole new file, by Record.outcome
    scored_now: int
    reused: int
    mean: float | None
    usage: dict[str, int] = field(default_factory=dict)


def make_scorer(name: str, *, judge: str | None = None, judge_base_url: str | None = None,
                judge_params: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
                limits: Any = None) -> Any:
    """Instantiate a registered scorer; judge scorers get the judge model (required for them)."""
    from lara.registry import scorers

    factory = scorers.get(name)
    kw = dict(params or {})
    if getattr(factory, "needs_judge", False):
        if not judge:
            raise ValueError(f"scorer {name!r} needs --judge MODEL (it never defaults to the evaluated model)")
        kw.update(judge=judge, judge_base_url=judge_base_url, judge_params=dict(judge_params or {}), limits=limits)
    return factory(**kw)


def output_path(run_dir: Path, scorer_name: str, judge: str | None) -> Path:
    tag = slug(f"{scorer_name}-{judge}" if judge else scorer_name)
    return run_dir / f"samples.scored-{tag}.jsonl"


def apply_score(rec: Record, score: Score) -> Record:
    """New record = old record + scores[<name>] and the primary score fields pointing at it."""
    scores = {**(rec.scores or {}), score.name: {k: v for k, v in to_dict(score).items() if k != "name"}}
    return replace(rec, scores=scores, score=score.value, score_name=score.name, score_status=score.status)


def _done(rec: Record, name: str) -> bool:
    s = (rec.scores or {}).get(name)
    return s is not None and s.get("status") in DONE_STATUSES


def _reusable(path: Path, name: str) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for d in read_jsonl_tolerant(path):
        try:
            rec = Record.from_dict(d)
        except (TypeError, ValueError):
            continue  # a line of another writer: score that sample again
        if _done(rec, name):
            out[rec.sample_id] = rec
    return out


async def score_record(rec: Record, scorer: Any, name: str, question: str | None = None) -> Record:
    """One saved record re-scored the way ``lara run`` scores it."""
    from lara.engine import score_output

    if rec.error:
        return rec  # the run failed: no answer to score, the record stays an error
    sample = to_sample(rec, question)
    if not sample.question and getattr(scorer, "needs_judge", False):
        score = Score(name, None, "skipped", "record has no question text", name)
    else:
        score = await score_output(sample, to_output(rec), scorer, name)
    return apply_score(rec, score)


async def rescore_run(run: Path | str, scorer: Any, *, judge: str | None = None, out: Path | None = None,
                      concurrency: int = 8, progress: Callable[[], None] | None = None) -> RescoreResult:
    src = samples_path(run)
    run_dir = src.parent
    name = scorer.name
    final = out or output_path(run_dir, name, judge)
    if final.resolve() == src.resolve():
        raise ValueError("refusing to overwrite the original samples.jsonl")
    partial = final.with_name(final.name + ".partial")
    originals = read_records(src)

    done: dict[str, Record] = {}
    for f in (final, partial):
        if f.exists():
            done.update(_reusable(f, name))
    keep = [done[r.sample_id] for r in originals if r.sample_id in done]
    write_jsonl_atomic(partial, [r.to_dict() for r in keep])  # partial now holds exactly the reusable records
    todo = [r for r in originals if r.sample_id not in done]

    questions: dict[str, str] = {}
    if any(question_of(r) is None for r in todo):
        questions = task_questions(run_dir)

    sem = asyncio.Semaphore(max(1, concurrency))
    new: dict[str, Record] = {}
    with open(partial, "a", encoding="utf-8") as fh:

        async def one(rec: Record) -> None:
            async with sem:
                out_rec = await score_record(rec, scorer, name, questions.get(rec.sample_id))
            new[rec.sample_id] = out_rec
            fh.write(json.dumps(out_rec.to_dict(), ensure_ascii=False) + "\n")  # single writer: the event loop
            fh.flush()
            if progress:
                progress()

        await asyncio.gather(*(one(r) for r in todo))

    merged = [new.get(r.sample_id) or done[r.sample_id] for r in originals]
    write_jsonl_atomic(final, [r.to_dict() for r in merged])
    partial.unlink(missing_ok=True)

    counts = {s: 0 for s in ("ok", "unparsed", "error", "skipped")}
    values = []
    for r in merged:
        counts[_STATUS_OF[r.outcome]] += 1
        if r.value is not None:
            values.append(r.value)
    usage = scorer.usage() if hasattr(scorer, "usage") else {}
    return RescoreResult(final, counts, len(todo), len(keep),
                         sum(values) / len(values) if values else None, usage)
