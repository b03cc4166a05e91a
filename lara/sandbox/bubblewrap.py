"""The default sandbox: bubblewrap namespaces, a seccomp filter, a memory bound for the whole
sandbox, one sized tmpfs, rlimits, a wall-clock timeout.

Why not a monkeypatch: a ``reliability_guard`` inside the evaluated process can be undone by the
code it guards. Here every program runs in a fresh process inside bubblewrap: all namespaces
unshared (no network, own pid namespace so nothing outlives the run, no nested user namespaces),
read-only system and interpreter, ``/`` and ``/dev`` read-only (so no ``/dev/shm``), a work dir
and ``/tmp`` on one tmpfs of ``disk_mb``, uid nobody, an empty environment (no API keys), rlimits
set inside the user namespace by the bootstrap, the seccomp filter of ``lara.sandbox.seccomp``,
and the memory bound of ``lara.sandbox.memory`` (cgroup, else rlimits), recorded in every result.
The interpreter runs from an execute-only copy, which makes the kernel mark it non-dumpable: no
other process, and not the program itself, can read its memory through /proc.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lara.sandbox import cleanup
from lara.sandbox.base import NOBODY, SANDBOX_DIR, Limits, SandboxUnavailable, clean_env
from lara.sandbox.memory import CgroupFactory, MemoryPlan, detect, plan
from lara.sandbox.process import ProcessSandbox, bootstrap_source
from lara.sandbox.seccomp import filter_program

log = logging.getLogger(__name__)

CODE_DIR = "/lara"  # the program's files, read-only
MEMORY_BOUNDS = ("auto", "cgroup", "rlimits")


def base_python() -> str:
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


@functools.lru_cache(maxsize=1)
def _bwrap_help(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


_SEALED: dict[str, str] = {}


def _sealed_copy(python: str) -> str | None:
    """An execute-only (0111) copy of the interpreter, made once per process. Executing a file the
    process cannot read makes the kernel mark it non-dumpable (fs/exec.c would_dump)."""
    if python in _SEALED:
        return _SEALED[python]
    try:
        d = tempfile.mkdtemp(prefix=cleanup.owner_tag() + "python-")
        os.chmod(d, 0o711)
        if os.statvfs(d).f_flag & os.ST_NOEXEC:
            cleanup.remove_tree(d)
            raise OSError(f"{os.path.dirname(d)} is mounted noexec")
        dest = os.path.join(d, os.path.basename(python))
        shutil.copyfile(python, dest)
        os.chmod(dest, 0o111)
    except OSError as exc:
        log.warning("sandbox: no execute-only interpreter copy (%s); its memory stays readable via /proc", exc)
        return None
    atexit.register(cleanup.remove_tree, d)
    _SEALED[python] = dest
    return dest


class BubblewrapSandbox(ProcessSandbox):
    """Default sandbox. Raises SandboxUnavailable (a SandboxError) if bwrap is missing or fails.

    ``memory_bound``: ``auto`` (a cgroup when lara can make one, else rlimits), ``cgroup``
    (required), ``rlimits`` (never a cgroup). ``seccomp=False`` is for tests that show what the
    filter denies."""

    isolation = "bubblewrap"
    code_mount = CODE_DIR

    def __init__(self, bwrap: str | None = None, python: str | None = None, check: bool = True, *,
                 memory_bound: str = "auto", seccomp: bool = True) -> None:
        if memory_bound not in MEMORY_BOUNDS:
            from lara.errors import ConfigError

            raise ConfigError(f"unknown memory_bound {memory_bound!r}; valid: {', '.join(MEMORY_BOUNDS)}")
        self.bwrap = bwrap or shutil.which("bwrap") or ""
        if not self.bwrap:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: apt-get install bubblewrap "
                "(or pass --unsafe-exec to run generated code without isolation)"
            )
        # As root, the sandbox's uid would map to host root, which the kernel exempts from
        # RLIMIT_NPROC (fork bombs); so bwrap itself is started as host uid nobody.
        self.drop_to_nobody = os.geteuid() == 0
        self.python = python or base_python()
        if self.drop_to_nobody and not _world_reachable(self.python):
            fallback = _system_python()
            if fallback is None:
                raise SandboxUnavailable(
                    f"interpreter {self.python} is not readable by uid nobody and no /usr/bin/python3 exists"
                )
            self.python = fallback
        self._factory: CgroupFactory | None = None
        if memory_bound != "rlimits":
            self._factory = detect(cleanup.owner_tag())
            if self._factory is None and memory_bound == "cgroup":
                raise SandboxUnavailable("no writable memory cgroup (v2 with the memory controller delegated, "
                                         "or v1 at /sys/fs/cgroup/memory) for this user")
        cleanup.remove_stale(cgroup_parent=self._factory.parent if self._factory else None)
        self._bpf, self.seccomp_status = filter_program() if seccomp else (None, "off: disabled by caller")
        self._sealed = _sealed_copy(self.python)
        self._disable_userns = "--disable-userns" in _bwrap_help(self.bwrap)
        if check:
            self._probe()

    @property
    def memory_bound(self) -> str:
        return self._factory.mechanism if self._factory else "rlimits"

    def _plan(self, limits: Limits) -> MemoryPlan:
        return plan(limits.memory_mb, limits.disk_mb, limits.nproc, self.memory_bound)

    def _cgroups(self) -> CgroupFactory | None:
        return self._factory

    def _popen_kwargs(self) -> dict:
        if self.drop_to_nobody:
            return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        return {}

    def _extra_fds(self) -> dict[str, int]:
        if self._bpf is None:
            return {}
        r, w = os.pipe()
        os.write(w, self._bpf)  # a few hundred bytes: fits the pipe buffer
        os.close(w)
        return {"seccomp": r}

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
        if self._sealed:
            args += ["--ro-bind", self._sealed, self.python]
        return args

    def _argv(self, code_dir: Path, boot_args: list[str], plan: MemoryPlan, fds: dict[str, int]) -> list[str]:
        return [
            self.bwrap,
            "--unshare-all", "--unshare-user",  # user, ipc, pid, net, uts, cgroup: no network at all
            *(["--disable-userns"] if self._disable_userns else []),
            "--uid", "65534", "--gid", "65534",
            "--hostname", "sandbox",
            "--die-with-parent",
            "--new-session",
            *self._binds(),
            "--proc", "/proc",
            "--dev", "/dev",
            "--remount-ro", "/dev",  # bwrap's /dev is an unsized tmpfs (with /dev/shm): read-only
            "--size", str(plan.tmpfs_bytes), "--perms", "0755", "--tmpfs", SANDBOX_DIR,
            "--perms", "01777", "--dir", f"{SANDBOX_DIR}/.tmp",
            "--symlink", f"{SANDBOX_DIR}/.tmp", "/tmp",
            "--ro-bind", str(code_dir), CODE_DIR,
            "--remount-ro", "/",
            "--chdir", SANDBOX_DIR,
            "--clearenv",
            *[x for k, v in clean_env().items() for x in ("--setenv", k, v)],
            *(["--seccomp", str(fds["seccomp"])] if "seccomp" in fds else []),
            "--",
            self.python, "-I", "-c", bootstrap_source(), *boot_args,
        ]

    def _probe(self) -> None:
        res = self.run("print('sandbox-ok')", timeout_s=30)
        if res.status != "ok" or "sandbox-ok" not in res.stdout:
            raise SandboxUnavailable(
                f"bubblewrap cannot run here (returncode {res.returncode}): {res.stderr.strip()[:500]}"
            )
