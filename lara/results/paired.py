"""Paired comparison of two runners on the same questions (LC vs RAG, or any A vs B).

Two unpaired intervals cannot tell a real 2-point gap from noise; the same questions answered by
both runners can. Per slice (category × length, and overall) on the sample ids both runs *scored*
(outcome correct or incorrect on both sides; the other shared ids are excluded and counted):

- mean difference A − B and a paired percentile-bootstrap 95% interval (resampling pairs, seeded);
- an exact McNemar test for binary scores (two-sided binomial test on the discordant pairs), a
  sign-flip permutation test for graded ones (exact up to :data:`EXACT_FLIPS_MAX` non-zero
  differences, else Monte Carlo with :data:`N_PERM` seeded flips);
- the minimum detectable difference at 80% power for that n (:func:`mdd_binary`, :func:`mdd_graded`);
- a verdict at α = 0.05 after Holm's correction across the slices shown together (:func:`holm`).

Runtime needs numpy only (scipy/statsmodels check these numbers in the tests). Standard normal
quantiles come from :class:`statistics.NormalDist`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any, Iterable, Sequence

from lara.results.record import Record
from lara.vocabulary import CATEGORIES

ALPHA = 0.05
POWER = 0.80
N_BOOT = 2000
N_PERM = 10_000
EXACT_FLIPS_MAX = 16  # 2**16 sign patterns enumerated exactly
OVERALL = "overall"
VERDICTS = ("A better", "B better", "no significant difference")
_SCORED = ("correct", "incorrect")
_CHUNK = 2_000_000  # bootstrap indices drawn per block (bounded memory; same stream as one draw)


# -- tests and intervals -------------------------------------------------------------------
def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p: 2 · P(X ≤ min(a_only, b_only)) for X ~ Binomial(a_only + b_only, ½),
    capped at 1 (McNemar 1947; the exact form is statsmodels' ``mcnemar(exact=True)``). Integer
    arithmetic, so thousands of discordant pairs neither underflow nor lose precision."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def sign_flip_test(diffs: Sequence[float], n_perm: int = N_PERM, seed: int = 0) -> float:
    """Two-sided p of the mean paired difference under random sign flips (H0: A and B exchangeable
    within each pair). Exact enumeration when at most :data:`EXACT_FLIPS_MAX` differences are
    non-zero (zeros cannot change the statistic); otherwise ``(1 + hits) / (1 + n_perm)`` over
    seeded random flips."""
    import numpy as np

    d = np.asarray([x for x in diffs if x != 0], dtype=float)
    if len(d) == 0:
        return 1.0
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, observed)
    if len(d) <= EXACT_FLIPS_MAX:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
        stats = np.abs(signs @ d)
        return float(np.mean(stats >= observed - tol))
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    block = max(1, _CHUNK // len(d))
    while done < n_perm:
        m = min(block, n_perm - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, len(d)))
        hits += int(np.sum(np.abs(signs @ d) >= observed - tol))
        done += m
    return (1 + hits) / (1 + n_perm)


def paired_bootstrap_ci(diffs: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                        level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the mean difference over ``n_boot`` resamples of the pairs, indices
    drawn as ``default_rng(seed).integers(0, n, (n_boot, n))`` (the same draw and linear quantile
    as ``scipy.stats.bootstrap(..., paired=True, method='percentile')`` with that generator)."""
    import numpy as np

    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    block = max(1, _CHUNK // n)
    for start in range(0, n_boot, block):
        m = min(block, n_boot - start)
        means[start:start + m] = d[rng.integers(0, n, (m, n))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def _z(alpha: float, power: float) -> tuple[float, float]:
    nd = NormalDist()
    return nd.inv_cdf(1 - alpha / 2), nd.inv_cdf(power)


def mdd_binary(n: int, discordant: float, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Minimum detectable difference δ = p_A − p_B for paired binary outcomes: the δ solving Connor's
    sample-size formula for McNemar's test (Connor 1987, *Biometrics* 43:207–211)

        n = (z_{1−α/2} · √ψ + z_{1−β} · √(ψ − δ²))² / δ²

    for the given ``n`` and the observed discordant proportion ψ = (A-only + B-only) / n. None when
    there is no pair or no discordant pair (nothing to estimate ψ from)."""
    if n <= 0 or discordant <= 0:
        return None
    za, zb = _z(alpha, power)
    psi = min(1.0, discordant)

    def gap(delta: float) -> float:  # root of n·δ² − (za√ψ + zb√(ψ−δ²))², increasing in δ
        return n * delta**2 - (za * math.sqrt(psi) + zb * math.sqrt(max(0.0, psi - delta**2))) ** 2

    lo, hi = 0.0, math.sqrt(psi)
    if gap(hi) < 0:  # even δ² = ψ (every discordant pair one way) is not detectable at this n
        return None
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def mdd_graded(n: int, sd: float, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """(z_{1−α/2} + z_{1−β}) · s_d / √n: the normal-approximation detectable mean difference of a
    two-sided paired test (Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*,
    §3.1 one-sample mean). None without pairs or when every difference is equal."""
    if n <= 1 or sd <= 0:
        return None
    za, zb = _z(alpha, power)
    return (za + zb) * sd / math.sqrt(n)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979): sorted ascending, p_(i) · (m − i + 1), made
    monotone and capped at 1. ``None`` entries (slices without a test) are not counted in m."""
    idx = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])  # type: ignore[arg-type, return-value]
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def verdict(diff: float | None, p_adjusted: float | None, alpha: float = ALPHA) -> str:
    if diff is None or p_adjusted is None or p_adjusted >= alpha or diff == 0:
        return VERDICTS[2]
    return VERDICTS[0] if diff > 0 else VERDICTS[1]


# -- pairing records -----------------------------------------------------------------------
@dataclass(frozen=True)
class Pairing:
    """Two sets of records joined on sample id. ``pairs`` are the ids both sides scored."""

    a_name: str
    b_name: str
    pairs: tuple[tuple[Record, Record], ...]
    excluded: tuple[tuple[Record, Record], ...]  # shared ids where either side is error/unparsed/skipped
    only_a: int
    only_b: int
    task: str = ""
    model: str = ""


def pair_records(a: Iterable[Record], b: Iterable[Record], a_name: str = "A", b_name: str = "B",
                 task: str = "", model: str = "") -> Pairing:
    """Join on sample id (the last record per id wins, as :func:`lara.results.collect.collect` keeps)."""
    ma = {r.sample_id: r for r in a}
    mb = {r.sample_id: r for r in b}
    pairs: list[tuple[Record, Record]] = []
    excluded: list[tuple[Record, Record]] = []
    for sid, ra in ma.items():
        rb = mb.get(sid)
        if rb is None:
            continue
        (pairs if ra.outcome in _SCORED and rb.outcome in _SCORED else excluded).append((ra, rb))
    return Pairing(a_name, b_name, tuple(pairs), tuple(excluded), len(ma.keys() - mb.keys()),
                   len(mb.keys() - ma.keys()), task, model)


# -- per-slice statistics ------------------------------------------------------------------
@dataclass(frozen=True)
class SliceStats:
    """One row: a slice of one pairing. Means are per question over the scored pairs."""

    task: str
    model: str
    a_name: str
    b_name: str
    category: str  # OVERALL for the whole pairing
    length: str
    n: int
    excluded: int
    truncated: int  # pairs where either side's context was truncated
    mean_a: float | None
    mean_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    test: str  # "mcnemar" | "sign-flip" | "-"
    a_only: int  # pairs where A scored higher (binary: A right, B wrong)
    b_only: int
    p: float | None
    mdd: float | None
    p_holm: float | None = None
    verdict: str = VERDICTS[2]


def _seed(base: int, *key: str) -> int:
    """A stable per-slice seed: a slice's interval does not move when other slices are added."""
    return (base + zlib.crc32("\x1f".join(key).encode("utf-8"))) % 2**32


def slice_stats(pairs: Sequence[tuple[Record, Record]], excluded: int, *, task: str = "", model: str = "",
                a_name: str = "A", b_name: str = "B", category: str = OVERALL, length: str = "",
                n_boot: int = N_BOOT, n_perm: int = N_PERM, seed: int = 0) -> SliceStats:
    va = [float(ra.score) for ra, _ in pairs]  # type: ignore[arg-type]
    vb = [float(rb.score) for _, rb in pairs]  # type: ignore[arg-type]
    d = [x - y for x, y in zip(va, vb)]
    n = len(d)
    truncated = sum(1 for ra, rb in pairs if ra.truncated or rb.truncated)
    base: dict[str, Any] = dict(task=task, model=model, a_name=a_name, b_name=b_name, category=category, length=length,
                n=n, excluded=excluded, truncated=truncated)
    if n == 0:
        return SliceStats(**base, mean_a=None, mean_b=None, diff=None, ci_low=None, ci_high=None, test="-",
                          a_only=0, b_only=0, p=None, mdd=None)
    s = _seed(seed, task, model, a_name, b_name, category, length)
    mean_d = sum(d) / n
    ci = paired_bootstrap_ci(d, n_boot, s)
    a_only = sum(1 for x in d if x > 0)
    b_only = sum(1 for x in d if x < 0)
    if all(v in (0.0, 1.0) for v in (*va, *vb)):
        test, p, mdd = "mcnemar", mcnemar_exact(a_only, b_only), mdd_binary(n, (a_only + b_only) / n)
    else:
        sd = math.sqrt(sum((x - mean_d) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
        test, p, mdd = "sign-flip", sign_flip_test(d, n_perm, s), mdd_graded(n, sd)
    return SliceStats(**base, mean_a=sum(va) / n, mean_b=sum(vb) / n, diff=mean_d,
                      ci_low=ci[0] if ci else None, ci_high=ci[1] if ci else None, test=test,
                      a_only=a_only, b_only=b_only, p=p, mdd=mdd)


def length_key(length: str) -> tuple:
    """``32k`` before ``128k``: lengths sort by their number, names without one after."""
    import re

    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmM]?)\s*", length or "")
    if not m:
        return (1, length or "")
    return (0, float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()])


