"""LaRA-style aggregation table (Li et al., ICML 2025, main table).

The paper's aggregation, reproduced exactly: accuracy per (mode, length, context type, task); per
(mode, length, task) the UNWEIGHTED mean over the context types (book / financial / paper) ×100; the
Overall column is the mean of the four tasks. Records whose score is not ``ok`` (unparsed judge
output, errors, skipped samples) are excluded from the accuracy denominators but counted and shown,
because the original code silently dropped failed judge calls and we want such losses visible.

Input: :class:`~lara.results.record.Record` objects (only the strategy, model, length, context
type, category, score and outcome are read), so the same functions work on engine runs and on
replayed predictions. LC and RAG columns are the ``long_context`` and ``rag`` strategies, which
runner classes declare: a new LC or RAG runner lands in its column with no edit here.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from lara.results.record import Record
from lara.vocabulary import CATEGORIES
from lara.vocabulary import category as category_name

TASKS = CATEGORIES  # the paper's four task columns, in its order
#: The paper table's ``setting`` column (LC / RAG) -> our mode names.
MODE_ALIASES = {"lc": "LC", "long_context": "LC", "full": "LC", "rag": "RAG"}
#: A record's strategy (from its runner class) -> the paper's mode; other strategies are not LaRA modes.
STRATEGY_MODE = {"long_context": "LC", "rag": "RAG"}
LENGTH_ORDER = {"32k": 0, "128k": 1}


def normalise_task(category: str | None) -> str | None:
    """The canonical LaRA category (``comp`` -> ``comparison``); None for anything else."""
    return category_name(category)


def record_mode(record: Record) -> str | None:
    """LC / RAG from the record's strategy (declared by its runner class); None for other runners."""
    return STRATEGY_MODE.get(record.strategy)


@dataclass(frozen=True)
class CellStats:
    """Counts for one (model, mode, length, context type, task) cell."""

    correct: float = 0.0
    judged: int = 0
    unparsed: int = 0
    error: int = 0
    skipped: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.judged if self.judged else None

    def add(self, outcome: str, value: float | None) -> "CellStats":
        if outcome in ("correct", "incorrect"):
            return replace(self, correct=self.correct + float(value or 0.0), judged=self.judged + 1)
        return replace(self, **{outcome: getattr(self, outcome) + 1})


CellKey = tuple[str, str, str, str, str]  # model, mode, length, context_type, task


def cell_stats(records: Iterable[Record | Mapping[str, object]]) -> dict[CellKey, CellStats]:
    """Accuracy counts per (model, mode, length, context type, task); non-LaRA records are ignored.
    How a record counts is :attr:`Record.outcome` (the one rule)."""
    cells: dict[CellKey, CellStats] = defaultdict(CellStats)
    for rec in map(Record.coerce, records):
        mode = record_mode(rec)
        task = normalise_task(rec.category)
        if mode is None or task is None or not rec.length:
            continue
        key = (str(rec.model_id or rec.model or ""), mode, str(rec.length), str(rec.context_type or ""), task)
        cells[key] = cells[key].add(rec.outcome, rec.score)
    return dict(cells)


@dataclass(frozen=True)
class TableRow:
    """One row of the LaRA table: percentages per task (None when no judged sample)."""

    model: str
    length: str
    mode: str  # "LC", "RAG" or "LC-RAG" for a gap row
    location: float | None
    reasoning: float | None
    comparison: float | None
    hallucination: float | None
    overall: float | None
    judged: int = 0
    unparsed: int = 0
    error: int = 0
    skipped: int = 0

    def task(self, name: str) -> float | None:
        return getattr(self, name)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def rows_from_cells(cells: Mapping[CellKey, CellStats]) -> list[TableRow]:
    """Unweighted mean over context types ×100 per task; Overall = mean of the tasks present."""
    groups: dict[tuple[str, str, str], dict[str, list[CellStats]]] = defaultdict(lambda: defaultdict(list))
    for (model, mode, length, _ctype, task), stats in cells.items():
        groups[(model, length, mode)][task].append(stats)
    rows = []
    for (model, length, mode), by_task in groups.items():
        pct: dict[str, float | None] = {}
        for task in TASKS:
            accs = [s.accuracy for s in by_task.get(task, []) if s.accuracy is not None]
            m = _mean(accs)
            pct[task] = None if m is None else 100.0 * m
        present = [v for v in pct.values() if v is not None]
        all_stats = [s for lst in by_task.values() for s in lst]
        rows.append(
            TableRow(
                model=model,
                length=length,
                mode=mode,
                overall=_mean(present),
                judged=sum(s.judged for s in all_stats),
                unparsed=sum(s.unparsed for s in all_stats),
                error=sum(s.error for s in all_stats),
                skipped=sum(s.skipped for s in all_stats),
                **pct,
            )
        )
    return sort_rows(rows)


