"""Re-score a saved run with any scorer (typically an LLM judge) without calling the evaluated model.

Writes ``samples.scored-<scorer>-<judge>.jsonl`` beside the original ``samples.jsonl``, which is
never touched. Resumable: finished records go line by line into ``<new>.partial``; a rerun reuses
every record already scored ok/unparsed (errors are retried) from the partial or final file, so a
completed rescore makes 0 judge calls the second time. The final file is written as tmp +
``os.replace`` and then the partial is removed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
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
from lara.types import Score, to_dict

DONE_STATUSES = ("ok", "unparsed")  # errors and skips are retried (they cost no judge call or are transient)


@dataclass
class RescoreResult:
    path: Path
    counts: dict[str, int]  # by status over the whole new file
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


def apply_score(rec: dict[str, Any], score: Score) -> dict[str, Any]:
    """New record = old record + scores[<name>] and the primary score fields pointing at it."""
    new = dict(rec)
    new["scores"] = {**(rec.get("scores") or {}),
                     score.name: {k: v for k, v in to_dict(score).items() if k != "name"}}
    new["score"], new["score_name"], new["score_status"] = score.value, score.name, score.status
    return new


def _done(rec: dict[str, Any], name: str) -> bool:
    s = (rec.get("scores") or {}).get(name)
    return bool(s) and s.get("status") in DONE_STATUSES


async def rescore_run(run: Path | str, scorer: Any, *, judge: str | None = None, out: Path | None = None,
                      concurrency: int = 8, progress: Callable[[], None] | None = None) -> RescoreResult:
    src = samples_path(run)
    run_dir = src.parent
    name = scorer.name
    final = out or output_path(run_dir, name, judge)
    if final.resolve() == src.resolve():
        raise ValueError("refusing to overwrite the original samples.jsonl")
    partial = final.with_name(final.name + ".partial")
    originals = list(read_records(src))

    done: dict[str, dict[str, Any]] = {}
    for f in (final, partial):
        if f.exists():
            done.update({r["sample_id"]: r for r in read_jsonl_tolerant(f) if _done(r, name)})
    keep = [done[r["sample_id"]] for r in originals if r["sample_id"] in done]
    write_jsonl_atomic(partial, keep)  # partial now holds exactly the reusable records
    todo = [r for r in originals if r["sample_id"] not in done]

    questions: dict[str, str] = {}
    if any(question_of(r) is None for r in todo):
        questions = task_questions(run_dir)

    sem = asyncio.Semaphore(max(1, concurrency))
    new: dict[str, dict[str, Any]] = {}
    with open(partial, "a", encoding="utf-8") as fh:

        async def one(rec: dict[str, Any]) -> None:
            sample = to_sample(rec, questions.get(str(rec["sample_id"])))
            async with sem:
                if not sample.question and getattr(scorer, "needs_judge", False):
                    score = Score(name, None, "skipped", "record has no question text", name)
                else:
                    score = await scorer.score(sample, to_output(rec))
            out_rec = apply_score(rec, score)
            new[rec["sample_id"]] = out_rec
            fh.write(json.dumps(out_rec, ensure_ascii=False) + "\n")  # single writer: the event loop
            fh.flush()
            if progress:
                progress()

        await asyncio.gather(*(one(r) for r in todo))

    merged = [new.get(r["sample_id"]) or done[r["sample_id"]] for r in originals]
    write_jsonl_atomic(final, merged)
    partial.unlink(missing_ok=True)

    counts = {s: 0 for s in ("ok", "unparsed", "error", "skipped")}
    values = []
    for r in merged:
        s = r["scores"][name]
        counts[s["status"]] = counts.get(s["status"], 0) + 1
        if s["status"] == "ok" and s.get("value") is not None:
            values.append(float(s["value"]))
    usage = scorer.usage() if hasattr(scorer, "usage") else {}
    return RescoreResult(final, counts, len(todo), len(keep),
                         sum(values) / len(values) if values else None, usage)
