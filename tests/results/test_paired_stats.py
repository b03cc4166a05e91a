"""Paired statistics against scipy / statsmodels (test-only dependencies) and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lara.results.paired import (
    compare_pairing, holm, mcnemar_exact, mdd_binary, mdd_graded, pair_records, paired_bootstrap_ci,
    sign_flip_test, slice_stats, strategy_pairings, adjust,
)
from lara.testing.fixtures import scored_record

stats = pytest.importorskip("scipy.stats", reason="scipy is a dev (test-only) dependency")


@pytest.mark.parametrize("a_only,b_only", [(0, 0), (1, 0), (3, 9), (10, 10), (25, 40), (7, 0), (612, 655), (1500, 1620)])
def test_mcnemar_exact_equals_statsmodels(a_only: int, b_only: int) -> None:
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    table = [[50, a_only], [b_only, 30]]
    want = contingency.mcnemar(table, exact=True).pvalue
    assert mcnemar_exact(a_only, b_only) == pytest.approx(want, rel=1e-9, abs=1e-300)
    # also the plain binomial test on the discordant pairs
    if a_only + b_only:
        assert mcnemar_exact(a_only, b_only) == pytest.approx(
            stats.binomtest(a_only, a_only + b_only, 0.5).pvalue, rel=1e-9, abs=1e-300)


def test_mcnemar_by_hand() -> None:
    # 1 vs 5 discordant pairs: 2 * (C(6,0) + C(6,1)) / 2**6 = 14/64
    assert mcnemar_exact(1, 5) == 14 / 64
    assert mcnemar_exact(5, 1) == 14 / 64
    assert mcnemar_exact(0, 0) == 1.0


@pytest.mark.parametrize("seed,n", [(0, 40), (3, 250), (11, 887)])
def test_paired_bootstrap_equals_scipy(seed: int, n: int) -> None:
    rng = np.random.default_rng(100 + seed)
    a = (rng.random(n) < 0.7).astype(float)
    b = (rng.random(n) < 0.6).astype(float)
    got = paired_bootstrap_ci(a - b, n_boot=2000, seed=seed)
    res = stats.bootstrap((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True, vectorized=True,
                          n_resamples=2000, method="percentile", confidence_level=0.95,
                          rng=np.random.default_rng(seed))
    assert got == pytest.approx((res.confidence_interval.low, res.confidence_interval.high), abs=1e-12)


def test_paired_bootstrap_blocks_do_not_change_the_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    import lara.results.paired as paired

    d = np.random.default_rng(1).normal(size=300)
    whole = paired_bootstrap_ci(d, 2000, seed=4)
    monkeypatch.setattr(paired, "_CHUNK", 300 * 7)  # 7 resamples per block
    assert paired_bootstrap_ci(d, 2000, seed=4) == whole


def test_sign_flip_exact_equals_scipy() -> None:
    d = np.array([0.3, -0.1, 0.5, 0.0, 0.25, 0.4, -0.2, 0.6, 0.1, 0.0, 0.35, -0.05, 0.2])
    res = stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                 vectorized=True, n_resamples=np.inf, alternative="two-sided")
    assert sign_flip_test(d) == pytest.approx(res.pvalue, rel=1e-12)
    assert sign_flip_test([0.0, 0.0]) == 1.0


def test_sign_flip_monte_carlo_agrees_with_scipy() -> None:
    d = np.random.default_rng(7).normal(0.12, 0.5, size=60)  # 2**60 patterns: Monte Carlo on both sides
    ours = sign_flip_test(d, n_perm=20_000, seed=1)
    res = stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                 vectorized=True, n_resamples=20_000, alternative="two-sided",
                                 rng=np.random.default_rng(2))
    se = math.sqrt(res.pvalue * (1 - res.pvalue) / 20_000)
    assert abs(ours - res.pvalue) < 6 * se + 1e-3
    assert sign_flip_test(d, n_perm=20_000, seed=1) == ours  # seeded


def test_holm_equals_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.5]
    want = multitest.multipletests(p, alpha=0.05, method="holm")[1]
    assert holm(p) == pytest.approx(list(want), rel=1e-12)
    # slices without a test are not counted in m
    assert holm([0.01, None, 0.04]) == pytest.approx([0.02, None, 0.04])
    assert holm([None]) == [None]


def test_mdd_binary_by_hand() -> None:
    # n = 100, discordant share psi = 0.2, alpha 0.05, power 0.8: z = 1.959964, 0.841621.
    # Connor: 100 d^2 = (1.959964 * sqrt(0.2) + 0.841621 * sqrt(0.2 - d^2))^2; iterating by hand
    # d = 0.1245 -> 0.12380 -> 0.12382.
    d = mdd_binary(100, 0.2)
    assert d == pytest.approx(0.12382, abs=2e-5)
    za, zb = 1.959963985, 0.841621234
    assert 100 * d**2 == pytest.approx((za * math.sqrt(0.2) + zb * math.sqrt(0.2 - d**2)) ** 2, rel=1e-9)
    assert mdd_binary(400, 0.2) < d  # more pairs detect smaller gaps
    assert mdd_binary(0, 0.2) is None and mdd_binary(50, 0.0) is None
    assert mdd_binary(3, 1.0) is None  # 3 pairs cannot reach 80% power at alpha 0.05


def test_mdd_graded_by_hand() -> None:
    # (1.959964 + 0.841621) * 0.5 / sqrt(100) = 0.1400793
    assert mdd_graded(100, 0.5) == pytest.approx(0.1400793, abs=1e-6)
    assert mdd_graded(1, 0.5) is None and mdd_graded(10, 0.0) is None


def _runs(outcomes_a: list, outcomes_b: list, **kw):
    a = [scored_record("run-a", f"q{i}", v, **kw) if not isinstance(v, dict) else scored_record("run-a", f"q{i}", None, **v)
         for i, v in enumerate(outcomes_a)]
    b = [scored_record("run-b", f"q{i}", v, runner="rag", **kw) if not isinstance(v, dict)
         else scored_record("run-b", f"q{i}", None, runner="rag", **v) for i, v in enumerate(outcomes_b)]
    return a, b


def test_pairing_excludes_and_counts_unscored_samples() -> None:
    a, b = _runs([1, 0, 1, {"error": True}, 1, {"skipped": True}, 1],
                 [0, 0, {"status": "unparsed"}, 1, 1, 0])
    p = pair_records(a, b, "lc", "rag")
    assert [ra.sample_id for ra, _ in p.pairs] == ["q0", "q1", "q4"]
    assert {ra.sample_id for ra, _ in p.excluded} == {"q2", "q3", "q5"}
    assert p.only_a == 1 and p.only_b == 0  # q6 has no B record
    row = slice_stats(p.pairs, len(p.excluded), a_name="lc", b_name="rag")
    assert (row.n, row.excluded, row.a_only, row.b_only) == (3, 3, 1, 0)
    assert row.diff == pytest.approx(1 / 3) and row.test == "mcnemar" and row.p == 1.0


def test_slices_holm_and_verdicts() -> None:
    # location: A right on 30 questions B missed, B right on 2 -> clear A win; reasoning: a tie
    a_loc = [1] * 30 + [0] * 2 + [1] * 10
    b_loc = [0] * 30 + [1] * 2 + [1] * 10
    a_rea = [1, 0] * 10
    b_rea = [0, 1] * 10
    a = [scored_record("A", f"l{i}", v, category="location") for i, v in enumerate(a_loc)]
    a += [scored_record("A", f"r{i}", v, category="reasoning", truncated=i < 3) for i, v in enumerate(a_rea)]
    b = [scored_record("B", f"l{i}", v, runner="rag", category="location") for i, v in enumerate(b_loc)]
    b += [scored_record("B", f"r{i}", v, runner="rag", category="reasoning") for i, v in enumerate(b_rea)]
    (pairing,) = strategy_pairings([*a, *b])
    assert (pairing.a_name, pairing.b_name) == ("long_context", "rag")
    rows = adjust(compare_pairing(pairing))
    by = {r.category: r for r in rows}
    assert list(by) == ["location", "reasoning", "overall"]
    assert by["location"].p == pytest.approx(mcnemar_exact(30, 2))
    raw = [r.p for r in rows]
    assert [r.p_holm for r in rows] == pytest.approx(holm(raw))
    assert by["location"].verdict == "A better" and by["reasoning"].verdict == "no significant difference"
    assert by["reasoning"].truncated == 3 and by["overall"].n == 62
    assert by["overall"].diff == pytest.approx((30 - 2 + 10 - 10) / 62)
    # B better when the roles swap
    swapped = adjust(compare_pairing(pair_records(pairing_b := [rb for _, rb in pairing.pairs],
                                                  [ra for ra, _ in pairing.pairs], "rag", "lc")))
    assert pairing_b and {r.category: r.verdict for r in swapped}["location"] == "B better"


def test_graded_scores_use_the_sign_flip_test() -> None:
    a = [scored_record("A", f"q{i}", v) for i, v in enumerate([0.9, 0.8, 0.75, 0.6, 1.0, 0.5])]
    b = [scored_record("B", f"q{i}", v, runner="rag") for i, v in enumerate([0.4, 0.8, 0.5, 0.6, 0.7, 0.25])]
    row = slice_stats(pair_records(a, b).pairs, 0)
    assert row.test == "sign-flip"
    d = np.array([0.5, 0.0, 0.25, 0.0, 0.3, 0.25])
    want = stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                  vectorized=True, n_resamples=np.inf).pvalue
    assert row.p == pytest.approx(want) and row.mdd == pytest.approx(mdd_graded(6, float(np.std(d, ddof=1))))