def category_key(category: str) -> tuple:
    """LaRA's category order first, then other names alphabetically, ``overall`` last."""
    if category == OVERALL:
        return (2, "")
    return (0, CATEGORIES.index(category), "") if category in CATEGORIES else (1, 0, category)


def compare_pairing(pairing: Pairing, *, n_boot: int = N_BOOT, n_perm: int = N_PERM, seed: int = 0) -> list[SliceStats]:
    """Rows for every (category, length) slice and one ``overall`` row (not yet Holm-adjusted).
    A single slice identical to the whole pairing is shown once, as ``overall``."""
    groups: dict[tuple[str, str], list] = {}
    dropped: dict[tuple[str, str], int] = {}

    def key(r: Record) -> tuple[str, str]:
        return (r.category or "-", r.length or "-")

    for ra, rb in pairing.pairs:
        groups.setdefault(key(ra), []).append((ra, rb))
    for ra, _ in pairing.excluded:
        dropped[key(ra)] = dropped.get(key(ra), 0) + 1
    keys = sorted(groups.keys() | dropped.keys(), key=lambda k: (category_key(k[0]), length_key(k[1])))
    common: dict[str, Any] = dict(task=pairing.task, model=pairing.model, a_name=pairing.a_name, b_name=pairing.b_name,
                  n_boot=n_boot, n_perm=n_perm, seed=seed)
    rows = []
    if len(keys) > 1:
        rows = [slice_stats(groups.get(k, []), dropped.get(k, 0), category=k[0], length=k[1], **common) for k in keys]
    lengths = sorted({k[1] for k in keys}, key=length_key)
    rows.append(slice_stats(pairing.pairs, len(pairing.excluded), category=OVERALL,
                            length=lengths[0] if len(lengths) == 1 else "all", **common))
    return rows


