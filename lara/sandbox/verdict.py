"""When a code task passes: the tests ran to their end and held, proven by a nonce.

Exit status 0 is not proof: ``os._exit(0)``, ``sys.exit(0)`` before the asserts, a SystemExit in an
atexit hook all end with 0. So the sandbox appends the tests itself (``_bootstrap.py`` mode
``check``) and, only after the last one returned, writes a per-run random nonce as the last line of
stdout. Pass = that nonce is there and the exit status is 0. The nonce reaches the sandbox through
a pipe read by the harness before the answer runs; it is in no file, argument, environment variable
or program text the answer can read. Every other outcome is a failure with a reason:

- ``exit_before_tests``: the program ended (exit, SystemExit, a signal it sent) before the tests
  completed;
- ``assertion``: a test assertion failed;
- ``timeout``: wall clock or CPU limit;
- ``error``: any other exception, a crash, the memory limit, or an answer that tampered with
  what the tests use (builtins it shadows are not seen by the tests; replacing a module or
  attribute the tests name, or leaving threads running, fails).

Out of scope (stated in docs/security.md): answers whose *values* make comparisons hold (an
``__eq__`` that always returns True, patched methods of Python classes the tests use): the tests
did run and hold; that is a property of the tests, not of the harness.
"""

from __future__ import annotations

import ast
import json
import secrets
import signal
from typing import Sequence

REASONS = ("passed", "exit_before_tests", "assertion", "timeout", "error")
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE, signal.SIGXFSZ,
                  signal.SIGSYS}


def new_nonce() -> bytes:
    return secrets.token_hex(16).encode()


def test_spec(tests: Sequence[str], setup: str = "", keep: Sequence[str] = ()) -> str:
    """The tests file the bootstrap reads: setup code, one statement per test, names to keep."""
    return json.dumps({"setup": setup or "", "tests": list(tests), "keep": sorted(set(keep))})


def top_level_names(code: str) -> tuple[str, ...]:
    """Names a reference solution defines at top level: the task's own names, which the tests may
    take from an answer even where they shadow a builtin (MBPP task 126 defines ``sum``)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return tuple(sorted(names))


def signal_of(rc: int | None) -> int | None:
    """The signal that ended the process: -N from Popen, 128+N from bubblewrap."""
    if rc is None:
        return None
    if rc < 0:
        return -rc
    if 128 < rc < 128 + 65:
        return rc - 128
    return None


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def has_nonce(stdout_tail: bytes, nonce: bytes) -> bool:
    lines = stdout_tail.rstrip(b"\n").split(b"\n")
    return bool(lines) and lines[-1] == nonce


def strip_nonce(stdout: str, nonce: bytes) -> str:
    marker = "\n" + nonce.decode() + "\n"
    return stdout[: -len(marker)] if stdout.endswith(marker) else stdout


def classify(*, rc: int | None, timed_out: bool, stdout_tail: bytes, status: str, nonce: bytes,
             oom_killed: bool) -> tuple[str, str]:
    """(reason, explanation) of one test run from what the host observed."""
    sig = signal_of(rc)
    if timed_out or sig == signal.SIGXCPU:
        return "timeout", "wall-clock timeout" if timed_out else "CPU time limit"
    if rc == 0 and has_nonce(stdout_tail, nonce):
        return "passed", "all tests passed"
    lines = status.splitlines()
    stages = [ln.split()[1] for ln in lines if ln.startswith("stage ") and len(ln.split()) > 1]
    msg = next((ln[4:] for ln in lines if ln.startswith("msg ")), "")
    fail = next((ln.split() for ln in lines if ln.startswith("fail ")), None)
    steps = [ln[5:] for ln in lines if ln.startswith("step ")]
    if fail is not None and steps and fail[1:2] == ["tests"]:
        msg = f"{steps[-1]}: {msg}" if msg else steps[-1]
    if oom_killed:
        return "error", "killed at the sandbox's memory limit"
    if fail is not None and len(fail) >= 3:
        stage, kind = fail[1], fail[2]
        if kind == "exit":
            return "exit_before_tests", f"exited during the {stage} stage before the tests completed ({msg})"
        if kind == "assertion":
            return "assertion", msg or "AssertionError"
        if kind == "tampered":
            return "error", f"the answer tampered with what the tests use: {msg}"
        return "error", msg or f"error in the {stage} stage"
    if "done" in lines:
        return "error", f"the tests completed but the result line is missing (exit status {rc})"
    if sig in _CRASH_SIGNALS:
        return "error", f"crashed with {_signame(sig)}"
    where = stages[-1] if stages else "start"
    how = f"killed by {_signame(sig)}" if sig else f"exit status {rc}"
    return "exit_before_tests", f"the program ended ({how}) in the {where} stage, before the tests completed"
