"""One writer per run folder (an exclusive ``flock``), and OS errors of a results folder as one line.

Two processes appending to one samples.jsonl duplicated every sample (issue 16 item 10). The run's
writer holds ``flock(LOCK_EX)`` on ``<run>/.lock`` for as long as it writes; a second process fails
at once with the holder's pid (written into the lock file). The kernel drops the lock when its
process dies, so a SIGKILLed run never leaves a stale lock behind, and the file itself is never
deleted (deleting it would let two processes lock two different files).

:func:`results_errors` turns an ``OSError`` on the results folder (read-only, disk full) into a
:class:`~lara.errors.ResultsError` naming the path and errno: one ``error:`` line, exit 1.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from lara.errors import LaraError, ResultsError

LOCK = ".lock"


class RunFolderBusy(ResultsError):
    """Another live process is writing this run folder (exit 2: the command cannot run as given)."""

    exit_code = 2


class RunLock:
    """``with RunLock(run_dir):`` — exclusive for the life of the block, or :class:`RunFolderBusy`."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderBusy(
                f"run folder {self.path.parent} is being written by pid {self._holder()}; wait for it to "
                "finish (or stop it), then rerun to resume"
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def _holder(self) -> str:
        """The pid the holder wrote (it writes right after locking: wait a moment for it)."""
        for _ in range(20):
            try:
                text = self.path.read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError):
                text = ""
            if text.isdigit():
                return text
            time.sleep(0.01)
        return "(unknown)"

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


HINTS = {
    errno.ENOSPC: "free some space, then rerun the same command: finished samples are kept",
    errno.EDQUOT: "free some space, then rerun the same command: finished samples are kept",
    errno.EROFS: "the folder is read-only; choose another with --output",
    errno.EACCES: "no permission; choose another folder with --output",
    errno.EPERM: "no permission; choose another folder with --output",
}


def describe_os_error(exc: OSError, path: Path | str) -> str:
    where = exc.filename or path
    hint = HINTS.get(exc.errno or 0)
    return (f"cannot write results in {where}: [Errno {exc.errno}] {exc.strerror or exc}"
            + (f" ({hint})" if hint else ""))


@contextlib.contextmanager
def results_errors(path: Path | str) -> Iterator[None]:
    """OSErrors inside the block become one ResultsError naming the path and errno."""
    try:
        yield
    except LaraError:
        raise
    except OSError as exc:
        raise ResultsError(describe_os_error(exc, path)) from exc
