"""Run folders on disk: append-only JSONL with one writer, resume scans, and readers.

A run folder is ``<root>/<run_id>/`` with ``samples.jsonl`` (one record per line, written with one
system call per line), ``samples.index`` (the sidecar index resume reads: :mod:`lara.results.index`),
``run.json`` (spec, environment), ``summary.json`` and ``.lock`` (:mod:`lara.results.lock`).

What can go wrong with the file, and what happens:

- a process killed mid-write leaves a partial last line: :func:`scan` (run by the writer, under the
  folder's lock) truncates it away, so a resumed run never duplicates or half-counts a sample;
- a complete line that is not a record (disk corruption, an editor, two writers before the lock
  existed, a byte that is not UTF-8): the writer's scan moves it to ``samples.quarantine.jsonl``
  with its line number and reason, warns once, and its sample runs again; readers skip it with one
  warning naming ``file:line`` instead of failing every command until the file is edited;
- every text written (records, run.json, summaries) passes :func:`lara.secrets.redact_text`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from lara.errors import MissingDataError, ResultsError
from lara.results.index import (
    INDEX, IndexAppender, IndexState, ScanEntry, append_entries, encode_entry, entry, index_path,
    read_index, write_index,
)
from lara.results.lock import LOCK, RunFolderBusy, RunLock, results_errors  # noqa: F401 - re-exported
from lara.secrets import known_secrets, redact_text

log = logging.getLogger(__name__)

SAMPLES = "samples.jsonl"
RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"
QUARANTINE = "samples.quarantine.jsonl"
_SID_RE = re.compile(rb'"sample_id"\s*:\s*"((?:[^"\\]|\\.)*)"')

__all__ = ["SAMPLES", "RUN_JSON", "SUMMARY_JSON", "QUARANTINE", "INDEX", "LOCK", "ScanEntry", "scan",
           "repair_and_scan", "JsonlWriter", "read_records", "find_runs", "read_run_json",
           "write_json_atomic", "RunLock", "RunFolderBusy", "results_errors"]


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """A record from one line of samples.jsonl, or (None, why it is not one)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return None, f"malformed JSON ({getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')})"
    if not isinstance(obj, dict) or not isinstance(obj.get("sample_id"), str):
        return None, "not a result record (no sample_id)"
    return obj, ""


def _scan_entry(rec: dict[str, Any]) -> ScanEntry:
    try:
        attempt = int(rec.get("attempt") or 1)
    except (TypeError, ValueError):
        attempt = 1
    return entry(attempt, bool(rec.get("error")) or rec.get("score_status") == "error")


def _salvaged_id(raw: bytes) -> str | None:
    m = _SID_RE.search(raw)
    if not m:
        return None
    try:
        return str(json.loads(b'"' + m.group(1) + b'"'))
    except ValueError:
        return None


class _Pass:
    """One read of samples.jsonl from ``start``: entries, index lines, bad and partial lines."""

    def __init__(self, path: Path, start: int = 0, first_line: int = 1) -> None:
        self.entries: dict[str, ScanEntry] = {}
        self.index_lines: list[bytes] = []
        self.bad: list[tuple[int, int, int, bytes, str]] = []  # (line, start, end, raw, why)
        self.good_end = start
        self.size = start
        self.unterminated = False  # the last record has no newline (another tool wrote the file)
        lineno = first_line - 1
        pos = start
        with open(path, "rb") as f:
            f.seek(start)
            for raw in f:
                lineno += 1
                end = pos + len(raw)
                if not raw.endswith(b"\n"):
                    # no newline: a line cut by a crash, unless it is a whole record (a file ended
                    # without a newline by another tool), which is kept
                    rec, _ = parse_line(raw)
                    if rec is not None:
                        self._good(rec, end + 1)  # indexed as if terminated: repair adds the newline
                        self.good_end = end
                        self.unterminated = True
                    pos = end
                    break
                if raw.strip():
                    rec, why = parse_line(raw)
                    if rec is None:
                        self.bad.append((lineno, pos, end, raw, why))
                        sid = _salvaged_id(raw)
                        if sid is not None:
                            self.entries.pop(sid, None)  # its latest line is lost: run it again
                    else:
                        self._good(rec, end)
                pos = end
                self.good_end = end
        self.size = pos

    def _good(self, rec: dict[str, Any], end: int) -> None:
        e = _scan_entry(rec)
        sid = rec["sample_id"]
        self.entries[sid] = e
        self.index_lines.append(encode_entry(end, e.attempt, e.error, sid))
        self.good_end = end


