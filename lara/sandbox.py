"""Isolated execution of generated code (MBPP scoring).

Why not a monkeypatch: a ``reliability_guard`` inside the evaluated process can be undone by the
code it guards. Here every program runs in a fresh process inside bubblewrap: all namespaces
unshared (no network, own pid namespace so nothing outlives the run), read-only system and
interpreter, a throw-away writable working dir, uid nobody, an empty environment (no API keys),
and rlimits (CPU, address space, file size, processes, open files) set *inside* the user namespace
by a tiny bootstrap, plus a wall-clock timeout that kills the whole process group.

``SubprocessSandbox`` (same rlimits, no namespaces) exists only for machines without bubblewrap and
must be requested explicitly with ``unsafe=True`` (CLI ``--unsafe-exec``); it logs a loud warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, Sequence

log = logging.getLogger(__name__)

ExecStatus = Literal["ok", "error", "timeout"]
SANDBOX_DIR = "/sandbox"
NOBODY = 65534
OUTPUT_CAP = 64 * 1024  # bytes of stdout/stderr kept in an ExecResult

# Runs inside the sandbox: lowers the rlimits (NPROC must be set inside the user namespace, where
# the count starts at zero), then runs the program as __main__ in the same interpreter.
_BOOTSTRAP = """\
import resource, sys
cpu, mem, fsize, nproc, nofile = (int(x) for x in sys.argv[1:6])
def lim(r, v):
    if v > 0:
        resource.setrlimit(r, (v, v))
lim(resource.RLIMIT_CPU, cpu)
lim(resource.RLIMIT_AS, mem)
lim(resource.RLIMIT_FSIZE, fsize)
lim(resource.RLIMIT_NPROC, nproc)
lim(resource.RLIMIT_NOFILE, nofile)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
path = sys.argv[6]
sys.argv = [path]
with open(path, encoding="utf-8") as f:
    src = f.read()
del resource, cpu, mem, fsize, nproc, nofile, lim, f
exec(compile(src, path, "exec"), {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})
"""


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one program. ``cpu_s`` 0 means: derived from the wall-clock timeout."""

    cpu_s: int = 0
    memory_mb: int = 1024
    file_size_mb: int = 16
    nproc: int = 32
    nofile: int = 64


@dataclass(frozen=True)
class ExecResult:
    status: ExecStatus
    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    isolation: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Sandbox(Protocol):
    isolation: str

    def run(self, code: str, timeout_s: float = 10.0, *, limits: Limits | None = None) -> ExecResult: ...


