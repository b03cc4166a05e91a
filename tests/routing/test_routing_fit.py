"""Fitting policies from records and the paper table; leave-one-model-out and route-eval."""

from __future__ import annotations

import pytest

from lara.routing import RequestFeatures, load_policy, policy_from_dict
from lara.routing.evaluate import lomo_paper, paper_rows_from_policy, route_eval
from lara.routing.fit import fit_paper_policy, fit_policy, read_paper_table


def rec(model, runner, sid, length, cat, score, tokens, status="ok"):
    return {"model": model, "task": "t", "runner": runner, "sample_id": sid, "length": length,
            "category": cat, "context_type": "book", "score": score, "score_status": status,
            "input_tokens": tokens, "runner_params": {"k": 5, "chunk_size": 600} if runner == "rag" else {},
            "truncation": {"original_tokens": tokens} if runner == "long_context" else None}


def hand_made():
    """Model A: LC wins location at 32k (1.0 vs 0.5), RAG wins hallucination at 128k."""
    rs = []
    for i in range(2):
        rs += [rec("openai:A", "long_context", f"l{i}", "32k", "location", 1.0, 30000),
               rec("openai:A", "rag", f"l{i}", "32k", "location", 0.5 * i + 0.25, 3000),
               rec("openai:A", "long_context", f"h{i}", "128k", "hallu", 0.0, 100000),
               rec("openai:A", "rag", f"h{i}", "128k", "hallu", 1.0, 3000)]
    rs.append(rec("openai:A", "rag", "x", "32k", "location", None, 3000, status="unparsed"))
    rs.append(rec("openai:A", "iterdrag", "l0", "32k", "location", 0.0, 9000))
    return rs


def test_fit_policy_on_hand_made_records():
    d = fit_policy(hand_made())
    table = d["params"]["table"]["model"]["a"]
    assert table["32k"]["location"] == {"long_context": 1.0, "rag": 0.5, "iterative_rag": 0.0}
    assert table["128k"]["hallucination"] == {"long_context": 0.0, "rag": 1.0}
    assert table["32k"]["unknown"]["long_context"] == 1.0
    buckets = d["params"]["length_buckets"]
    assert [b["name"] for b in buckets] == ["32k", "128k"] and buckets[0]["max_tokens"] == 65000
    assert d["params"]["strategy_params"]["rag"] == {"chunk_size": 600, "k": 5}
    p = policy_from_dict(d)
    assert p.decide(RequestFeatures(model="A", context_tokens=20000, category="location")).strategy == "long_context"
    assert p.decide(RequestFeatures(model="A", context_tokens=90000, category="hallucination")).strategy == "rag"
    with pytest.raises(ValueError, match="no scored records"):
        fit_policy([rec("A", "self_route", "s", "32k", "location", 1.0, 5)])


def test_route_eval_on_hand_made_records():
    rows, counts = route_eval(hand_made(), {"paper_table": load_policy("paper_table"), "default": load_policy("default")})
    assert counts["paired"] == 4 and counts["ties"] == 0
    by = {r.policy: r for r in rows}
    assert by["always_lc"].accuracy == pytest.approx(0.5) and by["always_rag"].accuracy == pytest.approx(0.75)
    assert by["oracle"].accuracy == pytest.approx(1.0)
    assert by["oracle"].input_tokens == 2 * 30000 + 2 * 3000
    assert by["always_lc"].tokens_pct_lc == pytest.approx(100.0)
    # the in-sample refit picks LC for location and RAG for hallucination: it matches the oracle
    assert by["refit table in-sample"].accuracy == pytest.approx(1.0)
    assert by["refit table in-sample"].gap_recovered == pytest.approx(1.0)
    assert by["default"].n == 4 and set(by) >= {"paper_table", "default"}
    assert by["always_rag"].pgr == pytest.approx(1.0) and by["always_lc"].pgr == pytest.approx(0.0)


def test_route_eval_counts_ties_apart():
    """Both wrong or both right: no winner, so a constant policy gets no credit for it."""
    recs = hand_made()
    recs += [rec("openai:A", "long_context", "t0", "32k", "location", 1.0, 30000),
             rec("openai:A", "rag", "t0", "32k", "location", 1.0, 3000),
             rec("openai:A", "long_context", "t1", "32k", "location", 0.0, 30000),
             rec("openai:A", "rag", "t1", "32k", "location", 0.0, 3000)]
    rows, counts = route_eval(recs, {"always_lc policy": load_policy("always_lc")})
    assert counts["paired"] == 6 and counts["ties"] == 2 and counts["decisive"] == 4
    by = {r.policy: r for r in rows}
    # 4 decisive questions: LC wins the two location ones (1.0 vs 0.25 / 0.75), RAG the two hallucination ones
    assert by["always_lc"].winner_accuracy == pytest.approx(0.5)
    assert by["always_lc"].ties == 2
    assert by["always_lc policy"].winner_accuracy == pytest.approx(0.5)


def test_lomo_on_shipped_table_beats_best_constant():
    rows = {r.policy: r for r in lomo_paper(paper_rows_from_policy(load_policy("paper_table")))}
    assert rows["oracle"].n == 88
    const = max(rows["always_lc"].winner_accuracy, rows["always_rag"].winner_accuracy)
    fitted = rows["lomo fitted (default)"]
    assert fitted.winner_accuracy > const
    assert fitted.accuracy > max(rows["always_lc"].accuracy, rows["always_rag"].accuracy)
    assert 0 < fitted.gap_recovered <= 1


def test_paper_reference_figures(shared_data):
    rows = read_paper_table(shared_data / "lara" / "paper_main_table.csv")
    by = {r.policy: r for r in lomo_paper(rows)}
    assert round(by["always_lc"].winner_accuracy * 100, 1) == 54.5
    assert round(by["always_rag"].accuracy, 2) == 62.11 and round(by["always_lc"].accuracy, 2) == 61.47
    assert round(by["oracle"].accuracy, 2) == 67.96
    ref = by["lomo majority (length, category)"]
    assert round(ref.winner_accuracy * 100, 1) == 76.1 and round(ref.gap_recovered * 100) == 62
    # the shipped paper_table policy is exactly what the CSV fits to
    assert fit_paper_policy(rows)["params"] == load_policy("paper_table").params


def test_route_eval_marks_in_sample_figures_of_the_default():
    recs = [rec("replay:/p/llama-3.1-8b", "long_context", "q0", "32k", "location", 1.0, 30000),
            rec("replay:/p/llama-3.1-8b", "rag", "q0", "32k", "location", 0.0, 3000)]
    rows, _ = route_eval(recs, {"default": load_policy("default"), "rules": load_policy("rules")})
    by = {r.policy: r for r in rows}
    assert by["default"].note == "in-sample: trained on llama-3.1-8b" and by["rules"].note == ""
