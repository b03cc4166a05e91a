"""Removing sandbox leftovers without following symlinks, and those of lara processes that died.

Work dirs and cgroups are named ``lara-sbx-<pid>.<start>-...`` (``start``: the process start time
in clock ticks from /proc/<pid>/stat, so a reused pid does not keep a dead run's leftovers alive).
A SIGKILLed lara cannot clean up; the next sandbox that starts removes leftovers whose owner is
gone and that belong to this uid.

Why not ``tempfile.TemporaryDirectory``: on Pythons with CVE-2023-6597 its cleanup, on a
permission error, chmods the failing path *following symlinks*, so sandboxed code that planted a
symlink to a host file in a write-protected dir of its work dir changed that file's permissions
when lara ran as a non-root user. The sandbox no longer writes to host dirs at all (its work dir is
a tmpfs inside it), and this module removes trees with ``shutil.rmtree``'s fd-based walk, which
unlinks symlinks without following them and never changes permissions.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "lara-sbx-"
_NAME_RE = re.compile(r"^lara-sbx-(\d+)\.(\d+)-")


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 overall: starttime
    except (IndexError, ValueError):
        return None


def owner_tag(pid: int | None = None) -> str:
    """``lara-sbx-<pid>.<start>-``: the prefix of everything this process creates."""
    pid = os.getpid() if pid is None else pid
    return f"{PREFIX}{pid}.{_start_time(pid) or 0}-"


def owner_alive(name: str) -> bool | None:
    """True/False for a lara-sbx name whose owner runs / is gone; None for other names."""
    m = _NAME_RE.match(name)
    if not m:
        return None
    pid, start = int(m.group(1)), int(m.group(2))
    return _start_time(pid) == start if start else os.path.exists(f"/proc/{pid}")


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Delete a directory tree without following symlinks or changing any permission.

    Entries that cannot be removed are left (and logged): never a chmod, which on a symlink could
    reach a host file."""
    failed: list[str] = []

    def onexc(func, p, exc):  # noqa: ANN001 - shutil's callback signature
        failed.append(f"{p}: {exc[1] if isinstance(exc, tuple) else exc}")

    if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - every Linux Python has it
        log.warning("shutil.rmtree is not symlink-safe on this platform; leaving %s", path)
        return False
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=onexc)
    else:
        shutil.rmtree(path, onerror=onexc)
    if failed:
        log.warning("sandbox cleanup left %d entries in %s (first: %s)", len(failed), path, failed[0])
    return not failed


def remove_stale(tmp_dir: str | None = None, cgroup_parent: Path | None = None) -> list[str]:
    """Remove work dirs (and empty cgroups) of dead lara processes; returns what was removed."""
    removed: list[str] = []
    base = Path(tmp_dir or tempfile.gettempdir())
    uid = os.geteuid()
    try:
        entries = list(os.scandir(base))
    except OSError:
        entries = []
    for entry in entries:
        if not entry.name.startswith(PREFIX) or owner_alive(entry.name) is not False:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid != uid or not entry.is_dir(follow_symlinks=False):
            continue  # another user's, or a planted symlink: not ours to touch
        if remove_tree(entry.path):
            removed.append(entry.path)
    if cgroup_parent is not None:
        try:
            cgroups = [p for p in cgroup_parent.iterdir() if p.name.startswith(PREFIX)]
        except OSError:
            cgroups = []
        for cg in cgroups:
            if owner_alive(cg.name) is False:
                try:
                    cg.rmdir()  # succeeds only when no process is left in it
                    removed.append(str(cg))
                except OSError as exc:
                    log.debug("stale cgroup %s not removed: %s", cg, exc)
    if removed:
        log.info("removed %d sandbox leftovers of dead lara processes", len(removed))
    return removed
