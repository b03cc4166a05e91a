"""Plain-text tables (markdown and CSV) for every view that prints one: the leaderboard, the LaRA
table, the paired comparison, the dry-run estimate and crossover. The terminal tables are drawn with
rich by the commands."""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence


def markdown(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-style markdown table (no trailing newline)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render_text(header: Sequence[str], rows: Sequence[Sequence[str]], fmt: str) -> str:
    """``csv`` text, else markdown."""
    return csv_text(header, rows) if fmt == "csv" else markdown(header, rows)