def adjust(rows: Sequence[SliceStats], alpha: float = ALPHA) -> list[SliceStats]:
    """Holm across every row given (the slices shown together), then the verdicts."""
    adjusted = holm([r.p for r in rows])
    return [replace(r, p_holm=q, verdict=verdict(r.diff, q, alpha)) for r, q in zip(rows, adjusted)]


def compare_runs(pairings: Sequence[Pairing], *, n_boot: int = N_BOOT, n_perm: int = N_PERM, seed: int = 0,
                 alpha: float = ALPHA) -> list[SliceStats]:
    """Rows of every pairing, Holm-adjusted together."""
    rows = [row for p in pairings for row in compare_pairing(p, n_boot=n_boot, n_perm=n_perm, seed=seed)]
    return adjust(rows, alpha)


# -- which runs to pair --------------------------------------------------------------------
def strategy_pairings(records: Iterable[Record], a_strategy: str = "long_context",
                      b_strategy: str = "rag") -> list[Pairing]:
    """For each (task, model): every runner label of strategy ``a_strategy`` (A) against every one of
    ``b_strategy`` (B), on the records given (already one per sample per run group: use
    :func:`lara.results.collect.collect`)."""
    groups: dict[tuple[str, str], dict[str, dict[str, list[Record]]]] = {}
    for r in records:
        if r.strategy not in (a_strategy, b_strategy):
            continue
        g = groups.setdefault((r.task, r.model), {a_strategy: {}, b_strategy: {}})
        g[r.strategy].setdefault(r.runner_label or r.runner, []).append(r)
    out = []
    for (task, model), by in sorted(groups.items()):
        for a_label, a_recs in sorted(by[a_strategy].items()):
            for b_label, b_recs in sorted(by[b_strategy].items()):
                out.append(pair_records(a_recs, b_recs, a_label, b_label, task=task, model=model))
    return out