def scan(path: Path, *, repair: bool = True) -> dict[str, ScanEntry]:
    """The latest :class:`ScanEntry` of every sample written so far, from the sidecar index when it
    describes the file, else from samples.jsonl (and the index is rebuilt).

    ``repair`` (the run's writer, holding the folder's lock): truncate a partial last line, move
    unreadable lines to ``samples.quarantine.jsonl`` (their samples are left out, so they run again)
    and write the index. Without it nothing is written: bad lines are only left out.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if repair:
            index_path(path).unlink(missing_ok=True)
        return {}
    state = read_index(path)
    if state is not None and state.ino == st.st_ino:
        if state.last_end == st.st_size and state.mtime_ns == st.st_mtime_ns:
            return state.entries
        if state.last_end < st.st_size and _ends_with(path, state):
            tail = _Pass(path, state.last_end)
            if not tail.bad:
                entries = {**state.entries, **tail.entries}
                if repair:
                    _truncate_partial(path, tail)
                    append_entries(path, state, tail.index_lines, os.stat(path).st_mtime_ns)
                return entries
    # stale or missing index, or bad lines to move aside: read the whole file
    full = _Pass(path)
    if repair:
        _truncate_partial(path, full)
        if full.bad:
            full = _quarantine(path, full)
        st = os.stat(path)
        write_index(path, full.index_lines, st.st_mtime_ns, st.st_ino)
    elif full.bad:
        _warn_bad(path, full.bad, "left out (the next `lara run`/`resume` moves them aside)")
    return full.entries


def _ends_with(path: Path, state: IndexState) -> bool:
    """Does the last indexed line still hold the last indexed sample (file appended, not edited)?"""
    if state.last_end == 0 or state.last_id is None:
        return state.last_end == 0
    with open(path, "rb") as f:
        f.seek(state.prev_end)
        raw = f.read(state.last_end - state.prev_end)
    # an earlier blank line may sit between the two ends; the record is the last non-blank line
    lines = [ln for ln in raw.split(b"\n") if ln.strip()]
    if not raw.endswith(b"\n") or not lines:
        return False
    rec, _ = parse_line(lines[-1])
    return rec is not None and rec.get("sample_id") == state.last_id


def _truncate_partial(path: Path, p: _Pass) -> None:
    if p.size > p.good_end:
        log.warning("%s: dropping a partial last line (%d bytes) left by an interrupted run",
                    path, p.size - p.good_end)
        with open(path, "r+b") as f:
            f.truncate(p.good_end)
        p.size = p.good_end
    if p.unterminated:  # the next record must not be glued to this one
        with open(path, "ab") as f:
            f.write(b"\n")
        p.size = p.good_end = p.good_end + 1
        p.unterminated = False


def _warn_bad(path: Path, bad: list[tuple[int, int, int, bytes, str]], what: str) -> None:
    shown = "; ".join(f"{path}:{line}: {why}" for line, _, _, _, why in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    log.warning("%d unreadable line(s) %s: %s%s", len(bad), what, shown, more)


def _quarantine(path: Path, p: _Pass) -> _Pass:
    """Move ``p.bad`` lines to samples.quarantine.jsonl and rewrite samples.jsonl without them.

    When a sample's latest line is the unreadable one, its earlier lines move too ("superseded"):
    the file then says what is true, that the sample has no usable latest record, so it runs again
    whether the next resume reads the index or rebuilds it."""
    qpath = path.with_name(QUARANTINE)
    rerun = {sid for sid in (_salvaged_id(raw) for _, _, _, raw, _ in p.bad) if sid is not None} - set(p.entries)
    bad_at = {start: (line, why) for line, start, _, _, why in p.bad}
    tmp = path.with_name(path.name + ".tmp")
    moved: list[dict[str, Any]] = []
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        pos, lineno = 0, 0
        for raw in src:
            lineno += 1
            why = bad_at[pos][1] if pos in bad_at else None
            if why is None and rerun and _salvaged_id(raw) in rerun:
                why = "superseded by an unreadable later line of the same sample"
            if why is None:
                dst.write(raw)
            else:
                moved.append({"line": lineno, "offset": pos, "reason": why, "sample_id": _salvaged_id(raw),
                              "text": redact_text(raw.decode("utf-8", "replace").rstrip("\n"))})
            pos += len(raw)
        dst.flush()
        os.fsync(dst.fileno())
    with open(qpath, "a", encoding="utf-8") as q:
        q.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in moved)
    os.replace(tmp, path)
    _warn_bad(path, p.bad, f"moved to {qpath} (their samples will run again)")
    return _Pass(path)


def repair_and_scan(path: Path) -> set[str]:
    """The sample ids already written (any outcome). Read-only: callers that do not hold the run's
    lock (e.g. a sweep deciding whether a run is complete) must not truncate a live writer's line."""
    return set(scan(path, repair=False))


