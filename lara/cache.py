"""SQLite response cache keyed by everything that changes an output.

The key covers the namespace (evaluated model vs judge), backend, model id, endpoint, the messages
and the semantic generation parameters; never timeouts or concurrency. Reads and writes happen on
the event-loop thread (each is well under a millisecond), so no locking is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from lara.config import canonical_json
from lara.types import GenerateConfig, Generation, Message, ModelInfo, to_dict


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


class ResponseCache:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_cache_dir() / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT, created REAL)"
        )

    def get(self, key: str) -> Generation | None:
        row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return Generation(**json.loads(row[0]))

    def put(self, key: str, gen: Generation) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?,?,?)",
            (key, json.dumps(to_dict(gen)), time.time()),
        )

    def close(self) -> None:
        self._db.close()


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
