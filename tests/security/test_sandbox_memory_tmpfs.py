"""Attack 1 (memory through tmpfs): the answer writes twice the memory limit into /tmp, /dev/shm,
/dev, / and its work dir. Contained: the only writable filesystem is one tmpfs of ``disk_mb``
(part of the memory budget), ``/``, ``/dev`` and ``/dev/shm`` are read-only, and where a cgroup
measures it the whole sandbox's peak stays under the limit."""

from __future__ import annotations

import json

import pytest

from lara.sandbox import BubblewrapSandbox, Limits
from lara.testing.sandbox import ATTACK_FILL_TMPFS, bwrap_unavailable, memory_bounds

pytestmark = pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))

LIMITS = Limits(memory_mb=160, disk_mb=32, file_size_mb=16)


@pytest.mark.parametrize("bound", memory_bounds())
def test_filling_tmpfs_and_shm_stays_within_the_limit(bound: str) -> None:
    sandbox = BubblewrapSandbox(memory_bound=bound)
    res = sandbox.run(ATTACK_FILL_TMPFS, timeout_s=60, limits=LIMITS)
    assert res.status == "ok", res.stderr
    written = json.loads(res.stdout.strip().splitlines()[-1])
    assert written["/dev/shm"] == 0 and written["/dev"] == 0 and written["/"] == 0
    # /tmp and the work dir share one tmpfs of disk_mb
    assert 0 < written["/tmp"] + written["/sandbox"] <= LIMITS.disk_mb
    if bound == "cgroup":
        assert res.memory_bound.startswith("cgroup-")
        assert res.peak_memory_mb is not None and res.peak_memory_mb <= LIMITS.memory_mb
    else:
        assert res.memory_bound == "rlimits" and res.peak_memory_mb is None
