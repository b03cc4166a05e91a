"""Pairwise comparison of two runs' answers to the same samples (e.g. LC vs RAG) with a judge.

Every pair is judged in both orders (lara.judging.pairwise). Per category we report wins (A
better), ties, losses, unparsed/error pairs (excluded from the rates, never counted as losses),
the conflict rate, and the win rate (wins + ties/2) / judged with a percentile bootstrap 95%
interval over samples.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lara.judging.pairwise import PairVerdict, judge_pair
from lara.judging.records import question_of, read_records, task_questions

ALL = "all"


@dataclass(frozen=True)
class CompareRow:
    category: str
    n: int  # judged (status ok)
    wins: int
    ties: int
    losses: int
    unparsed: int
    errors: int
    conflicts: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def conflict_rate(self) -> float | None:
        return self.conflicts / self.n if self.n else None


@dataclass
class CompareResult:
    rows: list[CompareRow]
    pairs: list[dict[str, Any]] = field(default_factory=list)
    only_in_one: int = 0
    missing_answer: int = 0
    usage: dict[str, int] = field(default_factory=dict)


def bootstrap_ci(outcomes: list[float], n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile bootstrap of the mean; seeded so a report is reproducible."""
    if not outcomes:
        return None
    rng = random.Random(seed)
    n = len(outcomes)
    means = sorted(sum(outcomes[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    lo = means[int((alpha / 2) * (n_boot - 1))]
    hi = means[int((1 - alpha / 2) * (n_boot - 1))]
    return lo, hi


def summarise(category: str, verdicts: list[PairVerdict], n_boot: int = 2000, seed: int = 0) -> CompareRow:
    ok = [v for v in verdicts if v.status == "ok"]
    wins = sum(v.label == 1 for v in ok)
    losses = sum(v.label == 2 for v in ok)
    ties = len(ok) - wins - losses
    outcomes = [1.0 if v.label == 1 else 0.0 if v.label == 2 else 0.5 for v in ok]
    ci = bootstrap_ci(outcomes, n_boot, seed)
    return CompareRow(
        category, len(ok), wins, ties, losses,
        sum(v.status == "unparsed" for v in verdicts), sum(v.status == "error" for v in verdicts),
        sum(v.conflict for v in ok),
        sum(outcomes) / len(outcomes) if outcomes else None,
        ci[0] if ci else None, ci[1] if ci else None,
    )


async def compare_runs(run_a: Path | str, run_b: Path | str, judge: Any, *, fmt: str = "pandalm",
                       use_reference: bool = False, by: str = "category", concurrency: int = 8,
                       n_boot: int = 2000, seed: int = 0,
                       progress: Callable[[], None] | None = None) -> CompareResult:
    """Judge A's answer vs B's answer for every sample id present in both runs (each run's latest
    record per sample)."""
    recs_a = {r.sample_id: r for r in read_records(run_a)}
    recs_b = {r.sample_id: r for r in read_records(run_b)}
    common = [sid for sid in recs_a if sid in recs_b]
    only = len(set(recs_a) ^ set(recs_b))
    pairs = [sid for sid in common if recs_a[sid].answer is not None and recs_b[sid].answer is not None]
    missing = len(common) - len(pairs)
    questions: dict[str, str] = {}
    if any(question_of(recs_a[s]) is None for s in pairs):
        questions = task_questions(Path(run_a) if Path(run_a).is_dir() else Path(run_a).parent)
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(sid: str) -> tuple[str, PairVerdict]:
        a, b = recs_a[sid], recs_b[sid]
        q = question_of(a) or question_of(b) or questions.get(sid) or ""
        ref = "\n".join(a.references) if use_reference else None
        async with sem:
            v = await judge_pair(judge, q, a.answer or "", b.answer or "", reference=ref or None, fmt=fmt)
        if progress:
            progress()
        return sid, v

    results = await asyncio.gather(*(one(s) for s in pairs))
    groups: dict[str, list[PairVerdict]] = {}
    out_pairs = []
    for sid, v in results:
        rec = recs_a[sid]
        cat = str(getattr(rec, by, None) or (rec.metadata or {}).get(by) or "-")
        groups.setdefault(cat, []).append(v)
        out_pairs.append({"sample_id": sid, by: cat, **v.to_dict()})
    rows = [summarise(c, vs, n_boot, seed) for c, vs in sorted(groups.items())]
    rows.append(summarise(ALL, [v for _, v in results], n_boot, seed))
    usage = judge.usage.as_dict() if hasattr(judge, "usage") else {}
    return CompareResult(rows, out_pairs, only, missing, usage)
