"""Isolated execution of generated code: ``make_sandbox()`` and the records it returns.

Modules: ``bubblewrap`` (the default sandbox), ``process`` (shared machinery and the explicit
unsafe subprocess), ``memory`` (cgroup or rlimits bound on the whole sandbox), ``seccomp`` (the
syscall filter), ``cleanup`` (symlink-safe removal, leftovers of dead runs), ``verdict`` (when a
code task passes: the nonce protocol), ``_bootstrap`` (the code that runs first inside).
docs/security.md says what is bounded and how.
"""

from __future__ import annotations

from lara.sandbox.base import (ExecResult, ExecStatus, Limits, Sandbox, SandboxUnavailable, default_workers,
                               run_many, run_tests_many)
from lara.sandbox.bubblewrap import BubblewrapSandbox
from lara.sandbox.process import SubprocessSandbox

__all__ = ["BubblewrapSandbox", "ExecResult", "ExecStatus", "Limits", "Sandbox", "SandboxUnavailable",
           "SubprocessSandbox", "default_workers", "make_sandbox", "run_many", "run_tests_many"]


def make_sandbox(unsafe: bool = False, **kwargs) -> Sandbox:
    """Bubblewrap by default; the unsafe subprocess only when explicitly asked for."""
    if unsafe:
        return SubprocessSandbox(unsafe=True)
    return BubblewrapSandbox(**kwargs)
