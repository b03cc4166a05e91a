"""lara.routing: import isolation, decisions on hand-made features, policy JSON round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lara.routing import Decision, PolicyError, RequestFeatures, load_policy, policy_from_dict, save_policy, shipped_policies
from lara.errors import ConfigError
from lara.routing import allocation

HEAVY = ("torch", "faiss", "numpy", "scipy", "sklearn", "openai", "transformers", "lara.engine", "yaml",
         "sentence_transformers", "lara.results.store")


def test_import_is_light_in_a_fresh_interpreter():
    """The new default (question policy, category predicted from the text) decides with the
    standard library only, and exactly as it does in this process."""
    request = ("model='gpt-4o', context_tokens=100000, question='Which chapter first mentions the will?', "
               "retrieval_scores=(12.0, 7.5, 7.1, 0.61, 0.55), retriever='hybrid'")
    code = (
        "import sys, json\n"
        "from lara.routing import load_policy, RequestFeatures\n"
        f"d = load_policy().decide(RequestFeatures({request}))\n"
        f"print(json.dumps({{'decision': d.to_dict(), 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["heavy"] == []
    here = eval(f"load_policy().decide(RequestFeatures({request}))")  # noqa: S307 - our own literal
    assert result["decision"] == json.loads(json.dumps(here.to_dict()))
    assert set(here.expected_scores) == {"long_context", "rag"} and here.expected_tokens["long_context"] > 99_000


def test_shipped_policies_load_and_name_their_source():
    names = shipped_policies()
    assert {"default", "paper_table", "always_lc", "always_rag", "rules", "budget", "self_route"} <= set(names)
    default = load_policy()
    assert default.kind == "question"
    assert len(default.params["offsets"]["models"]) == 10  # the ten shared models' recorded predictions
    old = load_policy("paper_table")
    assert old.kind == "fitted" and "2502.09977" in old.source["paper"]
    assert len(old.params["table"]["model"]) == 11


def test_known_model_uses_its_own_row():
    p = load_policy("paper_table")
    d = p.decide(RequestFeatures(model="replay:/x/mistral-nemo-12b", context_tokens=30000, category="comparison"))
    assert d.strategy == "rag" and "model mistral-nemo-12b" in d.reason
    assert d.expected_scores["rag"] > d.expected_scores["long_context"]
    assert d.params["k"] == 5 and d.params["chunk_size"] == 600
    d = p.decide(RequestFeatures(model="openai:gpt-4o-2024-08-06", context_tokens=30000, category="comp"))
    assert d.strategy == "long_context" and "model gpt-4o," in d.reason  # dated snapshot -> gpt-4o


def test_unseen_model_falls_back_to_class_then_pool():
    p = load_policy("paper_table")
    closed = p.decide(RequestFeatures(model="new-frontier", context_tokens=100000, category="reasoning", open_weights=False))
    assert "model class proprietary" in closed.reason and closed.strategy == "long_context"
    small = p.decide(RequestFeatures(model="my-8b", context_tokens=100000, category="reasoning", parameters_b=8))
    assert "model class open" in small.reason and small.strategy == "rag"
    anon = p.decide(RequestFeatures(model="who-knows", context_tokens=100000, category="unknown"))
    assert "all models" in anon.reason
    assert anon.strategy == max(anon.expected_scores, key=anon.expected_scores.get)


def test_window_overflow_forces_rag():
    for name in ("default", "paper_table", "rules"):
        d = load_policy(name).decide(RequestFeatures(model="m", context_tokens=200000, context_window=128000, category="comparison"))
        assert d.strategy == "rag" and "exceeds usable window" in d.reason
    lc = load_policy("always_lc").decide(RequestFeatures(model="m", context_tokens=200000, context_window=128000))
    assert lc.strategy == "long_context" and "truncated" in lc.reason


def test_rules_and_constants_and_self_route():
    rules = load_policy("rules")
    f = lambda tokens, cat: rules.decide(RequestFeatures(model="m", context_tokens=tokens, category=cat)).strategy  # noqa: E731
    assert f(2000, "hallucination") == "long_context"
    assert f(100000, "comparison") == "long_context"
    assert f(20000, "hallucination") == "rag"
    assert f(20000, "location") == "long_context" and f(100000, "location") == "rag"
    assert load_policy("always_rag").decide(RequestFeatures(model="m", context_tokens=5)).strategy == "rag"
    sr = load_policy("self_route").decide(RequestFeatures(model="m", context_tokens=50000))
    assert sr.strategy == "rag" and sr.params["runner"] == "self_route" and sr.params["fallback"] == "long_context"


def test_budget_policy_uses_the_allocation_model():
    p = load_policy("budget")
    fits = p.decide(RequestFeatures(model="gpt-4o", context_tokens=30000, category="reasoning", budget_tokens=64000))
    assert fits.strategy == "long_context"
    tight = p.decide(RequestFeatures(model="gpt-4o", context_tokens=100000, category="reasoning", budget_tokens=16000))
    assert tight.strategy in ("rag", "iterative_rag")
    est = allocation.estimate_effective_tokens(tight.params["k"], tight.params.get("m", 0), tight.params.get("n", 1), 600, 64)
    assert est <= 16000
    # the choice is the argmax over every grid point that fits
    m = allocation.GEMINI_15_FLASH
    best = max(m.linear(c.k, c.m, c.n) for c in allocation.candidates(16000, 600, 64, max_k=167))
    k, mm, n = tight.params["k"], tight.params.get("m", 0), tight.params.get("n", 1)
    assert m.linear(k, mm, n) == pytest.approx(best)
    tiny = p.decide(RequestFeatures(model="m", context_tokens=100000, budget_tokens=300))
    assert tiny.strategy == "no_context"
    nob = p.decide(RequestFeatures(model="gpt-4o", context_tokens=30000, category="reasoning"))
    assert nob.reason.startswith("no budget given")


def test_allocation_formula_matches_the_paper():
    m = allocation.GEMINI_15_FLASH
    import math

    x = 0.325 * math.log(10.01) + 0.101 * math.log(2.01) + 0.177 * math.log(1.01) - 0.730
    assert m.linear(10, 2, 1) == pytest.approx(x)
    assert m.predict(10, 2, 1) == pytest.approx(3.30 / (1 + math.exp(-1.81 * (x + 0.46))) - 2.18)


def test_policy_json_round_trip(tmp_path):
    for name in shipped_policies():
        p = load_policy(name)
        path = save_policy(p, tmp_path / f"{name}.json")
        q = load_policy(path)
        assert q.to_dict() == p.to_dict()
        f = RequestFeatures(model="llama-3.1-8b", context_tokens=90000, category="hallu", budget_tokens=50000)
        assert q.decide(f) == p.decide(f)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(PolicyError, match="unknown policy"):
        load_policy("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PolicyError, match="invalid JSON"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="unknown kind"):
        policy_from_dict({"kind": "magic"})
    with pytest.raises(ValueError):
        RequestFeatures(model="", context_tokens=5)
    with pytest.raises(ValueError):
        RequestFeatures(model="m", context_tokens=-1)
    with pytest.raises(ValueError):
        Decision("telepathy")


def test_request_categories_are_checked_with_a_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'comparison'"):
        RequestFeatures(model="m", context_tokens=1, category="compare")
    with pytest.raises(ConfigError, match="valid: location, reasoning, comparison, hallucination, unknown"):
        RequestFeatures(model="m", context_tokens=1, category="weird")
    assert RequestFeatures(model="m", context_tokens=1, category="hallu").category == "hallucination"
    assert RequestFeatures(model="m", context_tokens=1, category="reas").category == "reasoning"
    assert RequestFeatures(model="m", context_tokens=1).category == "unknown"
    assert RequestFeatures(model="m", context_tokens=1, category=None).category == "unknown"
    with pytest.raises(ConfigError, match="did you mean 'hybrid'"):
        RequestFeatures(model="m", context_tokens=1, retrieval_scores=(1.0,), retriever="hybird")
    with pytest.raises(ConfigError, match="need retriever"):
        RequestFeatures(model="m", context_tokens=1, retrieval_scores=(1.0,))
