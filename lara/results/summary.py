"""Per-run summary counts and the environment block of run.json."""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys
from typing import Any, Iterable

from lara import __version__

_PACKAGES = ("torch", "transformers", "openai", "sentence-transformers", "faiss-cpu", "bm25s", "tiktoken", "vllm")


def environment() -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {
        "lara_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": versions,
    }


def summarize(records: Iterable[dict[str, Any]], expected: int | None = None) -> dict[str, Any]:
    """Counts every outcome explicitly: nothing is dropped from the denominators silently."""
    n = ok = errors = skipped = unparsed = score_errors = cached = 0
    total = 0.0
    in_tok = out_tok = calls = 0
    for r in records:
        n += 1
        in_tok += r.get("input_tokens") or 0
        out_tok += r.get("output_tokens") or 0
        calls += r.get("n_calls") or 0
        cached += bool(r.get("cached"))
        if r.get("error"):
            errors += 1
        elif r.get("skipped"):
            skipped += 1
        elif r.get("score_status") == "unparsed":
            unparsed += 1
        elif r.get("score_status") == "error":
            score_errors += 1
        elif r.get("score") is not None:
            ok += 1
            total += float(r["score"])
    return {
        "n_records": n,
        "n_expected": expected,
        "scored": ok,
        "mean_score": (total / ok) if ok else None,
        "errors": errors,
        "skipped": skipped,
        "unparsed": unparsed,
        "score_errors": score_errors,
        "cached_records": cached,
        "model_calls": calls,
        "input_tokens": in_tok,
        "output_tokens": out_tok,
    }