def _python() -> str:
    """The base interpreter (a venv's python is a symlink into it; the sandbox needs no venv)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _world_reachable(path: str) -> bool:
    """True when every ancestor directory is searchable by others (so uid nobody can exec it)."""
    p = Path(path).resolve()
    return all(os.stat(d).st_mode & 0o001 for d in p.parents) and bool(os.stat(p).st_mode & 0o005)


def _system_python() -> str | None:
    for cand in (f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}", "/usr/bin/python3"):
        if os.path.exists(cand):
            return os.path.realpath(cand)
    return None


def _read_capped(path: Path) -> str:
    with open(path, "rb") as f:
        data = f.read(OUTPUT_CAP + 1)
    text = data[:OUTPUT_CAP].decode("utf-8", errors="replace")
    return text + ("\n[output truncated]" if len(data) > OUTPUT_CAP else "")


class _ProcessSandbox:
    """Shared machinery: temp dirs, output files capped by RLIMIT_FSIZE, timeout + group kill."""

    isolation = "none"

    def _argv(self, workdir: Path, limit_args: list[str]) -> list[str]:
        raise NotImplementedError

    def _nproc(self, limits: Limits) -> int:
        return limits.nproc

    def _popen_kwargs(self) -> dict:
        return {}

    def run(self, code: str, timeout_s: float = 10.0, *, limits: Limits | None = None) -> ExecResult:
        limits = limits or Limits()
        cpu = limits.cpu_s or int(timeout_s) + 1
        limit_args = [
            str(cpu),
            str(limits.memory_mb * 1024 * 1024),
            str(limits.file_size_mb * 1024 * 1024),
            str(self._nproc(limits)),
            str(limits.nofile),
        ]
        with tempfile.TemporaryDirectory(prefix="lara-sbx-") as tmp:
            root = Path(tmp)
            work, io_dir = root / "work", root / "io"
            work.mkdir()
            io_dir.mkdir()
            os.chmod(root, 0o755)
            os.chmod(work, 0o777)  # writable for uid nobody inside the sandbox
            (work / "prog.py").write_text(code, encoding="utf-8")
            argv = self._argv(work, limit_args)
            out_p, err_p = io_dir / "stdout", io_dir / "stderr"
            start = time.monotonic()
            with open(out_p, "wb") as out, open(err_p, "wb") as err:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=work,
                    env=_clean_env(),
                    start_new_session=True,  # own process group: the timeout kills all of it
                    close_fds=True,
                    **self._popen_kwargs(),
                )
                timed_out = False
                try:
                    rc: int | None = proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_group(proc)
                    rc = proc.wait()
            duration = time.monotonic() - start
            stdout, stderr = _read_capped(out_p), _read_capped(err_p)
        if timed_out:
            status: ExecStatus = "timeout"
        elif rc == -signal.SIGXCPU or rc == 128 + signal.SIGXCPU:
            status = "timeout"  # CPU limit reached before the wall clock
        else:
            status = "ok" if rc == 0 else "error"
        return ExecResult(status, rc, stdout, stderr, duration, self.isolation)


def _clean_env() -> dict[str, str]:
    """Nothing of the caller's environment (API keys!) reaches the program."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": SANDBOX_DIR,
            "PYTHONDONTWRITEBYTECODE": "1"}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class BubblewrapSandbox(_ProcessSandbox):
    """Default sandbox: bubblewrap namespaces + rlimits. Raises SandboxUnavailable if bwrap fails."""

    isolation = "bubblewrap"

    def __init__(self, bwrap: str | None = None, python: str | None = None, check: bool = True) -> None:
        self.bwrap = bwrap or shutil.which("bwrap") or ""
        # As root, the sandbox's uid would map to host root, which the kernel exempts from
        # RLIMIT_NPROC (fork bombs); so bwrap itself is started as host uid nobody.
        self.drop_to_nobody = os.geteuid() == 0
        self.python = python or _python()
        if self.drop_to_nobody and not _world_reachable(self.python):
            fallback = _system_python()
            if fallback is None:
                raise SandboxUnavailable(
                    f"interpreter {self.python} is not readable by uid nobody and no /usr/bin/python3 exists"
                )
            self.python = fallback
        if not self.bwrap:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: apt-get install bubblewrap "
                "(or pass --unsafe-exec to run generated code without isolation)"
            )
        if check:
            self._probe()

    def _popen_kwargs(self) -> dict:
        if self.drop_to_nobody:
            return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        return {}

    def _binds(self) -> list[str]:
        args: list[str] = ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            p = Path(top)
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), top]
            elif p.is_dir():
                args += ["--ro-bind", top, top]
        prefix = Path(self.python).resolve().parent.parent  # <prefix>/bin/python3.x -> <prefix>
        if not str(prefix).startswith("/usr"):
            args += ["--ro-bind", str(prefix), str(prefix)]
        return args

    def _argv(self, workdir: Path, limit_args: list[str]) -> list[str]:
        return [
            self.bwrap,
            "--unshare-all",  # user, ipc, pid, net, uts, cgroup: no network at all
            "--uid", "65534", "--gid", "65534",
            "--hostname", "sandbox",
            "--die-with-parent",
            "--new-session",
            *self._binds(),
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",
            "--bind", str(workdir), SANDBOX_DIR,
            "--chdir", SANDBOX_DIR,
            "--clearenv",
            *[x for k, v in _clean_env().items() for x in ("--setenv", k, v)],
            "--",
            self.python, "-I", "-c", _BOOTSTRAP, *limit_args, f"{SANDBOX_DIR}/prog.py",
        ]

    def _probe(self) -> None:
        res = self.run("print('sandbox-ok')", timeout_s=30)
        if res.status != "ok" or "sandbox-ok" not in res.stdout:
            raise SandboxUnavailable(
                f"bubblewrap cannot run here (returncode {res.returncode}): {res.stderr.strip()[:500]}"
            )


class SubprocessSandbox(_ProcessSandbox):
    """UNSAFE: a plain subprocess with rlimits and a temp cwd; no filesystem/network isolation."""

    isolation = "subprocess-unsafe"

    def __init__(self, unsafe: bool = False, python: str | None = None) -> None:
        if not unsafe:
            raise ValueError("SubprocessSandbox runs untrusted code without isolation; pass unsafe=True")
        self.python = python or _python()
        log.warning(
            "UNSAFE EXECUTION: generated code runs as a plain subprocess WITHOUT filesystem or "
            "network isolation (--unsafe-exec). Use only with trusted code."
        )

    def _nproc(self, limits: Limits) -> int:
        return 0  # outside a user namespace RLIMIT_NPROC counts all processes of the caller's uid

    def _argv(self, workdir: Path, limit_args: list[str]) -> list[str]:
        return [self.python, "-I", "-c", _BOOTSTRAP, *limit_args, str(workdir / "prog.py")]


def make_sandbox(unsafe: bool = False) -> Sandbox:
    """Bubblewrap by default; the unsafe subprocess only when explicitly asked for."""
    if unsafe:
        return SubprocessSandbox(unsafe=True)
    return BubblewrapSandbox()


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
