"""Helpers shared by command modules (not a command module itself: the leading underscore)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import typer


def records_from(paths: list[Path]) -> list[dict]:
    """All result records under ``paths``; a missing path is a usage error naming it."""
    from lara.results.store import read_records

    out: list[dict] = []
    for p in paths:
        if not p.exists():
            raise typer.BadParameter(f"no such file or folder: {p}")
        out.extend(read_records(p))
    return out


def wide_console() -> Any:
    """The terminal's console, or a 200-column one when output is piped (rich defaults to 80)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[str]],
                left: Iterable[str] | None = None) -> None:
    """A rich table; columns named in ``left`` are left-aligned and the rest right (all left if None)."""
    from rich.table import Table

    left_set = set(header if left is None else left)
    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="left" if h in left_set else "right")
    for r in rows:
        table.add_row(*r)
    wide_console().print(table)