class JsonlWriter:
    """The single writer of a run: one ``write`` system call per record line (no buffer left to flush
    on a full disk), then one sidecar index entry. A failed write truncates its partial line away
    and raises ``OSError``; the run stops, and a resume reruns the samples not written."""

    def __init__(self, path: Path, *, index: bool = True) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._pos = os.lseek(self._fd, 0, os.SEEK_END)
        self._index = IndexAppender(self.path, self._fd) if index else None
        self.written = 0
        # the key values to mask, read when the writer opens and again at most once a second (keys
        # come from the environment before a run starts; scanning it for every record cost ~20 µs)
        self._secrets = known_secrets()
        self._secrets_at = time.monotonic()

    def write(self, record: Any) -> None:
        """One line per record (a :class:`~lara.results.record.Record` or its dict)."""
        data = record.to_dict() if hasattr(record, "to_dict") else record
        line = json.dumps(data, ensure_ascii=False) + "\n"
        now = time.monotonic()
        if now - self._secrets_at > 1.0:
            self._secrets, self._secrets_at = known_secrets(), now
        secrets = self._secrets
        if secrets:
            line = redact_text(line, secrets)
        start = self._pos
        try:
            self._append(line.encode("utf-8"))
        except OSError:
            self._pos = start
            try:
                os.ftruncate(self._fd, start)  # no partial line left behind
            except OSError:
                pass  # the next scan drops it
            raise
        self.written += 1
        if self._index is not None:
            self._index.add(self._pos, int(data.get("attempt") or 1),
                            bool(data.get("error")) or data.get("score_status") == "error", data["sample_id"])

    def _append(self, raw: bytes) -> None:
        """Write ``raw`` at the end of the file and advance the end offset."""
        view = memoryview(raw)
        while view:
            n = os.pwrite(self._fd, view, self._pos)
            view = view[n:]
            self._pos += n

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    tmp.write_text(redact_text(text), encoding="utf-8")
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


def _read_file(path: Path) -> Iterator[dict[str, Any]]:
    bad: list[tuple[int, int, int, bytes, str]] = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            rec, why = parse_line(raw)
            if rec is None:
                if raw.endswith(b"\n"):
                    bad.append((lineno, 0, 0, b"", why))
                # else: the last line of a file being written (or cut by a crash): not yet a record
                continue
            yield rec
    if bad:
        _warn_bad(path, bad, "skipped (rerun or `lara resume` the run to move them aside and redo them)")


def read_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """Yield record dicts from a samples.jsonl file, a run folder, or a folder of runs.

    Lines that are not records are skipped with one warning per file naming ``file:line``."""
    path = Path(path)
    files: Iterable[Path]
    if path.is_file():
        files = [path]
    else:
        files = [d / SAMPLES for d in find_runs(path)]
    for f in files:
        yield from _read_file(f)


def read_run_json(run_dir: Path) -> dict[str, Any]:
    p = Path(run_dir) / RUN_JSON
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{p}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{p}: expected a JSON object")
    return data
