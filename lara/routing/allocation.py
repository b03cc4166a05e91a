"""The computation allocation model of Yue et al. (ICLR 2025, arXiv 2410.04343), in pure Python.

sigma^-1(P(theta)) ~= (a + b * i)^T log(theta + 0.01) + c with theta = (k, m, n): k retrieved
documents, m in-context demonstrations, n generation iterations (IterDRAG). i = (i_doc, i_shot, 0)
are the task's informativeness of one document / one demonstration. sigma is increasing, so the
best configuration under a budget is the argmax of the linear predictor over the configurations
whose estimated effective context length fits. The routing package keeps its own copy (rather than
importing ``lara.allocation``) so that it stays standard-library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

# sigma(x) = s1 / (1 + e^(-s2 (x + s3))) + s4, fitted in the paper (BENCHMARKS.md section 2).
PAPER_SIGMA = (3.30, 1.81, 0.46, -2.18)

# Paper grids (BENCHMARKS.md section 2).
K_GRID = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
M_GRID = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
N_GRID = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class AllocationModel:
    """Six fitted coefficients (b_n is fixed to 0 by the paper) plus the task's informativeness."""

    a: tuple[float, float, float]
    b: tuple[float, float]
    c: float
    i_doc: float = 0.0
    i_shot: float = 0.0
    name: str = ""

    def linear(self, k: int, m: int, n: int) -> float:
        lk, lm, ln = math.log(k + 0.01), math.log(m + 0.01), math.log(n + 0.01)
        return (
            (self.a[0] + self.b[0] * self.i_doc) * lk
            + (self.a[1] + self.b[1] * self.i_shot) * lm
            + self.a[2] * ln
            + self.c
        )

    def predict(self, k: int, m: int, n: int) -> float:
        """Predicted z-normalised performance: sigma(x) = 3.30 / (1 + e^(-1.81 (x + 0.46))) - 2.18."""
        s1, s2, s3, s4 = PAPER_SIGMA
        return s1 / (1.0 + math.exp(-s2 * (self.linear(k, m, n) + s3))) + s4


# Fitted on Gemini 1.5 Flash in the paper (R^2 0.903). i_doc / i_shot default to 0 (no
# task-specific informativeness measured); a policy JSON can override them.
GEMINI_15_FLASH = AllocationModel(
    a=(0.325, 0.101, 0.177), b=(-0.067, -0.008), c=-0.730, name="gemini-1.5-flash (Yue et al. 2024)"
)
PRESETS = {"gemini-1.5-flash": GEMINI_15_FLASH}


def estimate_effective_tokens(k: int, m: int, n: int, doc_tokens: int, qa_tokens: int) -> int:
    """Rough effective context length of one question.

    Assumptions: each of the m demonstrations carries its own k documents plus a question/answer
    (``qa_tokens``), the test input carries k documents plus the question, and each of the n
    iterations re-reads about that much input (IterDRAG appends sub-query documents as it goes, so
    this undercounts late iterations and overcounts nothing). Output tokens are excluded, as in
    the paper's definition.
    """
    return n * (m + 1) * (k * doc_tokens + qa_tokens)


@dataclass(frozen=True)
class Allocation:
    k: int
    m: int
    n: int
    estimated_tokens: int
    predicted: float


def candidates(
    budget_tokens: int,
    doc_tokens: int,
    qa_tokens: int,
    max_k: int | None = None,
    max_call_tokens: int | None = None,
) -> Iterator[Allocation]:
    """Every grid point whose estimated effective length fits ``budget_tokens`` and whose single
    call (m+1 blocks of k documents) fits ``max_call_tokens`` (the model's window); k >= 1."""
    for k in K_GRID:
        if k == 0 or (max_k is not None and k > max_k):
            continue
        for m in M_GRID:
            for n in N_GRID:
                est = estimate_effective_tokens(k, m, n, doc_tokens, qa_tokens)
                per_call = (m + 1) * (k * doc_tokens + qa_tokens)
                if est <= budget_tokens and (max_call_tokens is None or per_call <= max_call_tokens):
                    yield Allocation(k, m, n, est, 0.0)


def choose(
    model: AllocationModel,
    budget_tokens: int,
    *,
    doc_tokens: int = 600,
    qa_tokens: int = 64,
    max_k: int | None = None,
    max_call_tokens: int | None = None,
) -> Allocation | None:
    """Argmax of the predicted performance over configurations that fit; ties -> fewer tokens.

    Returns None when not even one document fits.
    """
    best: Allocation | None = None
    best_key: tuple[float, int] | None = None
    for cand in candidates(budget_tokens, doc_tokens, qa_tokens, max_k, max_call_tokens):
        key = (model.linear(cand.k, cand.m, cand.n), -cand.estimated_tokens)
        if best_key is None or key > best_key:
            best, best_key = cand, key
    if best is None:
        return None
    return Allocation(best.k, best.m, best.n, best.estimated_tokens, model.predict(best.k, best.m, best.n))
