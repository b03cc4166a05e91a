"""Helpers shared by command modules (not a command module itself: the leading underscore)."""

from __future__ import annotations

from pathlib import Path

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
