"""Computation allocation model: parameter recovery, sigma inverse, paper preset, choose, LOTO."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from lara.allocation.model import (
    PAPER, AllocationParams, Observation, choose, fit, informativeness, leave_one_task_out, load_params,
    predict, save_params, sigma, sigma_inv,
)
from lara.errors import ConfigError
from lara.routing.allocation import GEMINI_15_FLASH

pytestmark = pytest.mark.needs('scipy')

TRUE = AllocationParams(a=(0.325, 0.101, 0.177), b=(-0.067, -0.008, 0.0), c=-0.730)
TASKS = {"t1": (0.5, 0.2), "t2": (1.0, 0.8), "t3": (1.5, 0.4)}
GRID = list(itertools.product([0, 1, 2, 5, 10, 20, 50, 100], [0, 1, 2, 4, 8, 16], [1, 2, 3, 4, 5]))


def _synthetic(noise: float = 0.01, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for t, (i_doc, i_shot) in TASKS.items():
        ks, ms, ns = zip(*GRID)
        y = predict(TRUE, ks, ms, ns, i_doc, i_shot) + rng.normal(0, noise, len(GRID))
        out += [Observation(t, k, m, n, float(v)) for (k, m, n), v in zip(GRID, y)]
    return out


def test_fit_recovers_known_parameters_within_002():
    p = fit(_synthetic(), normalized=True, informativeness_override=TASKS)
    for got, want in zip([*p.a, p.b[0], p.b[1], p.c], [*TRUE.a, TRUE.b[0], TRUE.b[1], TRUE.c]):
        assert abs(got - want) <= 0.02, (got, want)
    assert p.b[2] == 0.0  # b_n fixed
    assert p.r2 >= 0.99 and p.mse < 0.001
    assert max(abs(a - b) for a, b in zip(p.sigma, PAPER.sigma)) < 0.1


def test_sigma_and_inverse_round_trip_with_paper_parameters():
    y = np.linspace(-2.1, 1.05, 50)
    assert np.allclose(sigma(sigma_inv(y, PAPER.sigma), PAPER.sigma), y, atol=1e-9)
    x = np.linspace(-3, 3, 50)
    assert np.allclose(sigma_inv(sigma(x, PAPER.sigma), PAPER.sigma), x, atol=1e-6)


def test_paper_preset_matches_routing_copy():
    assert PAPER.a == tuple(GEMINI_15_FLASH.a) and PAPER.c == GEMINI_15_FLASH.c
    for k, m, n in [(0, 0, 1), (5, 2, 1), (100, 16, 3), (1000, 256, 5)]:
        assert float(predict(PAPER, [k], [m], [n])[0]) == pytest.approx(GEMINI_15_FLASH.predict(k, m, n), abs=1e-12)
    assert load_params("paper") is PAPER


def test_unidentifiable_columns_are_dropped_with_a_note(tmp_path):
    obs = [o for o in _synthetic() if o.task == "t1" and o.n == 1]
    p = fit(obs, name="one-task")
    assert p.a[2] == 0.0 and p.b[0] == 0.0 and p.b[1] == 0.0
    assert any("a_iter" in n for n in p.notes) and any("b_doc" in n for n in p.notes)
    save_params(p, tmp_path / "p.json")
    q = load_params(tmp_path / "p.json")
    assert q.a == p.a and q.sigma == p.sigma and q.normalization == p.normalization


def test_choose_respects_budget_and_prefers_more_compute():
    cands = [("drag", 1, 0, 1, 500), ("drag", 10, 0, 1, 5000), ("drag", 50, 4, 1, 90000), ("iterdrag", 10, 2, 3, 30000)]
    picks = choose(PAPER, cands, 32000)
    assert {c.tokens for c in picks} == {500, 5000, 30000}
    assert picks[0].predicted == max(c.predicted for c in picks)
    assert (picks[0].k, picks[0].n) == (10, 3)


def test_leave_one_task_out_reaches_most_of_the_oracle():
    obs = [Observation(o.task, o.k, o.m, o.n, 0.5 + 0.2 * o.performance) for o in _synthetic(seed=1)]
    lengths = {(o.task, o.runner, o.k, o.m, o.n): (o.m + 1) * (o.k * 100 + 50) * o.n for o in obs}
    res = leave_one_task_out(obs, lengths, 32000)
    assert set(res) == set(TASKS)
    for frac in res.values():
        assert frac is not None and 0.9 <= frac <= 1.0


def test_informativeness_comes_from_single_call_drag_runs_only():
    """DRAG and IterDRAG n=1 share (k, m, n); only DRAG (one call) measures one document's value."""
    base = [Observation("t", 0, 0, 1, 0.2, "drag"), Observation("t", 1, 0, 1, 0.5, "drag"),
            Observation("t", 0, 1, 1, 0.3, "drag")]
    multi = [Observation("t", 1, 0, 1, 0.9, "iterdrag"), Observation("t", 0, 0, 1, 0.0, "iterdrag")]
    for obs in (base + multi, multi + base):  # whatever the order, IterDRAG never stands in
        info = informativeness(obs, [o.performance for o in obs])
        assert info["t"] == pytest.approx((0.3, 0.1))
    notes: list[str] = []
    only_iter = informativeness(multi, [o.performance for o in multi], notes)
    assert only_iter["t"] == (0.0, 0.0)
    assert notes and "no single-call DRAG run" in notes[0] and "k=0,m=0" in notes[0]
    # repeated DRAG runs of one point are averaged, not last-wins
    twice = base + [Observation("t", 1, 0, 1, 0.7, "drag")]
    assert informativeness(twice, [o.performance for o in twice])["t"][0] == pytest.approx(0.4)


def test_missing_scipy_is_a_clear_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import now raises ImportError
    obs = _synthetic()
    with pytest.raises(ConfigError, match=r"scipy.*lara\[analysis\].*--sigma paper"):
        fit(obs)
    p = fit(obs, refit_sigma=False)  # the paper's sigma needs no scipy
    assert p.sigma == PAPER.sigma
