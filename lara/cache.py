"""SQLite response cache keyed by everything that changes an output.

The key covers the namespace (evaluated model vs judge), backend, model id, endpoint, the messages
and the semantic generation parameters; never timeouts or concurrency. Reads and writes happen on
the event-loop thread (each is well under a millisecond), so no locking is needed.

The cache is an optimisation, never a source of failure (issue 16 item 11: a corrupted cache turned
96 of 400 samples into ``database disk image is malformed`` errors): any SQLite error on a read or
write is a miss, logged once; a file SQLite reports as corrupt is moved aside
(``responses.sqlite.corrupt-<time>``) and a fresh cache replaces it. A cache *path* that cannot be
a cache (a directory, a file that is not SQLite, a folder that cannot be created) is a
:class:`~lara.errors.ConfigError` at start: one error line, and the user's file is left untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from lara.config import canonical_json
from lara.errors import ConfigError
from lara.types import GenerateConfig, Generation, Message, ModelInfo, to_dict

log = logging.getLogger(__name__)

CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_CORRUPT_INDEX", "SQLITE_CORRUPT_SEQUENCE", "SQLITE_CORRUPT_VTAB"}


def _is_corrupt(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name in CORRUPT_CODES or "malformed" in str(exc)


def _is_not_a_database(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB" or "not a database" in str(exc)


def default_cache_dir() -> Path:
    base = os.environ.get("LARA_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lara"


def cache_key(
    info: ModelInfo, messages: Sequence[Message], config: GenerateConfig, namespace: str = "model"
) -> str:
    payload = {
        "ns": namespace,
        "backend": info.backend,
        "model": info.id,
        "endpoint": info.endpoint,
        "messages": [to_dict(m) for m in messages],
        "config": config.semantic(),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


KEEP_ROWS = 200_000  # rows kept in memory for a corruption swap (~100 MB at the outside)


class ResponseCache:
    """The SQLite file of cached generations (see the module docstring for failure handling)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_cache_dir() / "responses.sqlite"
        self._db: sqlite3.Connection | None = None
        self._warned: set[str] = set()
        # rows this process wrote or read back intact, until the file is replaced: a corrupt file is
        # only noticed when a read hits a bad page, and the good rows used before that would be lost
        # with it (moved aside); they are written again into the fresh file
        self._written: dict[str, str] | None = {}
        self._check_path()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if _is_not_a_database(exc):
                raise ConfigError(
                    f"response cache {self.path} is not an SQLite database; point LARA_CACHE_DIR "
                    "elsewhere (or remove the file if it is an old cache)") from None
            if not _is_corrupt(exc):
                raise ConfigError(f"response cache {self.path}: {exc}") from None
            self._recover(exc)

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise ConfigError(f"response cache {self.path} is a directory, not a file; "
                              "point LARA_CACHE_DIR at a folder lara may create responses.sqlite in")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"response cache folder {self.path.parent} cannot be created: "
                              f"[Errno {exc.errno}] {exc.strerror}") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT, created REAL)")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning(message, *args)

    def _recover(self, exc: sqlite3.Error) -> None:
        """A corrupt file: move it (and its WAL/SHM files) aside and start an empty cache; if even that
        fails, run without a cache."""
        self.close()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    os.replace(src, Path(str(aside) + suffix))
            self._db = self._connect()
            for key, value in (self._written or {}).items():
                self._db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?)", (key, value, time.time()))
            self._warn_once("corrupt", "response cache %s is corrupt (%s): moved to %s; continuing with an "
                            "empty cache (keeping the %d replies this run used)", self.path, exc, aside,
                            len(self._written or {}))
            self._written = None  # a fresh file of our own: nothing more to keep
        except (OSError, sqlite3.Error) as again:
            self._db = None
            self._warn_once("corrupt", "response cache %s is corrupt (%s) and could not be replaced (%s); "
                            "continuing without a cache", self.path, exc, again)

    def _failed(self, op: str, exc: sqlite3.Error) -> None:
        if _is_corrupt(exc) or _is_not_a_database(exc):
            self._recover(exc)
        else:  # locked, disk full, I/O error: this call is a miss, the cache stays
            self._warn_once(f"{op}:{type(exc).__name__}", "response cache %s: %s failed (%s); treated as a "
                            "miss (logged once)", self.path, op, exc)

    def get(self, key: str) -> Generation | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed("read", exc)
            return None
        if row is None:
            return None
        self._keep(key, row[0])
        try:
            return Generation(**json.loads(row[0]))
        except (TypeError, ValueError) as exc:
            self._warn_once("row", "response cache %s: unreadable entry ignored (%s)", self.path, exc)
            return None

    def put(self, key: str, gen: Generation) -> None:
        if self._db is None:
            return
        value = json.dumps(to_dict(gen))
        self._keep(key, value)
        try:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?)", (key, value, time.time()))
        except sqlite3.Error as exc:
            self._failed("write", exc)

    def _keep(self, key: str, value: str) -> None:
        if self._written is not None:
            if len(self._written) >= KEEP_ROWS:
                self._written = None  # a very long run: stop keeping (a later corruption loses rows, no more)
            else:
                self._written[key] = value

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None


class CachedBackend:
    """Wraps any backend; a hit returns the stored generation with ``cached=True``."""

    def __init__(self, inner: Any, cache: ResponseCache, namespace: str = "model") -> None:
        self.inner = inner
        self.cache = cache
        self.namespace = namespace
        self.info = inner.info
        self.calls = 0
        self.hits = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def __getattr__(self, name: str) -> Any:  # e.g. tokenizer, supports_guided
        return getattr(self.inner, name)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        key = cache_key(self.info, messages, config, self.namespace)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return replace(hit, cached=True, latency_s=0.0)
        self.calls += 1
        gen = await self.inner.generate(messages, config)
        self.cache.put(key, replace(gen, cached=False))
        return gen
