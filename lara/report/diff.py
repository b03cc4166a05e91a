"""Per-question disagreements between two runs: which questions one strategy gets right and the
other wrong. Aggregates hide these; reading them is how one learns *why* LC or RAG wins.

Records are read through :func:`lara.results.collect.collect` (a run's latest record per sample)
and counted by :meth:`Record.classify`, the one rule: a sample that errored, was skipped or got an
unparsed verdict shows as such, never as a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from lara.results.record import Record

DEFAULT_THRESHOLD = 0.5


def correctness(r: Record, threshold: float = DEFAULT_THRESHOLD) -> str:
    """The record's outcome (``correct``, ``incorrect``, ``unparsed``, ``error``, ``skipped``) with
    ``threshold`` as the bar for correct."""
    return r.classify(threshold)


def run_name(records: Sequence[Record]) -> str:
    """The runner label of a run's records (``lc``, ``rag-lara``), else its run id(s)."""
    labels = sorted({r.runner_label or r.runner for r in records})
    if len(labels) == 1 and labels[0]:
        return labels[0]
    ids = sorted({r.run_id or "-" for r in records})
    return ids[0] if len(ids) == 1 else f"{len(ids)} runs"


@dataclass(frozen=True)
class Disagreement:
    sample_id: str
    category: str
    length: str
    question: str
    references: list[str]
    a: Record
    b: Record
    a_label: str
    b_label: str


@dataclass(frozen=True)
class DiffResult:
    a_name: str
    b_name: str
    common: int
    only_in_a: int
    only_in_b: int
    rows: list[Disagreement] = field(default_factory=list)

    def count(self, a_label: str, b_label: str) -> int:
        return sum(1 for d in self.rows if d.a_label == a_label and d.b_label == b_label)


def _by_id(records: Iterable[Record], side: str) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for r in records:
        if r.sample_id in out:
            raise ValueError(f"run {side} has sample {r.sample_id!r} twice; pass a single run folder")
        out[r.sample_id] = r
    return out


def diff_records(a: Iterable[Record], b: Iterable[Record], threshold: float = DEFAULT_THRESHOLD,
                 a_name: str | None = None, b_name: str | None = None) -> DiffResult:
    """Samples present in both runs whose outcome differs, sorted by category, length, then id."""
    ra, rb = list(a), list(b)
    ma, mb = _by_id(ra, "A"), _by_id(rb, "B")
    rows = []
    for sid in ma.keys() & mb.keys():
        x, y = ma[sid], mb[sid]
        la, lb = correctness(x, threshold), correctness(y, threshold)
        if la != lb:
            rows.append(Disagreement(sample_id=sid, category=str(x.category or "-"), length=str(x.length or "-"),
                                     question=x.question, references=list(x.references), a=x, b=y,
                                     a_label=la, b_label=lb))
    from lara.results.paired import category_key, length_key

    rows.sort(key=lambda d: (category_key(d.category), length_key(d.length), natural_key(d.sample_id)))
    return DiffResult(a_name or run_name(ra), b_name or run_name(rb), len(ma.keys() & mb.keys()),
                      len(ma.keys() - mb.keys()), len(mb.keys() - ma.keys()), rows)


def natural_key(s: str) -> tuple:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))


def load_run(path: Path | str) -> list[Record]:
    """Records of exactly one run (a run folder or a samples.jsonl file), latest per sample."""
    from lara.errors import ConfigError, ResultsError
    from lara.results.collect import collect

    got = collect([path], sweeps=True)
    runs = [r for r in got.runs if r.records]
    if len(runs) > 1:
        raise ConfigError(f"{path} holds {len(runs)} runs; pass one run folder (results/<run_id>)")
    if not runs:
        raise ResultsError(f"{path} has no result records")
    return list(runs[0].records)


def _short(text: Any, n: int = 90) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def print_diff(result: DiffResult, console: Any = None, max_rows: int | None = None) -> None:
    """Rich table in the terminal (markup in answers is escaped, not interpreted)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    a_wins = sum(1 for d in result.rows if d.a_label == "correct")
    b_wins = sum(1 for d in result.rows if d.b_label == "correct")
    table = Table(
        title=f"A = {escape(result.a_name)}\nB = {escape(result.b_name)}",
        caption=(f"{len(result.rows)} disagreements of {result.common} shared samples · A right only {a_wins} · "
                 f"B right only {b_wins} · only in A {result.only_in_a} · only in B {result.only_in_b}"),
    )
    for col in ("category", "length", "sample", "A", "B", "question", "A answer", "B answer", "reference"):
        table.add_column(col, overflow="fold")
    style = {"correct": "green", "incorrect": "red"}
    shown = result.rows if max_rows is None else result.rows[:max_rows]
    for d in shown:
        table.add_row(
            escape(d.category), escape(d.length), escape(d.sample_id),
            f"[{style.get(d.a_label, 'yellow')}]{d.a_label}[/]", f"[{style.get(d.b_label, 'yellow')}]{d.b_label}[/]",
            escape(_short(d.question)), escape(_short(d.a.answer, 60)), escape(_short(d.b.answer, 60)),
            escape(_short("; ".join(d.references), 60)),
        )
    console.print(table)
    if max_rows is not None and len(result.rows) > max_rows:
        console.print(f"… {len(result.rows) - max_rows} more (use --limit 0 for all)")
