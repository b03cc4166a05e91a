"""Shards of one run (deterministic by document) and merging their run folders back into one.

A shard ``(i, N)`` holds the samples whose document-key hash is ``i`` mod ``N``: every machine
computes the same split without coordination, and all questions about one document land in the
same shard (so each shard's server prefills each document once). A shard writes its own run folder
``<run_id>__shard-<i>-of-<N>`` with the unchanged spec hash; :func:`merge_runs` checks the spec
hashes agree and writes one folder with each sample once (merging twice, or merging the output
with its inputs again, never duplicates a line).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from lara.errors import ConfigError
from lara.scheduling import document_key, stable_hash
from lara.types import Sample

log = logging.getLogger(__name__)

Shard = tuple[int, int]
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class MergeError(ConfigError):
    """Run folders that cannot be merged (different specs, no records)."""


def parse_shard(text: str | Sequence[int] | None) -> Shard | None:
    """'2/8' -> (2, 8); validates 0 <= i < N."""
    if text is None:
        return None
    if isinstance(text, str):
        m = _SHARD_RE.match(text)
        if not m:
            raise ValueError(f"shard must look like i/N (e.g. 0/4), got {text!r}")
        i, n = int(m.group(1)), int(m.group(2))
    else:
        i, n = (int(v) for v in text)
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {i}/{n}: need N >= 1 and 0 <= i < N")
    return i, n


def shard_of(sample: Sample, n: int) -> int:
    return stable_hash(document_key(sample)) % n


def select_shard(samples: Iterable[Sample], shard: Shard | None) -> list[Sample]:
    if shard is None:
        return list(samples)
    i, n = shard
    return [s for s in samples if shard_of(s, n) == i]


def shard_dir_name(run_id: str, shard: Shard | None) -> str:
    return run_id if shard is None or shard[1] == 1 else f"{run_id}__shard-{shard[0]}-of-{shard[1]}"


def _prefer(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Between two records of one sample keep the one without an error (else the first)."""
    return new if old.get("error") and not new.get("error") else old


def merge_runs(run_dirs: Sequence[Path | str], out_dir: Path | str) -> dict[str, Any]:
    """Merge shard run folders into ``out_dir`` (a run folder); returns the merged summary.

    Records are deduplicated by ``sample_id`` (an error-free record wins over an error record);
    records already in ``out_dir`` take part, so the merge is idempotent. All inputs must share one
    spec hash. The merged folder is written through temporary files and renamed into place.
    """
    from lara.results import store
    from lara.results.collect import read_run
    from lara.results.summary import summarize

    out = Path(out_dir)
    sources = [Path(d) for d in run_dirs]
    if (out / store.SAMPLES).exists() and out.resolve() not in {s.resolve() for s in sources}:
        sources.append(out)
    infos: list[tuple[Path, dict[str, Any]]] = []
    for d in sources:
        if not (d / store.SAMPLES).exists():
            raise MergeError(f"{d}: not a run folder (no {store.SAMPLES})")
        infos.append((d, store.read_run_json(d)))
    hashes: set[str | None] = {info.get("spec_hash") for _, info in infos if info.get("spec_hash")}
    records: dict[str, dict[str, Any]] = {}
    for d, _ in infos:
        for rec in store.read_records(d / store.SAMPLES):
            hashes.add(rec.get("spec_hash"))
            sid = rec["sample_id"]
            records[sid] = _prefer(records[sid], rec) if sid in records else rec
    hashes.discard(None)
    if len(hashes) > 1:
        raise MergeError(f"run folders have different spec hashes {sorted(map(str, hashes))}: not shards of one run")
    if not records:
        raise MergeError("no records to merge")

    base = next((info for _, info in infos if info), {})
    shards = sorted({tuple(info["shard"]) for _, info in infos if info.get("shard")}
                    | {tuple(x) for _, info in infos for x in info.get("merged_shards") or []})
    merged_from = sorted({str(p) for _, info in infos for p in info.get("merged_from", [])}
                         | {str(d.resolve()) for d, info in infos if d.resolve() != out.resolve()})
    expected = _expected(infos, len(records))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (store.SAMPLES + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for sid in sorted(records):
            f.write(json.dumps(records[sid], ensure_ascii=False) + "\n")
    os.replace(tmp, out / store.SAMPLES)
    run_info = {k: v for k, v in base.items() if k != "shard"}
    run_info.update({"merged_from": merged_from, "merged_shards": [list(s) for s in shards]})
    store.write_json_atomic(out / store.RUN_JSON, run_info)
    summary = summarize(read_run(out).records, expected=expected)
    summary["run_id"] = base.get("run_id")
    store.write_json_atomic(out / store.SUMMARY_JSON, summary)
    return summary


def _expected(infos: list[tuple[Path, dict[str, Any]]], n_records: int) -> int:
    """Sum of each distinct shard's expected count (from its summary.json), at least the records."""
    from lara.results import store

    per_shard: dict[Any, int] = {}
    previous = 0  # a previous merge's expected count (its shards may not all be inputs again)
    for d, info in infos:
        try:
            summary = json.loads((d / store.SUMMARY_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        expected = int(summary.get("n_expected") or 0)
        if info.get("merged_from"):
            previous = max(previous, expected)
            continue
        key = tuple(info["shard"]) if info.get("shard") else str(d)
        per_shard[key] = max(per_shard.get(key, 0), expected)
    return max(n_records, sum(per_shard.values()), previous)
