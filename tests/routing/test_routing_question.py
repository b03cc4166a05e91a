"""The question-level router: JSON export vs the fitting library, calibration, cost targets."""

from __future__ import annotations

import math

import pytest

from lara.routing import RequestFeatures, load_policy, policy_from_dict, save_policy
from lara.routing.calibrate import calibrate_target, choose_lc, map_offset
from lara.routing.outcomes import outcome_rows, request_of
from lara.routing.probe import calibrate_policy
from lara.routing.question import QuestionPolicy
from lara.routing.train import FitConfig, fit_prior, policy_document, predict_logits
from lara.testing.routing import SyntheticModel, synthetic_records

pytest.importorskip("sklearn")

TRAIN = {"alpha": SyntheticModel(lc_level=1.0), "beta": SyntheticModel(lc_level=0.6, rag_level=0.3),
         "gamma": SyntheticModel(lc_level=1.2, lc_slope=-0.2)}
# clearly different from every training model: its LC collapses
COLLAPSE = SyntheticModel(lc_level=-2.5, lc_slope=-1.0, rag_level=0.2)


@pytest.fixture(scope="module")
def fitted():
    rows, _ = outcome_rows(synthetic_records(TRAIN, docs_per_cell=2, questions_per_doc=3, seed=1))
    fit = fit_prior(rows, FitConfig(hash_buckets=16))
    doc = policy_document(fit, "synthetic", "test prior", {})
    return rows, fit, policy_from_dict(doc)


def test_exported_json_reproduces_the_fitting_library(fitted, tmp_path):
    rows, fit, policy = fitted
    assert isinstance(policy, QuestionPolicy)
    loaded = load_policy(save_policy(policy, tmp_path / "p.json"))  # through JSON text and back
    for strategy in ("long_context", "rag"):
        idx = [i for i, r in enumerate(rows) if r.model == "beta"][:40]
        ref = predict_logits(fit, idx, strategy, "beta")
        for i, logit in zip(idx, ref):
            req = request_of(rows[i])
            x, _ = loaded.features_of(req)
            offsets, who = loaded.offsets_for(req)
            assert "seen in training" in who
            p = loaded.probabilities(x, offsets)[strategy]
            assert p == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-9)
    # decisions: identical to choosing by the fitting library's probabilities (accuracy target)
    idx = [i for i, r in enumerate(rows) if r.model == "alpha"]
    lc = predict_logits(fit, idx, "long_context", "alpha")
    rag = predict_logits(fit, idx, "rag", "alpha")
    for i, a, b in zip(idx, lc, rag):
        d = loaded.decide(request_of(rows[i]))
        assert d.strategy == ("long_context" if a > b else "rag")
        assert set(d.expected_scores) == set(d.expected_tokens) == {"long_context", "rag"}
        assert d.expected_tokens["long_context"] > d.expected_tokens["rag"]


def test_map_offset_matches_a_brute_force_posterior_mode():
    obs = [(0.3, [1.0, 0.5], 1), (-0.2, [1.0, -1.0], 0), (0.0, [1.0, 0.2], 0), (1.0, [1.0, 1.0], 1)]
    mean, var = [0.1, -0.2], [0.5, 0.2]

    def logpost(o):
        lp = -sum((o[j] - mean[j]) ** 2 / (2 * var[j]) for j in range(2))
        for eta, u, y in obs:
            p = 1 / (1 + math.exp(-(eta + o[0] * u[0] + o[1] * u[1])))
            lp += math.log(p if y else 1 - p)
        return lp

    o = map_offset(obs, mean, var)
    grid = max(((a / 200, b / 200) for a in range(-200, 201) for b in range(-200, 201)), key=logpost)
    assert o[0] == pytest.approx(grid[0], abs=0.006) and o[1] == pytest.approx(grid[1], abs=0.006)
    assert map_offset([], mean, var) == pytest.approx(mean)  # no probe: the prior mean


