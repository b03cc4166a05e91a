"""Probe calibration for a model the router has never seen, and cost targets (standard library only).

**Probe.** :func:`select_probe` draws a stratified probe: equal shares of every (category, length,
context type) cell, spread over as many documents as the cell has, so a 96-question probe shows a
model at both lengths on every kind of question and text.

**Update: a per-model offset with hierarchical shrinkage.** The prior (:mod:`lara.routing.train`)
gives, for each strategy, shared logits eta(x) and the distribution of per-model offsets
o ~ N(mu, diag(tau^2)) on the basis u(x) = (1, ctx, category indicators), estimated from how much
the training models differed. The probe's outcomes update o to its posterior mode
(maximum a posteriori: Bernoulli likelihood of the probe outcomes under sigmoid(eta + o.u) times the
Gaussian prior; Newton's method on 6 parameters). Why this and not a separate model per new model:
96 outcomes cannot fit hundreds of weights, but they can place a model on the few directions in
which models really differ (its level, its length trend, its category profile), and the prior says
how far the probe may move each direction: a component the training models agreed on barely moves,
one they disagreed on follows the probe. With no probe the posterior is the prior mean.

**Targets.** A policy chooses LC when ``p_lc - p_rag - lam * (lc_tokens - rag_tokens) / 1000 > tau``.
``price_per_1k`` / ``value_per_correct`` set ``lam`` directly (net value per request);
``max_lc_share`` sets ``tau`` as the (1 - share) quantile of the predicted gain over reference
requests (as RouteLLM calibrates a router to a share of strong-model calls);
``max_lc_token_share`` sets the smallest ``lam`` whose LC input tokens over the reference requests
stay within that share of always-LC's (the knapsack rule: spend tokens where they buy the most
accuracy per token).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Sequence

from lara.routing.features import sigmoid

TARGET_KINDS = ("accuracy", "max_lc_share", "max_lc_token_share", "price")


@dataclass(frozen=True)
class ProbeCandidate:
    """A question that may be probed: its id, its stratum and its document."""

    id: str
    stratum: Hashable
    document: str


def select_probe(candidates: Iterable[ProbeCandidate], n: int, seed: int = 0) -> list[str]:
    """``n`` ids, as equal a share of every stratum as its size allows; within a stratum, one
    question per document before a second from any document (order drawn with ``seed``)."""
    rng = random.Random(seed)
    by: dict[Hashable, list[ProbeCandidate]] = defaultdict(list)
    for c in candidates:
        by[c.stratum].append(c)
    queues: dict[Hashable, list[str]] = {}
    for key in sorted(by, key=str):
        items = sorted(by[key], key=lambda c: c.id)
        rng.shuffle(items)
        per_doc: dict[str, list[str]] = defaultdict(list)
        for c in items:
            per_doc[c.document].append(c.id)
        docs = list(per_doc)
        order: list[str] = []
        while any(per_doc.values()):
            for d in docs:
                if per_doc[d]:
                    order.append(per_doc[d].pop(0))
        queues[key] = order
    picked: list[str] = []
    keys = list(queues)
    rng.shuffle(keys)
    while len(picked) < n and any(queues.values()):
        for key in keys:
            if queues[key] and len(picked) < n:
                picked.append(queues[key].pop(0))
    return picked


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a x = b (small, symmetric positive definite) by Gaussian elimination with pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        piv = m[i][i] or 1e-12
        for r in range(i + 1, n):
            f = m[r][i] / piv
            if f:
                for c in range(i, n + 1):
                    m[r][c] -= f * m[i][c]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        x[i] = (m[i][n] - sum(m[i][c] * x[c] for c in range(i + 1, n))) / (m[i][i] or 1e-12)
    return x


def map_offset(obs: Sequence[tuple[float, Sequence[float], int]], mean: Sequence[float],
               var: Sequence[float], iters: int = 50) -> list[float]:
    """Posterior mode of o given observations (eta, u, y) with y ~ Bernoulli(sigmoid(eta + o.u))
    and o ~ N(mean, diag(var))."""
    o = list(mean)
    k = len(o)
    for _ in range(iters):
        grad = [-(o[j] - mean[j]) / var[j] for j in range(k)]
        hess = [[(1.0 / var[j] if i == j else 0.0) for j in range(k)] for i in range(k)]
        for eta, u, y in obs:
            p = sigmoid(eta + sum(a * b for a, b in zip(o, u)))
            w = p * (1.0 - p)
            for i in range(k):
                if u[i]:
                    grad[i] += (y - p) * u[i]
                    wi = w * u[i]
                    for j in range(k):
                        if u[j]:
                            hess[i][j] += wi * u[j]
        step = _solve(hess, grad)
        o = [a + s for a, s in zip(o, step)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return o


def choose_lc(gain: float, extra_tokens: float, lam: float, tau: float) -> bool:
    """The one decision rule (module docstring): LC only when its net gain is above ``tau``
    (a tie goes to RAG, the cheaper option)."""
    return gain - lam * extra_tokens / 1000.0 > tau


def calibrate_target(requests: Sequence[tuple[float, float, float, float]], target: Mapping[str, Any]) -> dict[str, float]:
    """(lam, tau) for a target, from reference requests (p_lc, p_rag, lc_tokens, rag_tokens)."""
    kind = str(target.get("kind", "accuracy"))
    if kind not in TARGET_KINDS:
        raise ValueError(f"unknown target {kind!r}; valid: {', '.join(TARGET_KINDS)}")
    if kind == "accuracy":
        return {"lam": 0.0, "tau": 0.0}
    if kind == "price":
        value = float(target["value_per_correct"])
        if value <= 0:
            raise ValueError("value_per_correct must be positive")
        return {"lam": float(target["price_per_1k"]) / value, "tau": 0.0}
    share = float(target["value"])
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{kind} must be within [0, 1], got {share}")
    if not requests:
        raise ValueError(f"{kind}: no reference requests to calibrate on")
    if kind == "max_lc_share":
        gains = sorted(p_lc - p_rag for p_lc, p_rag, _, _ in requests)
        allowed = int(math.floor(share * len(gains)))
        if allowed >= sum(g > 0 for g in gains):
            return {"lam": 0.0, "tau": 0.0}
        if allowed == 0:
            return {"lam": 0.0, "tau": gains[-1] + 1e-9}
        # choose LC for the top `allowed` gains: tau just above the next one down
        return {"lam": 0.0, "tau": (gains[-allowed] + gains[-allowed - 1]) / 2.0}
    lc_total = sum(t for _, _, t, _ in requests) or 1.0

    def share_at(lam: float) -> float:
        used = sum(lt if choose_lc(pl - pr, lt - rt, lam, 0.0) else rt for pl, pr, lt, rt in requests)
        return used / lc_total

    if share_at(0.0) <= share:
        return {"lam": 0.0, "tau": 0.0}
    lo, hi = 0.0, 1e-3
    while share_at(hi) > share and hi < 1e3:
        hi *= 2.0
    for _ in range(50):
        mid = (lo + hi) / 2.0
        if share_at(mid) > share:
            lo = mid
        else:
            hi = mid
    return {"lam": hi, "tau": 0.0}
