"""The sandbox's records and contract: limits in, an ExecResult out, and ``run_many``."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

from lara.errors import SandboxError

ExecStatus = Literal["ok", "error", "timeout"]
SANDBOX_DIR = "/sandbox"
NOBODY = 65534
OUTPUT_CAP = 64 * 1024  # bytes of stdout/stderr kept in an ExecResult


class SandboxUnavailable(SandboxError):
    """bubblewrap is missing or cannot create namespaces here; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run. ``memory_mb`` bounds the whole sandbox: all its processes plus
    its tmpfs, of which ``disk_mb`` is the size (work dir and /tmp). ``cpu_s`` 0 means: derived
    from the wall-clock timeout. ``nproc`` counts processes and threads."""

    cpu_s: int = 0
    memory_mb: int = 1024
    disk_mb: int = 64
    file_size_mb: int = 16
    nproc: int = 32
    nofile: int = 64


@dataclass(frozen=True)
class ExecResult:
    """One execution. ``status`` is the process outcome; ``reason`` is set for test runs
    (``run_tests``): passed | exit_before_tests | assertion | timeout | error."""

    status: ExecStatus
    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    isolation: str = ""
    memory_bound: str = ""  # cgroup-v2 | cgroup-v1 | rlimits | rlimit-as (unsafe subprocess)
    seccomp: str = ""  # on | off: <why>
    peak_memory_mb: float | None = None  # whole sandbox, when a cgroup measured it
    oom_killed: bool = False
    reason: str = ""
    explanation: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def passed(self) -> bool:
        return self.reason == "passed"


class Sandbox(Protocol):
    isolation: str

    def run(self, code: str, timeout_s: float = 10.0, *, limits: Limits | None = None) -> ExecResult: ...

    def run_tests(self, code: str, tests: Sequence[str], setup: str = "", timeout_s: float = 10.0, *,
                  keep: Sequence[str] = (), limits: Limits | None = None) -> ExecResult: ...


def clean_env() -> dict[str, str]:
    """Nothing of the caller's environment (API keys!) reaches the program. One malloc arena keeps
    a threaded interpreter's address space small (RLIMIT_AS counts reservations, not use)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": SANDBOX_DIR, "TMPDIR": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "1"}


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_many(
    sandbox: Sandbox,
    programs: Sequence[str],
    timeout_s: float = 10.0,
    workers: int | None = None,
    limits: Limits | None = None,
) -> list[ExecResult]:
    """Run programs in parallel, never more at once than there are cores; results keep input order."""
    n = min(workers or default_workers(), default_workers())
    with ThreadPoolExecutor(max_workers=max(1, n)) as pool:
        return list(pool.map(lambda c: sandbox.run(c, timeout_s, limits=limits), programs))


def run_tests_many(
    sandbox: Sandbox,
    cases: Sequence[tuple[str, Sequence[str], str] | tuple[str, Sequence[str], str, Sequence[str]]],
    timeout_s: float = 10.0,
    workers: int | None = None,
    limits: Limits | None = None,
) -> list[ExecResult]:
    """``run_tests`` for (code, tests, setup[, keep]) cases in parallel, like ``run_many``."""
    n = min(workers or default_workers(), default_workers())

    def one(c: tuple) -> ExecResult:
        return sandbox.run_tests(c[0], c[1], c[2], timeout_s, keep=c[3] if len(c) > 3 else (), limits=limits)

    with ThreadPoolExecutor(max_workers=max(1, n)) as pool:
        return list(pool.map(one, cases))
