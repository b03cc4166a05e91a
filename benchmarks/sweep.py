"""Sweep throughput and rerun cost: a 3x3x2 (k, m, n) IterDRAG grid on a small synthetic task over the
loopback server (50 ms per call, like a fast model; 8 connections).

First pass: every configuration's samples go through one dispatcher sharing the 8 connections.
``utilisation`` = ideal time (calls x 50 ms / 8 connections) / the request phase (first request's
arrival to the last response, at the server); ``utilisation_whole_pass`` divides by the whole
``run_sweep`` call instead (estimation, preparing 18 runs, writing). Target: utilisation >= 0.8.

Reruns must make 0 model calls and cost under 5% of the first pass, measured on two paths:
``resume`` reruns into the same results folder (the engine finds every sample written);
``cache`` reruns into a fresh folder with the same response cache (every call is a cache hit).

Prints ``first_s``, ``first_calls``, ``ideal_s``, ``request_phase_s``, ``utilisation``,
``utilisation_whole_pass``, then ``<path>_s``, ``<path>_calls``, ``<path>_ratio`` for both paths.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lara.allocation.sweep import run_sweep  # noqa: E402
from lara.testing.openai_server import LoopbackServer  # noqa: E402
from lara.testing.responders import iterdrag_responder  # noqa: E402

LATENCY_S = 0.05
CONNECTIONS = 8


def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LARA_CACHE_DIR"] = str(Path(tmp) / "cache")
        kwargs = dict(task="synthetic", runners=["iterdrag"], ks=[0, 1, 2], ms=[0, 1, 2], ns=[1, 2],
                      budgets=[1_000_000], model="openai:loopback",
                      task_params={"lengths": [400], "n_docs": 3, "categories": ["location", "reasoning"]},
                      runner_params={"chunk_size": 60, "chunk_overlap": 0, "tokenizer": "words"},
                      max_connections=CONNECTIONS)
        with LoopbackServer(responder=iterdrag_responder, latency_s=LATENCY_S, separate_process=True) as srv:
            kwargs["model_params"] = {"base_url": srv.base_url}
            figures = {}
            for name, root in (("first", "results"), ("resume", "results"), ("cache", "results-fresh")):
                before = srv.stats()["request_count"]
                t0 = time.perf_counter()
                res = run_sweep(output_root=Path(tmp) / root, **kwargs)
                figures[name] = (time.perf_counter() - t0, srv.stats()["request_count"] - before)
                if name == "first":
                    stats = srv.stats()
                    phase = stats["last_done"] - stats["first_arrival"]
    first_s, calls = figures["first"]
    ideal = calls * LATENCY_S / CONNECTIONS
    print(f"sweep_configs {len(res.runs)}")
    print(f"first_s {first_s:.3f}")
    print(f"first_calls {calls}")
    print(f"ideal_s {ideal:.3f}")
    print(f"request_phase_s {phase:.3f}")
    print(f"utilisation {ideal / phase:.2f}")
    print(f"utilisation_whole_pass {ideal / first_s:.2f}")
    for name in ("resume", "cache"):
        s, c = figures[name]
        print(f"{name}_s {s:.3f}")
        print(f"{name}_calls {c}")
        print(f"{name}_ratio {s / first_s:.4f}")


if __name__ == "__main__":
    main()
