"""Attack 5 (leftovers of a SIGKILLed lara): a lara process killed mid-run leaves its
``lara-sbx-*`` work dir (and interpreter copy, and cgroup) behind. Contained: the next sandbox to
start removes leftovers whose owner process is gone, and only those."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lara.sandbox import BubblewrapSandbox, cleanup
from lara.testing.sandbox import bwrap_unavailable, checkout_root

pytestmark = pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))

CHILD = """
from lara.sandbox import BubblewrapSandbox
sb = BubblewrapSandbox(check=False)
sb.run("import time\\ntime.sleep(60)", timeout_s=120)
"""


def _leftovers(pid: int, roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        try:
            found += [p for p in root.iterdir() if p.name.startswith(f"{cleanup.PREFIX}{pid}.")]
        except OSError:
            pass
    return found


def test_sigkilled_runs_leave_nothing_after_the_next_start() -> None:
    probe = BubblewrapSandbox(check=False)
    roots = [Path(tempfile.gettempdir())] + ([probe._factory.parent] if probe._factory else [])
    env = {**os.environ, "PYTHONPATH": str(checkout_root())}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env)
    try:
        deadline = time.monotonic() + 30
        # wait for the run to be under way: its work dir holds code/prog.py
        while not any((p / "code" / "prog.py").exists() for p in _leftovers(child.pid, roots)):
            assert time.monotonic() < deadline and child.poll() is None, "the child run never started"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    left = _leftovers(child.pid, roots)
    assert any((p / "code").is_dir() for p in left)  # the attack: a killed run leaves its dirs
    mine_before = _leftovers(os.getpid(), roots)
    deadline = time.monotonic() + 5  # the sandbox dies with its parent; its cgroup empties
    while True:
        BubblewrapSandbox(check=False)  # "at start": the constructor removes stale leftovers
        if not _leftovers(child.pid, roots) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert _leftovers(child.pid, roots) == []
    assert set(_leftovers(os.getpid(), roots)) >= {p for p in mine_before if p.exists()}  # ours untouched


def test_only_dead_owners_count_as_stale(tmp_path: Path) -> None:
    alive = tmp_path / (cleanup.owner_tag() + "x")
    dead = tmp_path / f"{cleanup.PREFIX}999999999.1-x"  # no such pid
    other = tmp_path / "lara-sbx-notours"
    for d in (alive, dead, other):
        d.mkdir()
    (dead / "f").write_text("x")
    removed = cleanup.remove_stale(str(tmp_path))
    assert removed == [str(dead)]
    assert alive.exists() and other.exists() and not dead.exists()
