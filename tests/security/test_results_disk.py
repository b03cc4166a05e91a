"""Issue 16 item 13: a read-only output folder or a full disk used to print raw tracebacks and dozens
of "Task exception was never retrieved". Now: one error line naming the path and errno, exit 1,
nothing lost (a resume on a good disk completes with every sample exactly once)."""

from __future__ import annotations

import collections
import errno
import gc
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from lara.testing.cli import lara_env, run_cli

RUN = ["run", "--task", "synthetic", "-T", "lengths=[40]", "-T", "n_docs=100", "--runner", "lc", "--model", "mock",
       "-M", "answer=x", "--no-cache", "--format", "md"]


@pytest.fixture
def tmpfs(tmp_path):
    """A tiny tmpfs of our own (root only); yields (mount point, remount function)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root): the simulated ENOSPC test covers the code path")

    def remount(opts: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True)

    try:
        yield mnt, remount
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "never retrieved" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def sample_ids(root: Path) -> collections.Counter:
    (samples,) = root.glob("*/samples.jsonl")
    return collections.Counter(json.loads(line)["sample_id"] for line in samples.read_text().splitlines())


def test_disk_full_is_one_error_line_and_resume_completes(tmp_path, tmpfs):
    mnt, remount = tmpfs
    env = lara_env(cache_dir=tmp_path / "cache")
    full = run_cli([*RUN, "-o", str(mnt)], env=env)
    assert full.returncode == 1
    line = one_error_line(full.stderr)
    assert str(mnt) in line and "[Errno 28]" in line
    kept = sample_ids(mnt)
    assert 0 < sum(kept.values()) < 400 and set(kept.values()) == {1}  # whole lines only, none twice
    remount("size=8m")  # space freed
    again = run_cli([*RUN, "-o", str(mnt)], env=env)
    assert again.returncode == 0, again.stderr
    done = sample_ids(mnt)
    assert len(done) == 400 and set(done.values()) == {1}


def test_read_only_folder_is_one_error_line(tmp_path, tmpfs):
    mnt, remount = tmpfs
    remount("ro")
    r = run_cli([*RUN, "-o", str(mnt / "results")], env=lara_env(cache_dir=tmp_path / "cache"))
    assert r.returncode == 1
    line = one_error_line(r.stderr)
    assert str(mnt / "results") in line and "[Errno 30]" in line


def test_simulated_enospc_stops_cleanly_in_process(tmp_path, monkeypatch, caplog):
    """Where no tmpfs can be mounted: the writer's system call fails with ENOSPC after 30 records."""
    from lara.config import resolve_spec
    from lara.engine import run
    from lara.errors import ResultsError
    from lara.results import store

    spec = resolve_spec("synthetic", "lc", "mock", task_params={"lengths": "[40]", "n_docs": "25"},
                        model_params={"answer": "x"})
    real_pwrite, calls = os.pwrite, {"n": 0}

    def pwrite(fd, data, offset):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("samples.jsonl"):
            calls["n"] += 1
            if calls["n"] > 30:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(store.os, "pwrite", pwrite)
    caplog.set_level(logging.ERROR, logger="asyncio")
    with pytest.raises(ResultsError, match=r"samples\.jsonl: \[Errno 28\] No space left on device") as err:
        run(spec, output_root=tmp_path, use_cache=False, max_connections=8)
    gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert err.value.exit_code == 1
    monkeypatch.setattr(store.os, "pwrite", real_pwrite)
    result = run(spec, output_root=tmp_path, use_cache=False)
    ids = collections.Counter(r["sample_id"] for r in store.read_records(result.run_dir))
    assert len(ids) == 100 and set(ids.values()) == {1}