def aggregate(records: Iterable[Record | Mapping[str, object]]) -> list[TableRow]:
    """Records → LaRA table rows (one per model × length × mode)."""
    return rows_from_cells(cell_stats(records))


def sort_rows(rows: Iterable[TableRow]) -> list[TableRow]:
    mode_order = {"LC": 0, "RAG": 1, "LC-RAG": 2}
    return sorted(rows, key=lambda r: (LENGTH_ORDER.get(r.length, 9), r.length, r.model, mode_order.get(r.mode, 9)))


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def gap_rows(rows: Iterable[TableRow]) -> list[TableRow]:
    """LC − RAG per (model, length) where both modes exist."""
    by_key = {(r.model, r.length, r.mode): r for r in rows}
    out = []
    for (model, length, mode), lc in by_key.items():
        rag = by_key.get((model, length, "RAG"))
        if mode != "LC" or rag is None:
            continue
        vals: dict[str, Any] = {t: _diff(lc.task(t), rag.task(t)) for t in (*TASKS, "overall")}
        out.append(TableRow(model=model, length=length, mode="LC-RAG", **vals))
    return sort_rows(out)


def average_gaps(rows: Iterable[TableRow]) -> dict[str, dict[str, float]]:
    """Mean LC − RAG over models, per length and task (the paper's "Average gap" line)."""
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for g in gap_rows(rows):
        for t in (*TASKS, "overall"):
            v = g.task(t)
            if v is not None:
                acc[g.length][t].append(v)
    return {length: {t: sum(v) / len(v) for t, v in d.items()} for length, d in acc.items()}


def paper_table(path: str | Path) -> list[TableRow]:
    """Load ``paper_main_table.csv`` (model,group,length,setting,location,...,overall)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            values: dict[str, Any] = {t: float(rec[t]) for t in (*TASKS, "overall")}
            rows.append(
                TableRow(
                    model=rec["model"],
                    length=rec["length"],
                    mode=MODE_ALIASES.get(rec["setting"].strip().lower(), rec["setting"]),
                    **values,
                )
            )
    return sort_rows(rows)


PAPER_AVERAGE_GAPS = {  # LaRA (Li et al., ICML 2025, arXiv 2502.09977), average gaps: loc / reas / comp / hallu / overall
    "32k": {"location": 0.08, "reasoning": 4.66, "comparison": 15.22, "hallucination": -10.38, "overall": 2.40},
    "128k": {"location": -5.25, "reasoning": -1.39, "comparison": 14.30, "hallucination": -22.36, "overall": -3.68},
}


def check_paper_gaps(path: str | Path, tol: float = 0.006) -> dict[str, dict[str, float]]:
    """Recompute the paper's average LC − RAG gaps from the CSV; raise if any differs by > tol.

    Returns the differences (recomputed − published) so callers can show them.
    """
    got = average_gaps(paper_table(path))
    diffs: dict[str, dict[str, float]] = {}
    bad = []
    for length, expected in PAPER_AVERAGE_GAPS.items():
        diffs[length] = {}
        for task, want in expected.items():
            have = got.get(length, {}).get(task)
            if have is None:
                bad.append(f"{length}/{task}: missing")
                continue
            diffs[length][task] = have - want
            if abs(have - want) > tol:
                bad.append(f"{length}/{task}: recomputed {have:.3f} vs published {want:+.2f}")
    if bad:
        raise ValueError("paper average gaps do not reproduce: " + "; ".join(bad))
    return diffs


def _fmt(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


HEADER = ("model", "length", "mode", "location", "reasoning", "comparison", "hallucination", "overall", "judged", "unparsed", "error", "skipped")


def table_cells(rows: Iterable[TableRow], with_gaps: bool = True) -> list[list[str]]:
    """String cells (for rich.Table or markdown): per (model, length) the LC row, the RAG row and
    the LC−RAG gap row next to each other."""
    rows = list(rows)
    all_rows = sort_rows(rows + (gap_rows(rows) if with_gaps else []))
    out = []
    for r in all_rows:
        gap = r.mode == "LC-RAG"
        counts = ["", "", "", ""] if gap else [str(r.judged), str(r.unparsed), str(r.error), str(r.skipped)]
        out.append(
            [r.model, r.length, r.mode, *(_fmt(r.task(t), gap) for t in (*TASKS, "overall")), *counts]
        )
    return out


def render_markdown(rows: Iterable[TableRow], with_gaps: bool = True) -> str:
    from lara.results.text_table import markdown

    return markdown(HEADER, table_cells(rows, with_gaps)) + "\n"
