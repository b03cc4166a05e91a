"""Dispatch throughput of the full engine against a loopback OpenAI server, and resume-scan time.

ratio: 2,000 synthetic samples (tiny haystacks) run through ``lara.engine.run`` with the ``openai``
backend against :class:`lara.testing.openai_server.LoopbackServer` answering every request after
a fixed 100 ms (served from a forked child process so it does not share the client's GIL; the
cl100k tokenizer is loaded before timing); with 32 connections the ceiling is 32 / 0.1 s = 320 requests/s, and the figure is
achieved requests/s divided by that ceiling (1.0 = no dispatch overhead). Records are written and
the response cache is disabled so every sample is a real HTTP call.

cpu_ms_per_request: client-side CPU per request (engine + runner + openai client), a figure that
is independent of how busy the machine is.

resume_scan_s: seconds for ``lara.results.store.repair_and_scan`` to collect the completed ids of
a 10,000-line samples.jsonl made of real records from the run above, with no sidecar index (the
rebuild path: every line parsed).

resume_scan_100k_s / resume_scan_peak_mb: what resume pays on a large run (issue 17): 100,000
records from the run above, each carrying a 400 KB prompt (``--log-prompts`` on long contexts),
written by the run's own writer (so its sidecar index is the real one) except that each prompt is
left as a 400 KB hole: the file has the size of the real thing (~40 GB) without taking the disk.
Seconds for :func:`lara.results.store.scan` (median of 3; the index file is in the page cache, as
right after a run) and the peak Python memory it allocates (tracemalloc, a separate call).
Targets: < 0.5 s, < 100 MB. Needs ~1 GB of free disk under $TMPDIR (two blocks per record).

    python benchmarks/dispatch.py [--requests 2000] [--latency 0.1] [--connections 32] [--scan-records 100000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from lara.config import RunSpec
from lara.engine import run
from lara.results import store
from lara.testing.openai_server import LoopbackServer
from lara.tokens import get_tokenizer
from lara.types import GenerateConfig


def dispatch_ratio(
    root: Path, n: int, latency: float, connections: int, tokenizer: str
) -> tuple[float, float, Path]:
    """(achieved/ceiling, client CPU ms per request, run dir)."""
    per_doc = 4  # the synthetic task asks four questions (one per category) per document
    get_tokenizer(tokenizer).count("warm up")  # one-off loads, not dispatch overhead
    import openai  # noqa: F401
    with LoopbackServer(latency_s=latency, separate_process=True) as srv:
        spec = RunSpec(
            task="synthetic",
            runner="long_context",
            model="openai:loopback",
            task_params={"lengths": [40], "n_docs": -(-n // per_doc), "seed": 0},
            model_params={"base_url": srv.base_url, "max_connections": connections, "tokenizer": tokenizer},
            generation=GenerateConfig(max_tokens=16),
            limit=n,
        )
        t0, c0 = time.perf_counter(), time.process_time()
        result = run(spec, output_root=root, max_connections=connections, use_cache=False)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        stats = srv.stats()
        requests, peak = stats["request_count"], stats["max_in_flight"]
    if result.records_written != n or requests != n:
        raise SystemExit(f"expected {n} records/requests, got {result.records_written}/{requests}")
    errors = sum(1 for r in store.read_records(result.run_dir) if r["error"])
    achieved = requests / elapsed
    ceiling = connections / latency
    logging.info("%d requests in %.2fs (%.1f/s, ceiling %.0f/s, peak in flight %d, %d errors)",
                 requests, elapsed, achieved, ceiling, peak, errors)
    return achieved / ceiling, 1000 * cpu / n, result.run_dir


def resume_scan_seconds(run_dir: Path, root: Path, lines: int = 10_000) -> float:
    records = list(store.read_records(run_dir))
    path = root / "scan" / store.SAMPLES
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            rec = dict(records[i % len(records)], sample_id=f"s{i:06d}")
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    t0 = time.perf_counter()
    done = store.repair_and_scan(path)
    elapsed = time.perf_counter() - t0
    if len(done) != lines:
        raise SystemExit(f"scan found {len(done)} ids, expected {lines}")
    return elapsed


PROMPT_BYTES = 400_000
PLACEHOLDER = "@@PROMPT-HOLE@@"


class SparseWriter(store.JsonlWriter):
    """The run's writer, except that each record's prompt is a hole of PROMPT_BYTES (so the record's
    line is as long as with a real 400 KB prompt, and the disk holds only its two ends)."""

    def _append(self, raw: bytes) -> None:
        head, tail = raw.split(PLACEHOLDER.encode(), 1)
        os.pwrite(self._fd, head, self._pos)
        self._pos += len(head) + PROMPT_BYTES
        os.pwrite(self._fd, tail, self._pos)
        self._pos += len(tail)


def resume_scan_large(run_dir: Path, root: Path, n: int) -> tuple[float, float, int]:
    """(median seconds, peak MB, file size) of scan() over ``n`` records with 400 KB prompts."""
    records = list(store.read_records(run_dir))
    path = root / "scan-large" / store.SAMPLES
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = SparseWriter(path)
    for i in range(n):
        rec = dict(records[i % len(records)], sample_id=f"s{i:07d}")
        rec["steps"] = [dict(step, prompt=PLACEHOLDER) for step in rec.get("steps") or [{}]][:1]
        writer.write(rec)
    writer.close()
    size = path.stat().st_size
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        done = store.scan(path)
        times.append(time.perf_counter() - t0)
        if len(done) != n:
            raise SystemExit(f"scan found {len(done)} ids, expected {n}")
    del done
    tracemalloc.start()
    store.scan(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak / 1e6, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--tokenizer", default="cl100k", help="tokenizer the runner counts with")
    ap.add_argument("--scan-records", type=int, default=100_000, help="records in the large resume-scan file")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="lara-dispatch-") as tmp:
        root = Path(tmp)
        ratio, cpu_ms, run_dir = dispatch_ratio(
            root, args.requests, args.latency, args.connections, args.tokenizer
        )
        print(f"ratio {ratio:.3f}")
        # CPU per request bounds the ratio on an idle machine: ratio <= 1000 / (cpu_ms * 320)
        print(f"cpu_ms_per_request {cpu_ms:.2f}")
        print(f"resume_scan_s {resume_scan_seconds(run_dir, root):.4f}")
        seconds, peak_mb, size = resume_scan_large(run_dir, root, args.scan_records)
        logging.info("large scan file: %d records, %.1f GB apparent size", args.scan_records, size / 1e9)
        print(f"resume_scan_100k_s {seconds:.4f}")
        print(f"resume_scan_peak_mb {peak_mb:.1f}")


if __name__ == "__main__":
    main()
