"""Run folders on disk: append-only JSONL with one writer, resume scans, and readers.

A run folder is ``<root>/<run_id>/`` with ``samples.jsonl`` (one record per line, flushed per
line), ``run.json`` (spec, environment) and ``summary.json``. A process killed mid-write can leave a
partial last line: :func:`repair_and_scan` truncates it away, so a resumed run never duplicates or
half-counts a sample.
"""

from __future__ import annotations

from lara.errors import MissingDataError

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger(__name__)

SAMPLES = "samples.jsonl"
RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"


@dataclass(frozen=True)
class ScanEntry:
    """What resume needs to know of a sample's latest line: its attempt and whether it failed."""

    attempt: int
    error: bool


def scan(path: Path) -> dict[str, ScanEntry]:
    """The latest line of every sample written so far; drops a trailing partial line left by a crash."""
    if not path.exists():
        return {}
    done: dict[str, ScanEntry] = {}
    good_end = 0
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    n = len(data)
    while pos < n:
        nl = data.find(b"\n", pos)
        if nl == -1:
            break  # partial trailing line
        line = data[pos:nl]
        if line.strip():
            try:
                d = json.loads(line)
                status = d.get("score_status")
                done[d["sample_id"]] = ScanEntry(int(d.get("attempt") or 1), bool(d.get("error")) or status == "error")
            except (ValueError, KeyError, TypeError):
                log.warning("%s: unreadable line at byte %d ignored for resume", path, pos)
        pos = nl + 1
        good_end = pos
    if good_end < n:
        log.warning("%s: dropping a partial last line (%d bytes) left by an interrupted run", path, n - good_end)
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return done


def repair_and_scan(path: Path) -> set[str]:
    """The sample ids already written (any outcome); see :func:`scan`."""
    return set(scan(path))


class JsonlWriter:
    """The single writer of a run: appends one JSON line per record and flushes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "a", encoding="utf-8")
        self.written = 0

    def write(self, record: Any) -> None:
        """One line per record (a :class:`~lara.results.record.Record` or its dict)."""
        data = record.to_dict() if hasattr(record, "to_dict") else record
        self._f.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._f.flush()
        self.written += 1

    def close(self) -> None:
        self._f.close()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def find_runs(root: Path | str) -> Iterator[Path]:
    """Run folders below ``root`` (or ``root`` itself), sorted for stable output."""
    root = Path(root)
    if (root / SAMPLES).exists():
        yield root
        return
    if not root.exists():
        raise MissingDataError(f"no such results folder: {root}")
    for p in sorted(root.rglob(SAMPLES)):
        yield p.parent


def read_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """Yield record dicts from a samples.jsonl file, a run folder, or a folder of runs."""
    path = Path(path)
    files: Iterable[Path]
    if path.is_file():
        files = [path]
    else:
        files = [d / SAMPLES for d in find_runs(path)]
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{f}:{i}: malformed result line: {exc}") from exc


def read_run_json(run_dir: Path) -> dict[str, Any]:
    p = Path(run_dir) / RUN_JSON
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
