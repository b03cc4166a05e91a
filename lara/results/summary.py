"""Per-run summary counts and the environment block of run.json."""

from __future__ import annotations

import functools
import importlib.metadata as md
import platform
import sys
from collections import Counter
from typing import Any, Iterable

from lara import __version__
from lara.results.record import OUTCOMES, Record

_PACKAGES = ("torch", "transformers", "openai", "sentence-transformers", "faiss-cpu", "bm25s", "tiktoken", "vllm")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    """Installed versions of the packages that matter, read once per process (reading package
    metadata costs ~20 ms; a sweep writes many run.json files)."""
    versions = []
    for name in _PACKAGES:
        try:
            versions.append((name, md.version(name)))
        except md.PackageNotFoundError:
            continue
    return tuple(versions)


def environment() -> dict[str, Any]:
    versions = dict(_versions())
    return {
        "lara_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": versions,
    }


def summarize(records: Iterable[Record | dict[str, Any]], expected: int | None = None, top_errors: int = 5) -> dict[str, Any]:
    """Counts every outcome explicitly (:attr:`Record.outcome`): nothing is dropped from the
    denominators silently. ``records`` should be the latest record per sample. The distinct error
    messages (top ``top_errors``, with counts) make a dead endpoint visible at a glance."""
    outcomes = {o: 0 for o in OUTCOMES}
    total = 0.0
    n = cached = truncated = 0
    in_tok = out_tok = calls = 0
    messages: Counter[str] = Counter()
    for r in map(Record.coerce, records):
        n += 1
        in_tok += r.input_tokens or 0
        out_tok += r.output_tokens or 0
        calls += r.n_calls or 0
        cached += bool(r.cached)
        truncated += r.truncated
        outcome = r.outcome
        outcomes[outcome] += 1
        if outcome in ("correct", "incorrect"):
            total += float(r.score or 0.0)
        elif outcome == "error":
            messages[error_message(r)] += 1
    scored = outcomes["correct"] + outcomes["incorrect"]
    return {
        "n_records": n,
        "n_expected": expected,
        "scored": scored,
        "mean_score": (total / scored) if scored else None,
        "outcomes": outcomes,
        "errors": outcomes["error"],
        "skipped": outcomes["skipped"],
        "unparsed": outcomes["unparsed"],
        "truncated": truncated,
        "error_messages": [[m, c] for m, c in messages.most_common(top_errors)],
        "distinct_errors": len(messages),
        "cached_records": cached,
        "model_calls": calls,
        "input_tokens": in_tok,
        "output_tokens": out_tok,
    }


def error_message(r: Record) -> str:
    """One line naming what failed: the run error, else the score's explanation."""
    if r.error:
        e = r.error
        text = f"{e.get('type', 'Error')}: {e.get('message', '')}"
    else:
        prim = (r.scores or {}).get(r.score_name or "", {})
        text = f"score error: {prim.get('explanation', '') or r.score_status}"
    text = " ".join(text.split())
    return text if len(text) <= 240 else text[:240] + "..."
