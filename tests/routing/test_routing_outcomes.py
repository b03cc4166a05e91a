"""Outcome rows from paired runs, probe stratification, and the split-by-document evaluation."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from lara.results.record import Record, build_record
from lara.routing.calibrate import ProbeCandidate, select_probe
from lara.routing.generalise import GenConfig, document_folds, evaluate, probe_rows, summarize
from lara.routing.outcomes import outcome_rows, read_rows, request_of, rescore
from lara.routing.train import FitConfig
from lara.testing.routing import SyntheticModel, synthetic_records, write_runs
from lara.types import ErrorInfo, RunOutput, Sample, Score, Step


def _error_record(ok: Record) -> Record:
    """The RAG side of a question whose recorded prediction was JSON false (a failed upstream call)."""
    sample = Sample(ok.sample_id, ok.question, ("ref",), (), dict(ok.metadata))
    return build_record(run_id="x", spec_hash="0", task="lara", task_version="1", sample=sample, runner="rag",
                        runner_params={}, strategy="rag", model=ok.model, backend="replay", model_id=ok.model_id,
                        generation={}, output=None, scores=[], primary="lexical",
                        error=ErrorInfo("BackendError", "recorded prediction is JSON false", 0, "upstream_failure"),
                        started_at="2026-01-01T00:00:00Z", latency_s=0.0)


def test_rows_pair_lc_and_rag_and_drop_failed_sides_from_both():
    recs = synthetic_records({"m": SyntheticModel()}, docs_per_cell=1, questions_per_doc=1)
    lc = [r for r in recs if r.runner == "long_context"]
    failed = _error_record(lc[0])
    unparsed = Record.from_dict({**[r for r in recs if r.runner == "rag"][1].to_dict(),
                                 "score": None, "score_status": "unparsed", "attempt": 2})
    rows, counts = outcome_rows([r.to_dict() for r in recs] + [failed.to_dict(), unparsed])
    assert counts.paired == len(lc) - 2 == len(rows)
    assert counts.rag_failed == {"error": 1, "unparsed": 1} and not counts.lc_failed
    assert lc[0].sample_id not in {r.sample_id for r in rows}
    assert "left out of both sides" in counts.summary()
    row = rows[0]
    assert row.model == "m" and row.lc_tokens > row.context_tokens > 20_000 and row.rag_tokens == 3200
    assert row.retriever == "hybrid" and len(row.retrieval_scores) == 5
    assert row.document.endswith(".txt") and row.category in ("location", "reasoning", "comparison", "hallucination")
    req = request_of(row)
    assert req.retriever == "hybrid" and req.retrieval_scores == row.retrieval_scores and req.question == row.question
    # a run without the other side is counted, not paired
    only_lc, c2 = outcome_rows(lc)
    assert only_lc == [] and c2.rag_missing == len(lc)


def test_outcomes_command_writes_rows(tmp_path):
    from lara.cli import _register_commands, app

    _register_commands()
    recs = synthetic_records({"a": SyntheticModel(), "b": SyntheticModel(lc_level=-1)}, docs_per_cell=1, questions_per_doc=1)
    dirs = write_runs(recs, tmp_path / "runs")
    out = tmp_path / "rows.jsonl"
    res = CliRunner().invoke(app, ["outcomes", *map(str, dirs), "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_rows(out)
    assert len(rows) == 48 and {r.model for r in rows} == {"a", "b"}
    assert "48 paired questions" in res.output
    first = json.loads(out.read_text().splitlines()[0])
    assert {"lc_correct", "rag_correct", "lc_tokens", "rag_tokens", "question", "category"} <= set(first)


def test_probe_is_stratified_and_spread_over_documents():
    cands = [ProbeCandidate(f"{cat}-{length}-{t}-{d}-{q}", (cat, length, t), f"{length}/{t}/{d}")
             for cat in "ABCD" for length in ("32k", "128k") for t in ("book", "fin", "paper")
             for d in range(3) for q in range(6)]
    ids = select_probe(cands, 96, seed=0)
    assert len(ids) == len(set(ids)) == 96
    strata = Counter(i.rsplit("-", 2)[0] for i in ids)
    assert len(strata) == 24 and set(strata.values()) == {4}
    docs = Counter(i.rsplit("-", 1)[0] for i in ids)
    assert max(docs.values()) == 2  # 4 per stratum over 3 documents: no document gives 3 before another gives 2
    assert select_probe(cands, 96, seed=0) == ids and select_probe(cands, 96, seed=1) != ids
    # a small stratum gives what it has; the rest is spread over the others
    small = [c for c in cands if c.stratum != ("A", "32k", "book")] + [c for c in cands if c.stratum == ("A", "32k", "book")][:2]
    ids = select_probe(small, 96, seed=3)
    assert len(ids) == 96 and sum(i.startswith("A-32k-book") for i in ids) == 2


def test_split_by_document_keeps_evaluation_documents_unseen():
    rows, _ = outcome_rows(synthetic_records({"a": SyntheticModel(), "b": SyntheticModel(lc_level=-1)},
                                             docs_per_cell=2, questions_per_doc=2))
    folds = document_folds(rows, 2, seed=5)
    assert set(folds.values()) == {0, 1}
    for key in {(r.length, r.context_type) for r in rows}:  # each stratum's documents land in both folds
        assert {folds[r.document] for r in rows if (r.length, r.context_type) == key} == {0, 1}
    pool = [r for r in rows if r.model == "a" and folds[r.document] != 0]
    probe = probe_rows(pool, 24, seed=0)
    assert len(probe) == 24 and all(folds[r.document] == 1 for r in probe)


def test_generalisation_runs_on_models_without_metadata():
    models = {"folder-one": SyntheticModel(lc_level=1.5), "x7": SyntheticModel(lc_level=-0.5),
              "some-new-model": SyntheticModel(lc_level=0.5, rag_level=0.5)}
    rows, _ = outcome_rows(synthetic_records(models, docs_per_cell=2, questions_per_doc=3))
    res = evaluate(rows, GenConfig(probe=24, seeds=(0, 1), folds=2, fit=FitConfig(hash_buckets=8)))
    assert [r.model for r in res] == sorted(models)
    for r in res:
        assert r.questions == 144
        assert min(r.lc_acc, r.rag_acc) <= r.router_acc <= r.oracle_acc
        assert 0 < r.lc_token_share <= 0.56 + 0.05 and r.probe_token_share > 0
    s = summarize(res)
    assert set(s) == {"worst_margin", "mean_gap_recovered", "max_lc_token_share", "probe_token_share"}
    with pytest.raises(ValueError, match="at least two models"):
        evaluate([r for r in rows if r.model == "x7"])


def test_rescoring_counts_old_runs_by_todays_scorer():
    recs = synthetic_records({"m": SyntheticModel(lc_level=5.0)}, docs_per_cell=1, questions_per_doc=1)
    lc = [r for r in recs if r.runner == "long_context"]
    assert sum(r.outcome == "correct" for r in lc) > len(lc) // 2  # stored: mostly "correct"
    # the synthetic answers ("a") do not state the references ("ref"): the lexical scorer says so
    fresh = list(rescore(recs, "lexical"))
    assert all(r.outcome == "incorrect" and r.scores["lexical"]["scorer"] == "lexical-fallback"
               for r in fresh if r.runner == "long_context")
    rows, _ = outcome_rows(fresh)
    assert rows and not any(r.lc_correct or r.rag_correct for r in rows)
