"""Sweep rerun cost: a 3x3x2 (k, m, n) IterDRAG grid on a small synthetic task over the loopback
server (50 ms per call, like a fast model). The second invocation must make 0 model calls (engine
resume + response cache) and take under 5% of the first one's time.

Prints ``first_s``, ``second_s``, ``first_calls``, ``second_calls`` and ``ratio <second/first>``.
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
from lara.runners.selfask import prompts  # noqa: E402
from lara.testing.openai_server import LoopbackServer  # noqa: E402


def responder(messages, request):  # noqa: ANN001, ANN201
    p = prompts()
    last = messages[-1]["content"]
    test_part = last.rsplit(f"\n{p.final} ", 1)[-1]  # after the demonstrations' chains
    if last.endswith(p.answer_follow_up):
        return "Intermediate answer: the vault code"
    if last.endswith(p.force) or test_part.count(p.follow_up) > 2:
        return "So the final answer is: 1234"
    assert last.endswith(p.decide)
    return "Follow up: What is the access code?"


def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LARA_CACHE_DIR"] = str(Path(tmp) / "cache")
        kwargs = dict(task="synthetic", runners=["iterdrag"], ks=[0, 1, 2], ms=[0, 1, 2], ns=[1, 2],
                      budgets=[1_000_000], model="openai:loopback",
                      task_params={"lengths": [400], "n_docs": 3, "categories": ["location", "reasoning"]},
                      runner_params={"chunk_size": 60, "chunk_overlap": 0, "tokenizer": "words"},
                      output_root=Path(tmp) / "results", max_connections=8)
        with LoopbackServer(responder=responder, latency_s=0.05, separate_process=True) as srv:
            kwargs["model_params"] = {"base_url": srv.base_url}
            times, calls = [], []
            for _ in range(2):
                before = srv.stats()["request_count"]
                t0 = time.perf_counter()
                res = run_sweep(**kwargs)
                times.append(time.perf_counter() - t0)
                calls.append(srv.stats()["request_count"] - before)
        configs = len(res.runs)
    print(f"sweep_configs {configs}")
    print(f"first_s {times[0]:.3f}")
    print(f"second_s {times[1]:.3f}")
    print(f"first_calls {calls[0]}")
    print(f"second_calls {calls[1]}")
    print(f"ratio {times[1] / times[0]:.4f}")


if __name__ == "__main__":
    main()
