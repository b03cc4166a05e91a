"""The sidecar index of a run's samples.jsonl: what resume needs, without reading the prompts.

``samples.index`` sits next to ``samples.jsonl`` and gets one short line per record the run's
writer appends: the byte offset where the record's line ends, its attempt, whether it failed, and
its sample id. Resume then reads a few MB instead of the results file, which holds every prompt with
``--log-prompts`` (issue 17: 500 MB, 2 s, 553 MB of memory just to learn which ids were done).

The first line is a fixed-width header holding the samples file's inode and the modification time
(ns) it had after the last indexed write; the writer rewrites the time in place after each record.
The index is trusted only while it describes the file exactly:

- same inode (a rewritten or copied file is another file),
- the last indexed line ends at the file's size and the file's mtime is the recorded one (nobody
  else wrote), or the file is longer and the bytes after the last indexed line are new lines (a
  writer killed between its two appends): those are read and indexed ("catch-up");

anything else (a shorter file, an in-place edit, a malformed entry) makes the index stale, and the
caller rebuilds it from samples.jsonl (:func:`lara.results.store.scan`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

INDEX = "samples.index"
MAGIC = b"lara-index 1"
HEADER_LEN = 80  # "lara-index 1 ino=<20> mtime=<20>" padded; fixed so the mtime is rewritten in place
_MTIME_AT = len(MAGIC) + 1 + len("ino=") + 20 + 1 + len("mtime=")


@dataclass(frozen=True)
class ScanEntry:
    """What resume needs to know of a sample's latest line: its attempt and whether it failed."""

    attempt: int
    error: bool


_ENTRIES: dict[tuple[int, bool], ScanEntry] = {}


def entry(attempt: int, error: bool) -> ScanEntry:
    """Shared instances: 100,000 samples have a handful of distinct (attempt, error) pairs."""
    key = (attempt, error)
    e = _ENTRIES.get(key)
    if e is None:
        e = _ENTRIES[key] = ScanEntry(attempt, error)
    return e


def index_path(samples: Path) -> Path:
    return samples.with_name(INDEX)


def header(ino: int, mtime_ns: int) -> bytes:
    text = MAGIC + b" ino=%020d mtime=%020d" % (ino, mtime_ns)
    if len(text) >= HEADER_LEN:
        raise ValueError(f"index header too long: {text!r}")
    return text.ljust(HEADER_LEN - 1) + b"\n"


def encode_entry(end: int, attempt: int, error: bool, sample_id: str) -> bytes:
    sid = sample_id
    if not sid or any(c in sid for c in '\t\n\r"\\') or sid != sid.strip():
        sid = json.dumps(sample_id, ensure_ascii=False)
    return f"{end}\t{attempt}\t{1 if error else 0}\t{sid}\n".encode("utf-8")


@dataclass
class IndexState:
    """An index as read: the latest entry per sample and where the indexed part of the file ends."""

    ino: int
    mtime_ns: int
    entries: dict[str, ScanEntry] = field(default_factory=dict)
    last_end: int = 0  # end offset of the last indexed line (0: nothing indexed)
    prev_end: int = 0  # end offset of the line before it (where the last indexed line starts)
    last_id: str | None = None
    size: int = 0  # bytes of complete index lines (a torn last entry is left out)


def read_index(samples: Path) -> IndexState | None:
    """The index of ``samples``, or None when missing or malformed (rebuild from samples.jsonl)."""
    path = index_path(samples)
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_LEN)
            data = f.read()
    except OSError:
        return None
    if len(head) != HEADER_LEN or not head.startswith(MAGIC) or not head.endswith(b"\n"):
        return None
    try:
        fields = dict(part.split(b"=", 1) for part in head.split()[2:])
        state = IndexState(int(fields[b"ino"]), int(fields[b"mtime"]))
    except (ValueError, KeyError):
        return None
    complete = data.rfind(b"\n") + 1  # a torn last entry (killed mid-append) is ignored
    entries = state.entries
    last_end = prev_end = 0
    sid = None
    try:
        for line in data[:complete].decode("utf-8").split("\n")[:-1]:
            end_s, attempt_s, err_s, sid = line.split("\t", 3)
            if sid.startswith('"'):
                sid = json.loads(sid)
            end = int(end_s)
            if end <= last_end:
                return None  # offsets only grow: a malformed or spliced index
            prev_end, last_end = last_end, end
            entries[sid] = entry(int(attempt_s), err_s == "1")
    except ValueError:  # UnicodeDecodeError, bad numbers, wrong field count, bad JSON
        return None
    state.last_end, state.prev_end, state.last_id = last_end, prev_end, sid
    state.size = HEADER_LEN + complete
    return state


def write_index(samples: Path, lines: list[bytes], mtime_ns: int, ino: int) -> None:
    """A fresh index (written aside, then renamed over the old one)."""
    path = index_path(samples)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header(ino, mtime_ns))
        f.writelines(lines)
    os.replace(tmp, path)


def append_entries(samples: Path, state: IndexState, lines: list[bytes], mtime_ns: int) -> None:
    """Add catch-up entries to an index that is otherwise in sync, and restamp it."""
    path = index_path(samples)
    with open(path, "r+b") as f:
        f.truncate(state.size)  # drop a torn last entry before appending
        f.seek(state.size)
        f.writelines(lines)
        f.seek(_MTIME_AT)
        f.write(b"%020d" % mtime_ns)


class IndexAppender:
    """Appends one entry per record the run's writer writes, then restamps the header's mtime.

    Opened only on an index that describes the file exactly (``scan`` just checked or rebuilt it);
    otherwise the index is removed and the next scan rebuilds it. A failed append (disk full)
    disables the appender for the rest of the run: the next scan catches up from samples.jsonl.
    """

    def __init__(self, samples: Path, fd: int) -> None:
        self.samples = samples
        self._samples_fd = fd
        self._fd: int | None = None
        self._end = 0
        path = index_path(samples)
        st = os.fstat(fd)
        state = read_index(samples)
        try:
            if st.st_size == 0 and (state is None or state.last_end == 0):
                write_index(samples, [], st.st_mtime_ns, st.st_ino)
                self._end = HEADER_LEN
            elif state is None or state.ino != st.st_ino or state.last_end != st.st_size:
                path.unlink(missing_ok=True)  # out of sync: never append to it
                return
            else:
                self._end = state.size
            # not O_APPEND: Linux's pwrite appends regardless of offset on such descriptors
            self._fd = os.open(path, os.O_WRONLY)
            os.ftruncate(self._fd, self._end)  # a torn last entry goes
        except OSError as exc:
            log.debug("no sidecar index for %s this run: %s", samples, exc)
            self.close()

    def add(self, end: int, attempt: int, error: bool, sample_id: str) -> None:
        if self._fd is None:
            return
        try:
            data = encode_entry(end, attempt, error, sample_id)
            _pwrite_all(self._fd, data, self._end)
            self._end += len(data)
            os.pwrite(self._fd, b"%020d" % os.fstat(self._samples_fd).st_mtime_ns, _MTIME_AT)
        except OSError as exc:
            log.debug("sidecar index of %s not updated (%s); the next scan catches up", self.samples, exc)
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
