"""One error type for everything lara reports to a user, with subclasses per cause.

The CLI turns a :class:`LaraError` into one line ``error: <message>`` (naming ``file:line`` when a
file is to blame) and its :attr:`exit_code`: 2 for bad input (options, presets, data), 1 for a run
that could not complete (backend, sandbox, results folder). ``-v`` shows the traceback. The classes
also subclass the built-in exception callers caught before they existed (``ValueError``,
``RuntimeError``), so older ``except`` clauses keep working.
"""

from __future__ import annotations


class LaraError(Exception):
    """Base of every error lara reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where  # "path:line" when a file is to blame
        super().__init__(f"{where}: {message}" if where else message)

    def __str__(self) -> str:  # KeyError-style quoting never applies here
        return str(self.args[0]) if self.args else ""


class ConfigError(LaraError, ValueError):
    """A bad option, parameter or preset: fixed by changing the command line or a preset file."""

    exit_code = 2


class DataError(LaraError, ValueError):
    """Input data missing or malformed (names the file and line)."""

    exit_code = 2


class MissingDataError(DataError, FileNotFoundError):
    """A data file or folder that does not exist (also a FileNotFoundError for older callers)."""


class BackendError(LaraError, RuntimeError):
    """A model call that failed for good (after retries). ``retries`` is how many were made; ``kind``
    classifies it (``connection``, ``timeout``, ``rate_limit``, ``server_error``, ``bad_response``...)."""

    exit_code = 1

    def __init__(self, message: str, *, retries: int = 0, kind: str = "error", where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.retries = retries
        self.kind = kind


class SandboxError(LaraError, RuntimeError):
    """Generated code could not be run in isolation (no bubblewrap, sandbox set-up failed)."""

    exit_code = 1


class ResultsError(LaraError, OSError):
    """A results folder that cannot be read or written (locked, read-only, disk full, corrupt)."""

    exit_code = 1
