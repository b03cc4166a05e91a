"""The sandbox's seccomp filter: a BPF program built once per process with libseccomp.

Default allow (the interpreter needs hundreds of syscalls), deny with EPERM what sandboxed code
never needs and what widens the kernel surface or escapes the other bounds: io_uring (a second
syscall interface seccomp cannot see into), keyrings, ptrace and cross-process memory access,
every way to a new namespace (``unshare``, ``setns``, ``clone`` with a CLONE_NEW* flag; ``clone3``
gets ENOSYS so libc falls back to ``clone``, whose flags a filter can read), mounts, BPF, perf,
userfaultfd, kernel modules, and memfd / SysV shared memory (RAM that no tmpfs size covers).
Syscalls of other ABIs on this kernel (i386 via ``int 0x80``, x32) kill the process: libseccomp's
bad-architecture action.

Built through libseccomp's Python bindings: ``pyseccomp`` (PyPI, extra ``sandbox``) or Debian's
``python3-seccomp``. Without either the sandbox still runs, the result records
``seccomp = "off: <why>"`` and a warning is logged once.
"""

from __future__ import annotations

import errno
import functools
import logging
import platform
import tempfile

log = logging.getLogger(__name__)

DENIED = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init", "lookup_dcookie", "name_to_handle_at",
    "open_by_handle_at",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "syslog", "iopl", "ioperm", "personality", "vhangup",
    "memfd_create", "memfd_secret", "shmget", "shmat", "shmctl",
)
# clone(2)'s first argument holds the flags on these architectures (s390 swaps the first two).
_CLONE_FLAGS_ARG0 = ("x86_64", "amd64", "aarch64", "arm64")
CLONE_NEW = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}


def _bindings():
    try:
        import pyseccomp as seccomp  # PyPI: ctypes over libseccomp.so.2
    except ImportError:
        try:
            import seccomp  # type: ignore[no-redef]  # Debian python3-seccomp
        except ImportError:
            return None, "libseccomp Python bindings not installed (pip install pyseccomp, or apt-get install python3-seccomp)"
    except (OSError, RuntimeError) as exc:  # pyseccomp raises when libseccomp.so.2 is missing
        return None, f"libseccomp unavailable: {exc}"
    return seccomp, ""


@functools.lru_cache(maxsize=1)
def filter_program() -> tuple[bytes | None, str]:
    """(BPF program, "on") or (None, "off: <reason>"); built once per process."""
    sc, why = _bindings()
    if sc is None:
        log.warning("sandbox runs WITHOUT a seccomp filter: %s", why)
        return None, f"off: {why}"
    try:
        filt = sc.SyscallFilter(sc.ALLOW)
        skipped = []
        for name in DENIED:
            try:
                filt.add_rule(sc.ERRNO(errno.EPERM), name)
            except (OSError, ValueError, RuntimeError):
                skipped.append(name)  # unknown to this libseccomp: older than the syscall
        try:
            filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        except (OSError, ValueError, RuntimeError):
            skipped.append("clone3")
        if platform.machine().lower() in _CLONE_FLAGS_ARG0:
            for flag in CLONE_NEW.values():
                filt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        if skipped:
            log.info("seccomp: this libseccomp does not know %s; not filtered", ", ".join(skipped))
        with tempfile.TemporaryFile() as f:
            filt.export_bpf(f)
            f.seek(0)
            program = f.read()
    except Exception as exc:  # a broken libseccomp must not stop the sandbox: record it
        log.warning("sandbox runs WITHOUT a seccomp filter: building it failed: %s", exc)
        return None, f"off: building the filter failed: {exc}"
    return program, "on"
