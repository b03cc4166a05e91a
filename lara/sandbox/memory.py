"""How the sandbox bounds its total memory: a memory cgroup when one can be made, else rlimits.

"Total" means every process of the sandbox plus its tmpfs. A per-process RLIMIT_AS alone does not
bound that: children multiply it and tmpfs pages belong to no process. So:

- ``cgroup-v2`` / ``cgroup-v1``: a child cgroup of lara's own (``lara-sbx-<pid>.<start>-<n>-<random>``) with
  ``memory.max`` / ``memory.limit_in_bytes`` = the limit; tmpfs pages written inside are charged
  to it, and the kernel OOM-kills inside the sandbox when it is full. Made per run, removed after.
- ``rlimits`` (no writable memory controller, e.g. lara not root on cgroup v1): the tmpfs is sized
  out of the limit and RLIMIT_AS x RLIMIT_NPROC <= limit - tmpfs.

In both cases the only writable filesystem is one tmpfs of ``disk_mb`` (``/dev`` and ``/`` are
remounted read-only, ``/dev/shm`` included) and seccomp denies memfd and SysV shared memory, which
no size option covers.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from lara.errors import ConfigError, SandboxError

log = logging.getLogger(__name__)

MB = 1024 * 1024
MIN_PROC_MB = 128  # rlimits mode: the address space one Python process gets at least
MIN_NPROC = 4  # bwrap's init + the interpreter + its worker thread + one spare


@dataclass(frozen=True)
class MemoryPlan:
    """The numbers one run uses. ``rlimit_as`` is per process; ``cgroup_limit`` is for the whole sandbox."""

    mechanism: str  # "cgroup-v2" | "cgroup-v1" | "rlimits"
    rlimit_as: int
    nproc: int
    tmpfs_bytes: int
    cgroup_limit: int | None


def plan(memory_mb: int, disk_mb: int, nproc: int, mechanism: str) -> MemoryPlan:
    """Split ``memory_mb`` between processes and the tmpfs for the chosen mechanism."""
    if disk_mb <= 0 or memory_mb <= disk_mb:
        raise ConfigError(f"sandbox limits: disk_mb ({disk_mb}) must be > 0 and below memory_mb ({memory_mb}), "
                          "because the tmpfs is part of the memory budget")
    if mechanism.startswith("cgroup"):
        return MemoryPlan(mechanism, memory_mb * MB, max(nproc, MIN_NPROC), disk_mb * MB, memory_mb * MB)
    budget = memory_mb - disk_mb
    n = max(MIN_NPROC, min(nproc, budget // MIN_PROC_MB))
    return MemoryPlan("rlimits", budget * MB // n, n, disk_mb * MB, None)


def _mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fstype, super options) of every mount."""
    rows: list[tuple[str, str, str, str]] = []
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return rows
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if len(f) >= 5 and len(r) >= 3:
            rows.append((f[3], f[4], r[0], r[2]))
    return rows


def _own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path for a v1 controller, or the v2 path when controller is None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, _, rest = line.partition(":")
        ctrls, _, path = rest.partition(":")
        if controller is None and hid == "0" and ctrls == "":
            return path
        if controller is not None and controller in ctrls.split(","):
            return path
    return None


def _join(mount: str, root: str, path: str) -> Path:
    if root != "/" and path.startswith(root):
        path = path[len(root):]
    return Path(mount) / path.lstrip("/")


class Cgroup:
    """One memory-limited cgroup directory; v1 and v2 differ only in file names."""

    def __init__(self, path: Path, version: str) -> None:
        self.path, self.version = path, version

    def _file(self, v1: str, v2: str) -> Path:
        return self.path / (v2 if self.version == "v2" else v1)

    def set_limit(self, limit: int) -> None:
        self._file("memory.limit_in_bytes", "memory.max").write_text(str(limit))
        swap = self._file("memory.memsw.limit_in_bytes", "memory.swap.max")
        if swap.exists():
            swap.write_text(str(limit) if self.version == "v1" else "0")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def peak_bytes(self) -> int | None:
        f = self._file("memory.max_usage_in_bytes", "memory.peak")
        try:
            return int(f.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def oom_kills(self) -> int:
        f = self._file("memory.oom_control", "memory.events")
        try:
            for line in f.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self, wait_s: float = 2.0) -> bool:
        """rmdir, killing stragglers (processes still exiting) first; False if it stays."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    log.warning("could not remove sandbox cgroup %s: %s", self.path, exc)
                    return False
            try:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            except OSError:
                pass
            time.sleep(0.01)


class CgroupFactory:
    """Makes per-run cgroups under lara's own memory cgroup."""

    def __init__(self, parent: Path, version: str, prefix: str) -> None:
        self.parent, self.version, self.prefix = parent, version, prefix
        self._n = 0

    @property
    def mechanism(self) -> str:
        return f"cgroup-{self.version}"

    def create(self, limit: int) -> Cgroup:
        self._n += 1
        path = self.parent / f"{self.prefix}{self._n}-{os.urandom(3).hex()}"
        try:
            path.mkdir()
        except OSError as exc:
            raise SandboxError(f"cannot create the sandbox's memory cgroup {path}: {exc}") from exc
        cg = Cgroup(path, self.version)
        try:
            cg.set_limit(limit)
        except OSError as exc:
            cg.remove()
            raise SandboxError(f"cannot set the memory limit of cgroup {path}: {exc}") from exc
        return cg


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    mounts = _mountinfo()
    v2 = _own_cgroup(None)
    for root, mount, fstype, _opts in mounts:
        if fstype == "cgroup2" and v2 is not None:
            parent = _join(mount, root, v2)
            try:
                if "memory" in (parent / "cgroup.subtree_control").read_text().split():
                    found.append((parent, "v2"))
            except OSError:
                pass
    v1 = _own_cgroup("memory")
    for root, mount, fstype, opts in mounts:
        if fstype == "cgroup" and "memory" in opts.split(",") and v1 is not None:
            found.append((_join(mount, root, v1), "v1"))
    return found


def detect(prefix: str) -> CgroupFactory | None:
    """The first cgroup hierarchy where lara can make a memory-limited child, probed by making one."""
    for parent, version in _candidates():
        factory = CgroupFactory(parent, version, prefix)
        try:
            probe = factory.create(64 * MB)
        except SandboxError as exc:
            log.debug("memory cgroup %s unusable: %s", version, exc)
            continue
        probe.remove()
        return factory
    return None
