"""Issue 16 item 10: two processes on one run folder used to duplicate every sample; now the second
exits 2 naming the first one's pid, and a lock never outlives its (SIGKILLed) holder."""

from __future__ import annotations

import collections
import json
import signal
import time
from pathlib import Path

import pytest

from lara.errors import ResultsError
from lara.results.store import LOCK, RunFolderBusy, RunLock
from lara.testing.cli import TINY_RUN, lara_env, run_cli, start_cli

SLOW = [*TINY_RUN, "--model", "mock", "-M", "answer=x", "-M", "latency_s=1.5", "--max-connections", "1", "--no-cache"]


def wait_for_holder(res: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for lock in res.glob(f"*/{LOCK}"):
            if lock.read_text().strip() and (lock.parent / "samples.jsonl").exists():
                return lock.parent
        time.sleep(0.05)
    raise AssertionError("the first process never took the lock")


def ids(run_dir: Path) -> list[str]:
    return [json.loads(line)["sample_id"] for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_second_process_exits_2_naming_the_holder(tmp_path):
    res = tmp_path / "res"
    env = lara_env(cache_dir=tmp_path / "cache")
    first = start_cli([*SLOW, "-o", str(res)], env=env)
    try:
        run_dir = wait_for_holder(res)
        procs = [start_cli([*SLOW, "-o", str(res)], env=env), start_cli(["resume", str(run_dir)], env=env)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert first.poll() is None  # the contenders were refused while the holder still ran
    finally:
        out, err = first.communicate(timeout=120)
    (second, (_, second_err)), (resume, (_, resume_err)) = zip(procs, outs)
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert f"error: run folder {run_dir} is being written by pid {first.pid}" in second_err
    assert second_err.count("error:") == 1 and "Traceback" not in second_err
    assert resume.returncode == 2 and f"pid {first.pid}" in resume_err
    counts = collections.Counter(ids(run_dir))
    assert len(counts) == 8 and set(counts.values()) == {1}  # no sample written twice


def test_lock_of_a_sigkilled_run_is_free_and_resume_completes(tmp_path):
    res = tmp_path / "res"
    env = lara_env(cache_dir=tmp_path / "cache")
    first = start_cli([*SLOW, "-o", str(res)], env=env)
    run_dir = wait_for_holder(res)
    while len(ids(run_dir)) < 2:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert (run_dir / LOCK).read_text().strip() == str(first.pid)  # the file stays; the lock died with it
    again = run_cli([*SLOW, "-o", str(res)], env=env)
    assert again.returncode == 0, again.stderr
    counts = collections.Counter(ids(run_dir))
    assert len(counts) == 8 and set(counts.values()) == {1}


def test_lock_conflicts_within_one_process_too(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunFolderBusy, match=r"being written by pid \d+") as err:
            RunLock(tmp_path).acquire()
        assert err.value.exit_code == 2 and isinstance(err.value, ResultsError)
    with RunLock(tmp_path):  # released: free again
        pass
