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
from lara.testing.sandbox import (ATTACK_CHILDREN, ATTACK_FILL_TMPFS, HOLD_MB, as_nobody_unavailable,
                                  bwrap_unavailable, memory_bounds, run_python)

pytestmark = pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))

LIMITS = Limits(memory_mb=192, disk_mb=16, nproc=32)  # three children want 300 MB
FILL_LIMITS = Limits(memory_mb=160, disk_mb=32)


@pytest.mark.parametrize("bound", memory_bounds())
def test_children_cannot_hold_more_than_the_limit_together(bound: str) -> None:
    res = BubblewrapSandbox(memory_bound=bound).run(ATTACK_CHILDREN, timeout_s=60, limits=LIMITS)
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


@pytest.mark.skipif(as_nobody_unavailable() is not None, reason=str(as_nobody_unavailable()))
def test_children_and_tmpfs_attacks_contained_when_lara_is_not_root() -> None:
    """Attacks 1 and 2 with lara itself running as a non-root user (uid nobody here), where no
    cgroup can be made on cgroup v1: the rlimits bound must hold on its own."""
    code = f"""
import json, os
from lara.sandbox import BubblewrapSandbox, Limits
sb = BubblewrapSandbox()
kids = sb.run({ATTACK_CHILDREN!r}, timeout_s=60, limits=Limits(memory_mb={LIMITS.memory_mb}, disk_mb={LIMITS.disk_mb}))
fill = sb.run({ATTACK_FILL_TMPFS!r}, timeout_s=60,
              limits=Limits(memory_mb={FILL_LIMITS.memory_mb}, disk_mb={FILL_LIMITS.disk_mb}))
print(json.dumps({{"uid": os.geteuid(), "bound": kids.memory_bound, "kids": kids.stdout.strip().splitlines()[-1],
                  "fill": fill.stdout.strip().splitlines()[-1]}}))
"""
    proc = run_python(code, as_nobody=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["uid"] != 0
    kids, fill = json.loads(out["kids"]), json.loads(out["fill"])
    assert kids["held"] * HOLD_MB <= LIMITS.memory_mb
    if out["bound"] == "rlimits":
        assert kids["held"] == 0
    assert fill["/dev/shm"] == 0 and fill["/dev"] == 0 and fill["/"] == 0
    assert 0 < fill["/tmp"] + fill["/sandbox"] <= FILL_LIMITS.disk_mb
