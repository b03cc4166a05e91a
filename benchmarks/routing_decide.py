"""How cheap a routing decision is: microseconds per decide() and the import time of lara.routing.

Prints ``decide_us <microseconds per decision>`` for the default (question-level) policy on a mix
of requests (known and unseen models; category given or predicted from the question text; with
and without retrieval scores), ``decide_us_paper_table`` for the old table policy, and
``import_ms <milliseconds>`` (import lara.routing + load_policy() in a fresh interpreter).
"""

from __future__ import annotations

import subprocess
import sys
import time

N = 20_000


def decide_us(name: str = "default") -> float:
    from lara.routing import RequestFeatures, load_policy

    policy = load_policy(name)
    q = "Which chapter first mentions the will that Hartman signed?"
    feats = [
        RequestFeatures(model="openai:gpt-4o-mini", context_tokens=100_000, category="hallucination", question=q),
        RequestFeatures(model="my-new-8b", context_tokens=30_000, category="comparison", parameters_b=8),
        RequestFeatures(model="unknown", context_tokens=200_000, category="reasoning", context_window=128_000),
        RequestFeatures(model="llama-3.1-8b", context_tokens=40_000, question=q,
                        retrieval_scores=(12.3, 9.1, 8.7, 0.62, 0.58), retriever="hybrid"),
    ]
    for f in feats:
        policy.decide(f)  # warm: the category classifier loads on first use
    t0 = time.perf_counter()
    for i in range(N):
        policy.decide(feats[i & 3])
    return (time.perf_counter() - t0) / N * 1e6


def import_ms(repeats: int = 5) -> float:
    code = ("import time; t=time.perf_counter(); import lara.routing as r; r.load_policy(); "
            "print((time.perf_counter()-t)*1000)")
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
             for _ in range(repeats)]
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    print(f"decide_us {decide_us():.2f}")
    print(f"decide_us_paper_table {decide_us('paper_table'):.2f}")
    print(f"import_ms {import_ms():.1f}")
