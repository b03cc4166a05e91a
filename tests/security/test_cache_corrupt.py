"""Issue 16 item 11: a corrupted response cache used to turn samples into error records silently
(96/400 ``database disk image is malformed``, exit 0). Cache errors are now misses: logged once,
the bad file moved aside, the run continues; a cache path that cannot be a cache is one error line."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
from pathlib import Path

import pytest

from lara.cache import CachedBackend, ResponseCache
from lara.errors import ConfigError
from lara.testing.cli import lara_env, run_cli
from lara.types import GenerateConfig, Generation, Message, ModelInfo

RUN = ["run", "--task", "synthetic", "-T", "lengths=[40]", "-T", "n_docs=100", "--runner", "lc", "--model", "mock",
       "-M", "answer=" + "a long cached answer " * 30, "--format", "md"]


def corrupt_pages(db: Path, seed: int = 0) -> None:
    """Garbage over every other page after the schema pages: SQLite opens the file, and some reads
    fail with 'database disk image is malformed'."""
    rnd = random.Random(seed)
    size = db.stat().st_size
    with open(db, "r+b") as f:
        for page in range(3, size // 4096, 2):
            f.seek(page * 4096 + 100)
            f.write(bytes(rnd.randrange(256) for _ in range(200)))


def records(res: Path) -> list[dict]:
    (samples,) = res.glob("*/samples.jsonl")
    return [json.loads(line) for line in samples.read_text().splitlines()]


def test_corrupt_cache_mid_run_is_a_miss_not_an_error_record(tmp_path):
    cache_dir = tmp_path / "cache"
    env = lara_env(cache_dir=cache_dir)
    first = run_cli([*RUN, "-o", str(tmp_path / "a")], env=env)
    assert first.returncode == 0, first.stderr
    db = cache_dir / "responses.sqlite"
    assert not Path(str(db) + "-wal").exists()  # checkpointed on close: the pages are in the file
    corrupt_pages(db)
    second = run_cli([*RUN, "-o", str(tmp_path / "b")], env=env)
    assert second.returncode == 0, second.stderr
    recs = records(tmp_path / "b")
    assert len(recs) == 400 and not [r for r in recs if r["error"]]
    assert second.stderr.count("is corrupt") == 1  # logged once
    assert "Traceback" not in second.stderr
    aside = list(cache_dir.glob("responses.sqlite.corrupt-*"))
    assert len(aside) == 1
    # the replacement is a working cache: a third run is served from it
    third = run_cli([*RUN, "-o", str(tmp_path / "c")], env=env)
    assert third.returncode == 0 and "0 model calls, 400 cache hits" in third.stderr, third.stderr


@pytest.mark.parametrize("kind", ["directory", "garbage", "under-a-file"])
def test_a_path_that_cannot_be_a_cache_is_one_error_line(tmp_path, kind):
    cache_dir = tmp_path / "cache"
    if kind == "directory":
        (cache_dir / "responses.sqlite").mkdir(parents=True)
    elif kind == "garbage":
        cache_dir.mkdir()
        (cache_dir / "responses.sqlite").write_text("my notes, not a database\n" * 100)
    else:
        tmp_path.joinpath("cache").write_text("a file where the cache folder should be")
    r = run_cli([*RUN[:5], "-T", "n_docs=1", *RUN[7:], "-o", str(tmp_path / "res")], env=lara_env(cache_dir=cache_dir))
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: response cache") and "Traceback" not in r.stderr
    if kind == "garbage":  # the user's file is never moved or changed
        assert (cache_dir / "responses.sqlite").read_text().startswith("my notes")
    assert not (tmp_path / "res").exists()  # refused before the run folder was made


class Fixed:
    info = ModelInfo(id="m", backend="b", endpoint="http://x")

    def __init__(self) -> None:
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def generate(self, messages, config):
        self.calls += 1
        return Generation(text="ok", input_tokens=1, output_tokens=1, latency_s=0.0)


def test_locked_or_failing_cache_reads_and_writes_are_misses(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    blocker = sqlite3.connect(str(path), timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    cache._db.execute("PRAGMA busy_timeout=0")
    inner = Fixed()
    backend = CachedBackend(inner, cache)
    caplog.set_level(logging.WARNING, logger="lara.cache")
    for i in range(3):
        gen = asyncio.run(backend.generate([Message("user", f"q{i}")], GenerateConfig()))
        assert gen.text == "ok"
    assert inner.calls == 3
    assert len([r for r in caplog.records if "treated as a miss" in r.getMessage()]) <= 2  # once per operation
    blocker.rollback()
    blocker.close()
    assert not list(tmp_path.glob("*.corrupt-*"))  # a busy database is not a corrupt one
    cache.close()


def test_unreadable_row_is_a_miss(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache._db.execute("INSERT INTO responses VALUES (?,?,?)", ("k", "{not json", 0.0))
    cache._db.execute("INSERT INTO responses VALUES (?,?,?)", ("k2", json.dumps({"unexpected": 1}), 0.0))
    assert cache.get("k") is None and cache.get("k2") is None
    cache.close()


def test_directory_path_raises_config_error_in_process(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        ResponseCache(tmp_path)
