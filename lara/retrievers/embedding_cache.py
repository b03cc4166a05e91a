"""On-disk embedding store keyed by content fingerprint (sha256 of model id + chunk text).

Why: many questions share one document and runs repeat; each unique chunk should be embedded once
per model, ever. SQLite (WAL) lets several runs share the file; a thread lock serialises this
process's writers because indexes may be built in worker threads.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence


def fingerprint(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x00{text}".encode("utf-8")).hexdigest()


def default_store_path(model_id: str) -> Path:
    from lara.cache import default_cache_dir

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")[-80:] or "model"
    return default_cache_dir() / "embeddings" / f"{slug}.sqlite"


class EmbeddingStore:
    """float32 vectors by fingerprint; ``get_many`` returns only the hits."""

    _BATCH = 500

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        import numpy as np

        out: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for i in range(0, len(unique), self._BATCH):
                part = unique[i : i + self._BATCH]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", part)
                for key, blob in rows:
                    out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, items: Sequence[tuple[str, Any]]) -> None:
        import numpy as np

        rows = [(k, int(v.shape[-1]), np.asarray(v, dtype=np.float32).tobytes()) for k, v in items]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?,?,?)", rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM emb").fetchone()[0])

    def close(self) -> None:
        self._db.close()
