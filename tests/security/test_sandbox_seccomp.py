"""Attack 4 (syscall surface): io_uring, keyctl, nested user namespaces and ptrace were allowed.
Contained: bubblewrap loads lara's seccomp filter; each call fails with EPERM (clone3: ENOSYS, so
libc falls back to clone, whose namespace flags the filter sees). The same calls in the same
sandbox without the filter show that the filter is what denies them."""

from __future__ import annotations

import errno
import json

import pytest

from lara.sandbox import BubblewrapSandbox
from lara.sandbox.seccomp import filter_program
from lara.testing.sandbox import bwrap_unavailable

_PROGRAM, _STATUS = filter_program()
pytestmark = [
    pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable())),
    pytest.mark.skipif(_PROGRAM is None, reason=f"seccomp filter unavailable here ({_STATUS})"),
]

# x86_64 syscall numbers; the test machine type (CI) is x86_64.
CALLS = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    if r == 0 and nr == 56:  # a clone that went through: this is the child
        os._exit(0)
    return ctypes.get_errno() if r == -1 else 0
params = ctypes.create_string_buffer(120)
out = {
    "io_uring_setup": call(425, 8, params),
    "keyctl": call(250, 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "unshare(CLONE_NEWUSER)": call(272, 0x10000000),
    "clone(CLONE_NEWUSER)": call(56, 0x10000000 | 17, 0, 0, 0, 0),
    "ptrace(TRACEME)": call(101, 0, 0, 0, 0),
    "process_vm_readv": call(310, os.getpid(), 0, 0, 0, 0, 0),
    "memfd_create": call(319, b"x", 0),
    "shmget": call(29, 0, 1 << 20, 0o1600),
    "clone3": call(435, 0, 0),
}
print(json.dumps(out))
"""


def _run(seccomp: bool) -> dict:
    res = BubblewrapSandbox(memory_bound="rlimits", seccomp=seccomp).run(CALLS, timeout_s=30)
    assert res.status == "ok", res.stderr
    assert res.seccomp == ("on" if seccomp else "off: disabled by caller")
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_filter_denies_the_attack_syscalls() -> None:
    got = _run(seccomp=True)
    expected = {name: errno.EPERM for name in got}
    expected["clone3"] = errno.ENOSYS
    assert got == expected


def test_without_the_filter_those_calls_get_further() -> None:
    """The control: without lara's filter the kernel lets io_uring, keyctl, ptrace and a nested
    user namespace through (or fails them for another reason), so EPERM above is the filter's."""
    got = _run(seccomp=False)
    for name in ("io_uring_setup", "keyctl", "ptrace(TRACEME)", "memfd_create", "shmget"):
        assert got[name] != errno.EPERM, (name, got)
