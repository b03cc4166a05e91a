"""Per-question disagreements between two runs: which questions one strategy gets right and the
other wrong. Aggregates hide these; reading them is how one learns *why* LC or RAG wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from lara.results.record import Record


def record_outcome(r: Any) -> str:
    """ok (scored: correct or incorrect) / unparsed / error / skipped, by :attr:`Record.outcome`."""
    o = Record.coerce(r).outcome
    return "ok" if o in ("correct", "incorrect") else o

DEFAULT_THRESHOLD = 0.5


def correctness(r: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD) -> str:
    """``correct`` / ``wrong`` for scored records (score >= threshold), else the outcome
    (``unparsed``, ``error``, ``skipped``) so unscored samples never pass as wrong answers."""
    outcome = record_outcome(r)
    if outcome != "ok":
        return outcome
    return "correct" if float(r.get("score") or 0.0) >= threshold else "wrong"


def run_label(records: list[Mapping[str, Any]]) -> str:
    ids = sorted({str(r.get("run_id") or "-") for r in records})
    return ids[0] if len(ids) == 1 else f"{len(ids)} runs"


@dataclass(frozen=True)
class Disagreement:
    sample_id: str
    category: str
    length: str
    question: str
    references: list[str]
    a: Mapping[str, Any]
    b: Mapping[str, Any]
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


def _by_id(records: Iterable[Mapping[str, Any]], side: str) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for r in records:
        sid = str(r.get("sample_id"))
        if sid in out:
            raise ValueError(f"run {side} has sample {sid!r} twice; pass a single run folder")
        out[sid] = r
    return out


def diff_records(
    a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]], threshold: float = DEFAULT_THRESHOLD
) -> DiffResult:
    """Samples present in both runs whose correctness differs, sorted by category then id."""
    ra, rb = list(a), list(b)
    ma, mb = _by_id(ra, "A"), _by_id(rb, "B")
    rows = []
    for sid in ma.keys() & mb.keys():
        x, y = ma[sid], mb[sid]
        la, lb = correctness(x, threshold), correctness(y, threshold)
        if la != lb:
            rows.append(
                Disagreement(
                    sample_id=sid,
                    category=str(x.get("category") or "-"),
                    length=str(x.get("length") or "-"),
                    question=str(x.get("question") or ""),
                    references=[str(v) for v in x.get("references") or []],
                    a=x, b=y, a_label=la, b_label=lb,
                )
            )
    rows.sort(key=lambda d: (d.category, d.length, natural_key(d.sample_id)))
    return DiffResult(run_label(ra), run_label(rb), len(ma.keys() & mb.keys()),
                      len(ma.keys() - mb.keys()), len(mb.keys() - ma.keys()), rows)


def natural_key(s: str) -> tuple:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))


def load_run(path: Path) -> list[dict[str, Any]]:
    """Records of exactly one run (a run folder or a samples.jsonl file)."""
    from lara.results.store import read_records

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such run folder or file: {path}")
    records = list(read_records(path))
    ids = {r.get("run_id") for r in records}
    if len(ids) > 1:
        raise ValueError(f"{path} holds {len(ids)} runs; pass one run folder (results/<run_id>)")
    if not records:
        raise ValueError(f"{path} has no result records")
    return records


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
    style = {"correct": "green", "wrong": "red"}
    shown = result.rows if max_rows is None else result.rows[:max_rows]
    for d in shown:
        table.add_row(
            escape(d.category), escape(d.length), escape(d.sample_id),
            f"[{style.get(d.a_label, 'yellow')}]{d.a_label}[/]", f"[{style.get(d.b_label, 'yellow')}]{d.b_label}[/]",
            escape(_short(d.question)), escape(_short(d.a.get("answer"), 60)), escape(_short(d.b.get("answer"), 60)),
            escape(_short("; ".join(d.references), 60)),
        )
    console.print(table)
    if max_rows is not None and len(result.rows) > max_rows:
        console.print(f"… {len(result.rows) - max_rows} more (use --limit 0 for all)")
