"""Which records a view shows: one record per sample, per run, unless pooling is asked for.

Every view (leaderboard, report, route-eval, fit-router, plot, diff, outcomes) reads records
through :func:`collect`, so they agree:

- within a run folder, a sample's **latest** line wins (a retried error appends a new attempt; the
  file keeps the history);
- several runs of the same (task, runner label, model) that share sample ids (``lara run -n 2``,
  then ``lara run``) are not added together: per sample id the record of the **newest** run is
  kept and one warning line names the runs; ``combine=True`` pools them on purpose;
- run folders of a sweep (a folder holding ``sweep.json`` above them) are left out unless
  ``sweeps=True`` or the sweep folder itself is given: a sweep is many configurations of one
  experiment, shown by ``lara leaderboard --sweeps`` or ``best-per-budget``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from lara.errors import MissingDataError
from lara.results import store
from lara.results.record import Record

log = logging.getLogger(__name__)

SWEEP_MANIFEST = "sweep.json"


@dataclass(frozen=True)
class RunInfo:
    """One run folder as read: its records (latest per sample), identity and age."""

    path: Path
    records: tuple[Record, ...]
    run_id: str
    spec_hash: str
    updated_at: str
    sweep: Path | None = None

    @property
    def group(self) -> tuple[str, str, str]:
        r = self.records[0] if self.records else None
        return (r.task, r.runner_label, r.model) if r else ("", "", "")


@dataclass
class Collected:
    records: list[Record]
    runs: list[RunInfo]
    warnings: list[str] = field(default_factory=list)
    sweeps: list[Path] = field(default_factory=list)  # sweep folders left out


def latest_per_sample(records: Iterable[Record]) -> list[Record]:
    """The last record of each sample id, in first-appearance order (the file order is append order)."""
    last: dict[str, Record] = {}
    for r in records:
        last[r.sample_id] = r
    return list(last.values())


def _sweep_of(run_dir: Path, root: Path) -> Path | None:
    """The sweep folder containing ``run_dir`` below ``root`` (not counting ``root`` itself)."""
    try:
        rel = run_dir.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    d = root
    for part in rel.parts[:-1]:
        d = d / part
        if (d / SWEEP_MANIFEST).exists():
            return d
    return None


def _run_files(path: Path) -> Iterator[tuple[Path, Path]]:
    """(run folder or file, the root it was found under)."""
    if path.is_file():
        yield path, path.parent
        return
    for run_dir in store.find_runs(path):
        yield run_dir, path


def read_run(path: Path, sweep: Path | None = None) -> RunInfo:
    """A run folder or samples file: its records, latest per sample id."""
    samples = path if path.is_file() else path / store.SAMPLES
    recs = latest_per_sample(Record.from_dict(d) for d in store.read_records(samples))
    info = store.read_run_json(samples.parent) if samples.name == store.SAMPLES else {}
    updated = str(info.get("updated_at") or "")
    if not updated:
        try:
            updated = str(os.path.getmtime(samples))
        except OSError:
            updated = ""
    first = recs[0] if recs else None
    return RunInfo(samples.parent if samples.name == store.SAMPLES else samples, tuple(recs),
                   first.run_id if first else samples.parent.name, first.spec_hash if first else "", updated, sweep)


def collect(paths: Iterable[Path | str], *, combine: bool = False, sweeps: bool = False) -> Collected:
    """Records of every run under ``paths`` by the rules above (see the module docstring)."""
    runs: list[RunInfo] = []
    skipped_sweeps: set[Path] = set()
    for p in map(Path, paths):
        if not p.exists():
            raise MissingDataError(f"no such results file or folder: {p}")
        for run_path, root in _run_files(p):
            sweep = _sweep_of(run_path, root) if run_path.is_dir() else None
            if sweep is not None and not sweeps:
                skipped_sweeps.add(sweep)
                continue
            runs.append(read_run(run_path, sweep))
    out = Collected(records=[], runs=runs, sweeps=sorted(skipped_sweeps))
    if combine:
        out.records = [r for run in runs for r in run.records]
        return out
    by_group: dict[tuple[str, str, str], list[RunInfo]] = {}
    for run in runs:
        by_group.setdefault(run.group, []).append(run)
    for group_runs in by_group.values():
        if len(group_runs) == 1:
            out.records.extend(group_runs[0].records)
            continue
        newest_first = sorted(group_runs, key=lambda r: r.updated_at, reverse=True)
        chosen: dict[str, Record] = {}
        overlap = set()
        for run in newest_first:
            for rec in run.records:
                if rec.sample_id in chosen:
                    overlap.add(run.run_id)
                    overlap.add(chosen[rec.sample_id].run_id)
                    continue
                chosen[rec.sample_id] = rec
        if overlap:
            names = ", ".join(r.path.name for r in newest_first if r.run_id in overlap)
            out.warnings.append(
                f"runs of {'/'.join(group_runs[0].group)} share sample ids: showing each sample's record "
                f"from the newest run ({names}); pass --combine to pool them"
            )
        out.records.extend(chosen.values())
    return out


def collect_records(paths: Iterable[Path | str], *, combine: bool = False, sweeps: bool = False,
                    warn: bool = True) -> list[Record]:
    """:func:`collect`'s records; its warnings go to the log (one line each)."""
    c = collect(paths, combine=combine, sweeps=sweeps)
    if warn:
        for w in c.warnings:
            log.warning("%s", w)
    return c.records


def dump(records: Iterable[Record]) -> str:
    """JSON lines (for tests and pipes)."""
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)
