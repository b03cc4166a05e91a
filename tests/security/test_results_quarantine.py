"""Issue 16 item 12: one complete-but-corrupt line in samples.jsonl used to make `run`, `leaderboard`
and `report` exit 2 until the file was edited. Now readers skip it with one warning naming the file
and line, and the next run moves it to samples.quarantine.jsonl and runs its sample again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.results.store import QUARANTINE, read_records, scan
from lara.testing.cli import TINY_RUN, lara_env, run_cli

MOCK = [*TINY_RUN, "--model", "mock", "-M", "answer=x", "--no-cache"]


def finished_run(tmp_path: Path) -> Path:
    res = tmp_path / "res"
    r = run_cli([*MOCK, "-o", str(res)], env=lara_env(cache_dir=tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    (run_dir,) = [p.parent for p in res.glob("*/samples.jsonl")]
    return run_dir


def corrupt_line(run_dir: Path, lineno: int, replacement: bytes) -> str:
    """Replace line ``lineno`` (1-based) and return the sample id it held."""
    path = run_dir / "samples.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    sid = json.loads(lines[lineno - 1])["sample_id"]
    lines[lineno - 1] = replacement
    path.write_bytes(b"".join(lines))
    return sid


@pytest.mark.parametrize("garbage", [
    b'{"run_id": "x", "sample_id": "%s", "answer": "cut here\n',  # a truncated record, then a newline
    b"\x00\x00\x00\x00\x00\x00\n",  # NUL blocks after a power loss
    b'{"sample_id": "%s", "answer": "caf\xe9"}\n',  # Latin-1 byte: not UTF-8
], ids=["truncated-json", "nul-bytes", "not-utf8"])
def test_corrupt_line_is_quarantined_and_its_sample_rerun(tmp_path, garbage):
    run_dir = finished_run(tmp_path)
    sid = json.loads((run_dir / "samples.jsonl").read_text().splitlines()[4])["sample_id"]
    corrupt_line(run_dir, 5, garbage.replace(b"%s", sid.encode()) if b"%s" in garbage else garbage)
    env = lara_env(cache_dir=tmp_path / "cache")

    # readers: one warning naming file:line, the other 7 records, exit 0
    board = run_cli(["leaderboard", str(run_dir.parent), "--format", "md"], env=env)
    assert board.returncode == 0, board.stderr
    assert f"{run_dir / 'samples.jsonl'}:5:" in board.stderr and board.stderr.count("unreadable line") == 1
    report = run_cli(["report", str(run_dir.parent), "-o", str(tmp_path / "report"), "--no-plots"], env=env)
    assert report.returncode == 0, report.stderr
    if garbage.startswith(b"{"):
        assert "not UTF-8 (byte 0xe9" in board.stderr or "malformed JSON" in board.stderr

    # the writer: moves it aside with its line number, reruns that sample, exit 0
    again = run_cli([*MOCK, "-o", str(run_dir.parent)], env=env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(f"moved to {run_dir / QUARANTINE}") == 1
    assert "1 model calls" in again.stderr  # only the lost sample ran again
    quarantined = [json.loads(line) for line in (run_dir / QUARANTINE).read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [5] and quarantined[0]["reason"]
    records = list(read_records(run_dir))
    assert len(records) == 8 and len({r["sample_id"] for r in records}) == 8 and sid in {r["sample_id"] for r in records}
    # and the folder is clean for every reader after that
    board = run_cli(["leaderboard", str(run_dir.parent), "--format", "md"], env=env)
    assert board.returncode == 0 and "unreadable" not in board.stderr


def test_corrupt_latest_attempt_supersedes_the_earlier_record(tmp_path):
    """A retried sample whose newest line is the corrupt one runs again (its earlier line moves too)."""
    run_dir = finished_run(tmp_path)
    path = run_dir / "samples.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    with open(path, "a") as f:  # a second attempt of sample 1, cut mid-record by a corrupting disk
        f.write(json.dumps({**first, "attempt": 2})[:250] + "\n")
    entries = scan(path)
    assert first["sample_id"] not in entries and len(entries) == 7
    reasons = [json.loads(line)["reason"] for line in (run_dir / QUARANTINE).read_text().splitlines()]
    assert len(reasons) == 2 and any("superseded" in r for r in reasons)
    assert len(path.read_text().splitlines()) == 7


def test_readers_do_not_write_and_tolerate_a_line_being_written(tmp_path):
    run_dir = finished_run(tmp_path)
    path = run_dir / "samples.jsonl"
    corrupt_line(run_dir, 2, b"garbage\n")
    with open(path, "ab") as f:
        f.write(b'{"sample_id": "in-flight", "ans')  # a writer's line in progress: not a record yet
    before = path.read_bytes()
    assert len(list(read_records(path))) == 7
    assert len(scan(path, repair=False)) == 7
    assert path.read_bytes() == before and not (run_dir / QUARANTINE).exists()
