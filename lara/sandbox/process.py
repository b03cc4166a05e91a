"""Running one program in a child process: files in, fds, timeout, outputs, cleanup.

Shared by the bubblewrap sandbox and the unsafe subprocess; subclasses supply the command line
(``_argv``), the memory plan and, optionally, a cgroup. The host side writes the program into a
fresh ``lara-sbx-<pid>.<start>-*`` dir that the sandbox sees read-only; stdout/stderr/status are
host files passed as file descriptors, so the program never gets a writable host path.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lara.errors import SandboxError
from lara.sandbox import cleanup, verdict
from lara.sandbox.base import OUTPUT_CAP, ExecResult, ExecStatus, Limits, clean_env
from lara.sandbox.memory import Cgroup, CgroupFactory, MemoryPlan

log = logging.getLogger(__name__)

_TAIL = 4096


@functools.lru_cache(maxsize=1)
def bootstrap_source() -> str:
    return (Path(__file__).with_name("_bootstrap.py")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Raw:
    rc: int | None
    timed_out: bool
    duration: float
    stdout: str
    stdout_tail: bytes
    stderr: str
    status: str
    peak_mb: float | None
    oom: bool


def _read_capped(path: Path) -> tuple[str, bytes]:
    with open(path, "rb") as f:
        data = f.read(OUTPUT_CAP + 1)
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - _TAIL))
        tail = f.read(_TAIL)
    text = data[:OUTPUT_CAP].decode("utf-8", errors="replace")
    return text + ("\n[output truncated]" if len(data) > OUTPUT_CAP else ""), tail


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ProcessSandbox:
    """Common machinery; see the module docstring."""

    isolation = "none"
    seccomp_status = "off: no namespaces"
    code_mount: str | None = None  # where the code dir appears to the program (None: its host path)

    # --- hooks for subclasses -------------------------------------------------------------
    def _plan(self, limits: Limits) -> MemoryPlan:
        raise NotImplementedError

    def _argv(self, code_dir: Path, boot_args: list[str], plan: MemoryPlan, fds: dict[str, int]) -> list[str]:
        raise NotImplementedError

    def _extra_fds(self) -> dict[str, int]:
        return {}

    def _popen_kwargs(self) -> dict:
        return {}

    def _cgroups(self) -> CgroupFactory | None:
        return None

    # --- public API ---------------------------------------------------------------------------
    def run(self, code: str, timeout_s: float = 10.0, *, limits: Limits | None = None) -> ExecResult:
        """Run ``code`` as ``__main__``; status ok means exit status 0 (no proof of anything else)."""
        raw, plan = self._launch({"prog.py": code}, "run", ["prog.py"], timeout_s, limits or Limits(), None)
        sig = verdict.signal_of(raw.rc)
        status: ExecStatus
        if raw.timed_out or sig == signal.SIGXCPU:
            status = "timeout"
        else:
            status = "ok" if raw.rc == 0 else "error"
        return self._result(status, raw, plan)

    def run_tests(self, code: str, tests: Sequence[str], setup: str = "", timeout_s: float = 10.0, *,
                  keep: Sequence[str] = (), limits: Limits | None = None) -> ExecResult:
        """Run ``code``, then ``setup`` and each test statement; pass only if all ran and held
        (see ``lara.sandbox.verdict``). ``keep``: names the tests may take from the answer even
        where they shadow builtins (the task's own function names)."""
        nonce = verdict.new_nonce()
        files = {"candidate.py": code, "tests.json": verdict.test_spec(tests, setup, keep)}
        raw, plan = self._launch(files, "check", ["candidate.py", "tests.json"], timeout_s, limits or Limits(), nonce)
        reason, why = verdict.classify(rc=raw.rc, timed_out=raw.timed_out, stdout_tail=raw.stdout_tail,
                                       status=raw.status, nonce=nonce, oom_killed=raw.oom)
        status: ExecStatus = "ok" if reason == "passed" else "timeout" if reason == "timeout" else "error"
        raw = _Raw(raw.rc, raw.timed_out, raw.duration, verdict.strip_nonce(raw.stdout, nonce), b"", raw.stderr,
                   raw.status, raw.peak_mb, raw.oom)
        return self._result(status, raw, plan, reason, why)

    # --- machinery ----------------------------------------------------------------------------
    def _result(self, status: ExecStatus, raw: _Raw, plan: MemoryPlan, reason: str = "", why: str = "") -> ExecResult:
        return ExecResult(status, raw.rc, raw.stdout, raw.stderr, raw.duration, self.isolation, plan.mechanism,
                          self.seccomp_status, raw.peak_mb, raw.oom, reason, why)

    def _launch(self, files: dict[str, str], mode: str, names: list[str], timeout_s: float, limits: Limits,
                nonce: bytes | None) -> tuple[_Raw, MemoryPlan]:
        plan = self._plan(limits)
        cpu = limits.cpu_s or int(timeout_s) + 1
        root = Path(tempfile.mkdtemp(prefix=cleanup.owner_tag()))
        fds_to_close: list[int] = []
        cg: Cgroup | None = None
        try:
            os.chmod(root, 0o755)  # uid nobody must reach code/ (io/ stays private)
            code_dir, io_dir = root / "code", root / "io"
            code_dir.mkdir(mode=0o755)
            io_dir.mkdir(mode=0o700)
            for name, text in files.items():
                (code_dir / name).write_text(text, encoding="utf-8")
                os.chmod(code_dir / name, 0o644)
            where = self.code_mount or str(code_dir)
            boot = [mode, str(cpu), str(plan.rlimit_as), str(limits.file_size_mb * 1024 * 1024), str(plan.nproc),
                    str(limits.nofile)]
            fds = dict(self._extra_fds())
            fds_to_close += list(fds.values())
            if mode == "check":
                status_fd = os.open(io_dir / "status", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                nonce_r, nonce_w = os.pipe()
                os.write(nonce_w, nonce or b"")
                os.close(nonce_w)
                fds_to_close += [status_fd, nonce_r]
                fds.update(status=status_fd, nonce=nonce_r)
                boot += [str(status_fd), str(nonce_r)]
            boot += [f"{where}/{n}" for n in names]
            argv = self._argv(code_dir, boot, plan, fds)
            factory = self._cgroups() if plan.cgroup_limit else None
            gate_r = gate_w = None
            if factory is not None and plan.cgroup_limit:
                cg = factory.create(plan.cgroup_limit)
                # The child waits on the gate until it is inside the cgroup, so everything it starts is.
                gate_r, gate_w = os.pipe()
                fds_to_close += [gate_r, gate_w]
                argv = ["/bin/sh", "-c", 'read -r go && [ "$go" = go ] && exec "$@" </dev/null; exit 125',
                        "lara-gate", *argv]
            out_p, err_p = io_dir / "stdout", io_dir / "stderr"
            start = time.monotonic()
            with open(out_p, "wb") as out, open(err_p, "wb") as err:
                proc = subprocess.Popen(
                    argv, stdin=gate_r if gate_r is not None else subprocess.DEVNULL, stdout=out, stderr=err,
                    cwd="/", env=clean_env(), start_new_session=True, close_fds=True,
                    pass_fds=tuple(fds.values()), **self._popen_kwargs(),
                )
                if cg is not None and gate_w is not None:
                    try:
                        cg.add(proc.pid)
                    except OSError as exc:
                        _kill_group(proc)
                        proc.wait()
                        raise SandboxError(f"cannot move the sandbox into cgroup {cg.path}: {exc}") from exc
                    os.write(gate_w, b"go\n")
                for fd in fds_to_close:
                    os.close(fd)
                fds_to_close = []
                timed_out = False
                try:
                    rc: int | None = proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_group(proc)
                    rc = proc.wait()
            duration = time.monotonic() - start
            stdout, tail = _read_capped(out_p)
            stderr, _ = _read_capped(err_p)
            status = (io_dir / "status").read_text(errors="replace") if mode == "check" else ""
            peak = oom = None
            if cg is not None:
                peak_b = cg.peak_bytes()
                peak = round(peak_b / (1024 * 1024), 1) if peak_b is not None else None
                oom = cg.oom_kills() > 0
            return _Raw(rc, timed_out, duration, stdout, tail, stderr, status, peak, bool(oom)), plan
        finally:
            for fd in fds_to_close:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if cg is not None:
                cg.remove()
            cleanup.remove_tree(root)


class SubprocessSandbox(ProcessSandbox):
    """UNSAFE: a plain subprocess with rlimits and the same bootstrap; no filesystem, network,
    memory-total or syscall isolation. Only with ``unsafe=True`` (CLI ``--unsafe-exec``)."""

    isolation = "subprocess-unsafe"
    seccomp_status = "off: unsafe subprocess"

    def __init__(self, unsafe: bool = False, python: str | None = None) -> None:
        if not unsafe:
            raise ValueError("SubprocessSandbox runs untrusted code without isolation; pass unsafe=True")
        from lara.sandbox.bubblewrap import base_python

        self.python = python or base_python()
        log.warning(
            "UNSAFE EXECUTION: generated code runs as a plain subprocess WITHOUT filesystem or "
            "network isolation (--unsafe-exec). Use only with trusted code."
        )

    def _plan(self, limits: Limits) -> MemoryPlan:
        # Outside a user namespace RLIMIT_NPROC counts every process of the caller's uid: not set.
        return MemoryPlan("rlimit-as (unsafe)", limits.memory_mb * 1024 * 1024, 0, 0, None)

    def _argv(self, code_dir: Path, boot_args: list[str], plan: MemoryPlan, fds: dict[str, int]) -> list[str]:
        return [self.python, "-I", "-c", bootstrap_source(), *boot_args]
