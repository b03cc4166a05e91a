"""Helpers for tests and benchmarks of the sandbox: what this machine offers, and running Python
as another (non-root) user to exercise the non-root code paths when the suite runs as root."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import lara

NOBODY = 65534


@functools.lru_cache(maxsize=1)
def bwrap_unavailable() -> str | None:
    """None when the bubblewrap sandbox runs here, else why not (a skip reason)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) not installed (install.sh apt-installs it)"
    from lara.sandbox import BubblewrapSandbox, SandboxUnavailable

    try:
        BubblewrapSandbox(memory_bound="rlimits")
    except SandboxUnavailable as exc:
        return f"bubblewrap cannot run here: {exc}"
    return None


@functools.lru_cache(maxsize=1)
def memory_bounds() -> tuple[str, ...]:
    """The memory mechanisms the sandbox can use here: always rlimits, plus a cgroup when lara
    can make one (as root on cgroup v1, or on a delegated cgroup v2)."""
    from lara.sandbox.cleanup import owner_tag
    from lara.sandbox.memory import detect

    return ("cgroup", "rlimits") if detect(owner_tag()) is not None else ("rlimits",)


def checkout_root() -> Path:
    return Path(lara.__file__).resolve().parent.parent


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o005 == 0o005 for p in [path, *path.parents])


def as_nobody_unavailable() -> str | None:
    """None when Debian's python3 can run this checkout as uid nobody (we are root, and the
    checkout is world-readable), else why not."""
    if os.geteuid() != 0:
        return None  # already not root: run directly
    if not os.path.exists("/usr/bin/python3"):
        return "no /usr/bin/python3 to run as uid nobody"
    if not _reachable_by_others(checkout_root()):
        return f"the checkout {checkout_root()} is not readable by uid nobody"
    return None


def run_python(code: str, *, as_nobody: bool, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` with this checkout importable: as uid nobody with Debian's python3 when asked
    (and we are root), else with this interpreter."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(checkout_root()), "LANG": "C.UTF-8"}
    if as_nobody and os.geteuid() == 0:
        return subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True, text=True,
                              timeout=timeout, user=NOBODY, group=NOBODY, extra_groups=[], cwd="/")
    import sys

    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


# Attack programs shared by the security tests (root and non-root runs) and benchmarks.
# Attack 1: write twice the memory limit (320 MB per place) into every place that might take it;
# prints MB written per place as JSON.
ATTACK_FILL_TMPFS = """
import json, os
MB = 1 << 20
chunk = b"x" * MB
written = {}
for target in ["/tmp", "/dev/shm", "/dev", "/", "/sandbox"]:
    n = 0
    for i in range(40):  # 40 files x 8 MB: 320 MB per place
        try:
            with open(os.path.join(target, "fill-%d" % i), "wb") as f:
                for _ in range(8):
                    f.write(chunk)
                    f.flush()
                    n += MB
        except OSError:
            if i > 0 and n == 0:
                break
    written[target] = n // MB
print(json.dumps(written))
"""

# Attack 2: three children each try to hold HOLD_MB (really touched pages) at the same time;
# prints how many held, failed to allocate, or were killed.
HOLD_MB = 100
ATTACK_CHILDREN = f"""
import json, os, time
pids = []
for i in range(3):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            block = b"x" * ({HOLD_MB} << 20)
        except MemoryError:
            os._exit(3)
        time.sleep(1.5)  # all holders overlap: they allocated within a fraction of a second
        os._exit(0 if len(block) else 4)
    pids.append(pid)
outcomes = {{"held": 0, "memory_error": 0, "killed": 0}}
for pid in pids:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        outcomes["killed"] += 1
    elif os.WEXITSTATUS(status) == 0:
        outcomes["held"] += 1
    else:
        outcomes["memory_error"] += 1
outcomes["forked"] = len(pids)
print(json.dumps(outcomes))
"""