def test_calibration_moves_the_prior_toward_a_clearly_different_model(fitted):
    _, _, policy = fitted
    new_rows, _ = outcome_rows(synthetic_records({"newcomer": COLLAPSE}, docs_per_cell=2, questions_per_doc=3, seed=7))
    probe, held = new_rows[::3], [r for i, r in enumerate(new_rows) if i % 3]
    cal = calibrate_policy(policy, probe, "newcomer")
    before = policy.params["offsets"]["prior"]["mean"]["long_context"]["1"]
    after = cal.params["calibrated"]["offsets"]["long_context"]["1"]
    assert after < before - 0.5  # LC level pulled down hard
    req = lambda r: request_of(r)  # noqa: E731
    lc_true = sum(r.lc_correct for r in held) / len(held)
    p_prior = sum(policy.decide(req(r)).expected_scores["long_context"] for r in held) / len(held)
    p_cal = sum(cal.decide(req(r)).expected_scores["long_context"] for r in held) / len(held)
    assert abs(p_cal - lc_true) < abs(p_prior - lc_true) / 2
    # and the calibrated policy stops sending the collapsing model to LC
    assert sum(cal.decide(req(r)).strategy == "long_context" for r in held) < sum(
        policy.decide(req(r)).strategy == "long_context" for r in held)
    assert cal.params["calibrated"]["probe"]["questions"] == len(probe)
    assert "calibrated on a" in cal.decide(req(held[0])).reason


def test_cost_targets_are_respected(fitted):
    rows, _, policy = fitted
    ref = policy.reference_requests(policy.offsets_for(RequestFeatures(model="x", context_tokens=0))[0])
    free = sum(pl > pr for pl, pr, _, _ in ref) / len(ref)
    assert free > 0.3  # otherwise the targets below would not bind
    for share in (0.0, 0.1, 0.3):
        p = policy.with_target(kind="max_lc_share", value=share)
        lam, tau = p.params["target"]["lam"], p.params["target"]["tau"]
        assert sum(choose_lc(pl - pr, lt - rt, lam, tau) for pl, pr, lt, rt in ref) <= share * len(ref)
    for share in (0.2, 0.5):
        p = policy.with_target(kind="max_lc_token_share", value=share)
        lam = p.params["target"]["lam"]
        used = sum(lt if choose_lc(pl - pr, lt - rt, lam, 0.0) else rt for pl, pr, lt, rt in ref)
        assert used <= share * sum(lt for _, _, lt, _ in ref) + 1e-6
        assert lam > 0
    # on new requests too: a tighter request-share target never sends more of them to LC
    reqs = [request_of(r) for r in rows[:300]]
    counts = [sum(policy.with_target(kind="max_lc_share", value=s).decide(q).strategy == "long_context" for q in reqs)
              for s in (0.05, 0.2, 0.5)]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    # price: LC only when its expected gain pays for its extra tokens
    cheap = policy.with_target(kind="price", price_per_1k=0.0, value_per_correct=1.0)
    dear = policy.with_target(kind="price", price_per_1k=0.01, value_per_correct=1.0)
    for q in reqs[:50]:
        d = dear.decide(q)
        gain = d.expected_scores["long_context"] - d.expected_scores["rag"]
        extra = d.expected_tokens["long_context"] - d.expected_tokens["rag"]
        assert (d.strategy == "long_context") == (gain - 0.01 * extra / 1000 > 0)
        assert cheap.decide(q).strategy == ("long_context" if gain > 0 else "rag")
    with pytest.raises(ValueError, match="unknown target"):
        calibrate_target(ref, {"kind": "cheapest"})
    with pytest.raises(ValueError, match="within"):
        calibrate_target(ref, {"kind": "max_lc_share", "value": 1.5})


def test_window_and_unknown_category_and_retrieval_inputs(fitted):
    _, _, policy = fitted
    over = policy.decide(RequestFeatures(model="m", context_tokens=200_000, context_window=128_000, category="comparison"))
    assert over.strategy == "rag" and "exceeds usable window" in over.reason
    d = policy.decide(RequestFeatures(model="m", context_tokens=90_000, question="How do the two parts compare?"))
    assert "category predicted" in d.reason
    confident = RequestFeatures(model="alpha", context_tokens=90_000, category="location",
                                retrieval_scores=(14.0, 3.0, 2.5, 0.7, 0.6), retriever="hybrid")
    flat = RequestFeatures(model="alpha", context_tokens=90_000, category="location",
                           retrieval_scores=(9.0, 8.9, 8.8, 0.35, 0.34), retriever="hybrid")
    # the synthetic RAG accuracy rises with the BM25 margin: the router learned it
    assert policy.decide(confident).expected_scores["rag"] > policy.decide(flat).expected_scores["rag"] + 0.2


def test_a_policy_of_another_feature_version_is_refused(fitted):
    from lara.errors import ConfigError

    _, _, policy = fitted
    doc = policy.to_dict()
    doc["params"] = {**doc["params"], "feature_version": 999}
    with pytest.raises(ConfigError, match="feature_version 999"):
        policy_from_dict(doc)
