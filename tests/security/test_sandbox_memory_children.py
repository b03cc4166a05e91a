"""Attack 2 (memory through children): three children each try to hold more than a third of the
limit at the same time. Contained: with a cgroup the whole sandbox is OOM-killed inside at the
limit (and its measured peak stays under it); without one RLIMIT_AS x RLIMIT_NPROC fits the limit,
so no child can even allocate its share. Either way at most one child survives holding memory."""

from __future__ import annotations

import json
import resource

import pytest

from lara.sandbox import BubblewrapSandbox, Limits
from lara.sandbox.memory import plan
from lara.testing.sandbox import bwrap_unavailable, memory_bounds

pytestmark = pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))

LIMITS = Limits(memory_mb=192, disk_mb=16, nproc=32)
HOLD_MB = 100  # three children: 300 MB wanted against 192 MB
CHILDREN = f"""
import json, os, time
pids = []
for i in range(3):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            block = b"x" * ({HOLD_MB} << 20)  # really touched pages, not a lazy zero mapping
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


@pytest.mark.parametrize("bound", memory_bounds())
def test_children_cannot_hold_more_than_the_limit_together(bound: str) -> None:
    res = BubblewrapSandbox(memory_bound=bound).run(CHILDREN, timeout_s=60, limits=LIMITS)
    assert res.status == "ok", res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["forked"] >= 1
    assert out["held"] * HOLD_MB <= LIMITS.memory_mb  # never all three, never two
    assert out["held"] + out["memory_error"] + out["killed"] == out["forked"]
    if bound == "cgroup":
        assert out["forked"] == 3  # the cgroup leaves the process count alone
        assert res.memory_bound.startswith("cgroup-") and res.oom_killed and out["killed"] >= 1
        assert res.peak_memory_mb is not None and res.peak_memory_mb <= LIMITS.memory_mb
    else:  # fewer processes, each too small to hold its share
        assert res.memory_bound == "rlimits" and out["held"] == 0 and out["memory_error"] == out["forked"]


def test_rlimits_plan_bounds_processes_times_address_space() -> None:
    """Without a cgroup: RLIMIT_AS x RLIMIT_NPROC + tmpfs <= the limit, for the default limits too."""
    for limits in (LIMITS, Limits()):
        p = plan(limits.memory_mb, limits.disk_mb, limits.nproc, "rlimits")
        assert p.rlimit_as * p.nproc + p.tmpfs_bytes <= limits.memory_mb << 20
        assert p.nproc >= 4 and p.cgroup_limit is None


@pytest.mark.parametrize("bound", memory_bounds())
def test_the_sandbox_reports_its_limits_from_inside(bound: str) -> None:
    """The rlimits the plan promises are the ones the sandboxed process has."""
    code = ("import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0], "
            "resource.getrlimit(resource.RLIMIT_NPROC)[0])")
    res = BubblewrapSandbox(memory_bound=bound).run(code, timeout_s=30, limits=LIMITS)
    got_as, got_nproc = (int(x) for x in res.stdout.split())
    p = plan(LIMITS.memory_mb, LIMITS.disk_mb, LIMITS.nproc, res.memory_bound)
    assert (got_as, got_nproc) == (p.rlimit_as, p.nproc)
    assert got_as != resource.RLIM_INFINITY
