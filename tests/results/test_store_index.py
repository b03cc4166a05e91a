"""The sidecar index (issue 17): resume reads ids, attempts and error status without reading the
records, and falls back to samples.jsonl whenever the index does not describe the file exactly."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lara.results import store
from lara.results.index import INDEX, read_index
from lara.results.store import JsonlWriter, ScanEntry, scan


def rec(sid: str, attempt: int = 1, error: bool = False, prompt: str = "") -> dict:
    return {"run_id": "r", "sample_id": sid, "attempt": attempt, "score_status": "error" if error else "ok",
            "error": {"type": "X", "message": "m"} if error else None, "steps": [{"prompt": prompt}]}


def write(path: Path, records: list[dict]) -> None:
    w = JsonlWriter(path)
    for r in records:
        w.write(r)
    w.close()


@pytest.fixture
def no_full_read(monkeypatch):
    """Fail if scan reads samples.jsonl from the start (the index must be enough)."""
    real = store._Pass

    def guarded(path, start=0, first_line=1):
        if start == 0:
            raise AssertionError("samples.jsonl was read in full")
        return real(path, start, first_line)

    monkeypatch.setattr(store, "_Pass", guarded)


def test_scan_contract_latest_attempt_and_error_per_sample(tmp_path, no_full_read):
    path = tmp_path / "samples.jsonl"
    write(path, [rec("a", error=True), rec("b"), rec("a", attempt=2), rec("c", error=True)])
    assert scan(path) == {"a": ScanEntry(2, False), "b": ScanEntry(1, False), "c": ScanEntry(1, True)}


def test_writer_keeps_the_index_in_step_across_runs(tmp_path, no_full_read):
    path = tmp_path / "samples.jsonl"
    write(path, [rec("a"), rec("b")])
    write(path, [rec("c")])  # a resumed run appends
    state = read_index(path)
    assert state.last_end == path.stat().st_size and state.mtime_ns == path.stat().st_mtime_ns
    assert set(scan(path)) == {"a", "b", "c"}


def test_odd_sample_ids_round_trip(tmp_path, no_full_read):
    path = tmp_path / "samples.jsonl"
    ids = ["tab\there", 'quote"d', " padded ", "", "back\\slash", "naïve-ünïcode"]
    write(path, [rec(s) for s in ids])
    assert set(scan(path)) == set(ids)


def test_missing_index_is_rebuilt_from_samples(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(rec(s)) + "\n" for s in "abc"))  # an older lara: no index
    assert set(scan(path)) == {"a", "b", "c"}
    assert (tmp_path / INDEX).exists() and read_index(path).last_end == path.stat().st_size


def test_read_only_scan_writes_nothing(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(rec("a")) + "\n")
    assert set(scan(path, repair=False)) == {"a"} and not (tmp_path / INDEX).exists()


@pytest.mark.parametrize("change", ["shorter", "same-size-edit", "replaced-file", "torn-index", "garbage-index"])
def test_stale_index_falls_back_to_the_file(tmp_path, change):
    path = tmp_path / "samples.jsonl"
    write(path, [rec("a"), rec("b"), rec("c")])
    lines = path.read_text().splitlines(keepends=True)
    if change == "shorter":  # an editor deleted the last record
        with open(path, "r+") as f:
            f.truncate(len("".join(lines[:2]).encode()))
        expect = {"a", "b"}
    elif change == "same-size-edit":  # same bytes count, another sample id, in place
        with open(path, "r+b") as f:
            f.write(lines[0].replace('"a"', '"z"').encode())
        expect = {"z", "b", "c"}
    elif change == "replaced-file":  # a copy moved over it (new inode), with one more record
        tmp = tmp_path / "copy"
        shutil.copy(path, tmp)
        with open(tmp, "a") as f:
            f.write(json.dumps(rec("d")) + "\n")
        os.replace(tmp, path)
        expect = {"a", "b", "c", "d"}
    elif change == "torn-index":  # killed mid-append of the index: the last entry is partial
        idx = tmp_path / INDEX
        idx.write_bytes(idx.read_bytes()[:-5])
        expect = {"a", "b", "c"}
    else:
        (tmp_path / INDEX).write_bytes(b"lara-index 1 nonsense\n")
        expect = {"a", "b", "c"}
    assert set(scan(path)) == expect
    assert read_index(path).last_end == path.stat().st_size  # rebuilt (or repaired) to match
    assert set(scan(path)) == expect


def test_writer_killed_between_record_and_index_is_caught_up(tmp_path, monkeypatch):
    """The record is on disk but its index entry is not: only the tail after the last indexed line
    is read."""
    path = tmp_path / "samples.jsonl"
    write(path, [rec("a"), rec("b")])
    with open(path, "a") as f:  # what the writer had written when killed
        f.write(json.dumps(rec("c", error=True)) + "\n")
        f.write('{"sample_id": "d", "partial')
    real = store._Pass
    starts = []
    monkeypatch.setattr(store, "_Pass", lambda p, start=0, first_line=1: starts.append(start) or real(p, start, first_line))
    assert scan(path) == {"a": ScanEntry(1, False), "b": ScanEntry(1, False), "c": ScanEntry(1, True)}
    assert starts and 0 not in starts
    assert path.read_text().endswith("\n")  # the partial line is gone
    starts.clear()
    assert set(scan(path)) == {"a", "b", "c"} and starts == []  # and the index is in step again


def test_file_ending_without_newline_is_terminated_before_appending(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(rec("a")) + "\n" + json.dumps(rec("b")))  # another tool, no final newline
    assert set(scan(path)) == {"a", "b"}
    write(path, [rec("c")])
    assert [json.loads(line)["sample_id"] for line in path.read_text().splitlines()] == ["a", "b", "c"]
    assert set(scan(path)) == {"a", "b", "c"}
