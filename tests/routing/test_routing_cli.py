"""`lara route`, `lara calibrate` (replay on a fixture LaRA tree), `lara fit-router --kind question`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lara.cli import _register_commands, app
from lara.routing import load_policy
from lara.routing.outcomes import request_of, rows_from_paths
from lara.testing.fixtures import make_fixture
from lara.testing.routing import SyntheticModel, synthetic_records, write_replay_predictions, write_runs

pytest.importorskip("sklearn")
_register_commands()
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_route_prints_expected_accuracies_and_tokens():
    res = invoke("route", "--context-tokens", "100k", "--question", "Which chapter first mentions the will?")
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert first.split()[0] in ("long_context", "rag")
    assert "long_context: expected accuracy 0." in res.output and "rag: expected accuracy 0." in res.output
    assert "expected input tokens 100," in res.output
    assert "category predicted" in res.output
    js = json.loads(invoke("route", "-c", "30k", "--category", "comparison", "--json").output)
    assert js["strategy"] in ("long_context", "rag") and set(js["expected_tokens"]) == {"long_context", "rag"}
    # the old table policy stays available by name
    old = invoke("route", "-m", "gpt-4o", "-c", "30k", "--category", "comp", "--policy", "paper_table")
    assert old.exit_code == 0 and "model gpt-4o" in old.output


def test_route_rejects_typos_before_deciding():
    res = invoke("route", "-c", "100k", "--category", "compare")
    assert res.exit_code == 2 and "did you mean 'comparison'" in res.output
    res = invoke("route", "-c", "100k", "--retrieval-scores", "3,2,1", "--retriever", "bm52")
    assert res.exit_code == 2 and "did you mean 'bm25'" in res.output
    res = invoke("route", "-c", "100k", "--max-lc-share", "0.2", "--max-lc-token-share", "0.5")
    assert res.exit_code == 2 and "give one target" in res.output
    res = invoke("route", "-c", "lots")
    assert res.exit_code == 2 and "not a token count" in res.output


def test_route_cost_target_changes_the_decision():
    base = ["route", "-c", "120k", "--category", "comparison", "--json"]
    free = json.loads(invoke(*base).output)
    never = json.loads(invoke(*base, "--max-lc-share", "0").output)
    assert never["strategy"] == "rag"
    dear = json.loads(invoke(*base, "--price-per-1k", "10", "--value-per-correct", "1").output)
    assert dear["strategy"] == "rag" and "price 10.0/1k" in dear["reason"]
    assert free["expected_scores"] == never["expected_scores"]  # a target moves the threshold, not the estimates


def test_fit_router_question_kind(tmp_path):
    recs = synthetic_records({"a": SyntheticModel(), "b": SyntheticModel(lc_level=-1.0)}, docs_per_cell=1, questions_per_doc=2)
    dirs = write_runs(recs, tmp_path / "runs")
    out = tmp_path / "q.json"
    res = invoke("fit-router", *map(str, dirs), "-o", str(out), "--name", "mine")
    assert res.exit_code == 0, res.output
    p = load_policy(out)
    assert p.kind == "question" and set(p.params["offsets"]["models"]) == {"a", "b"}
    one = invoke("fit-router", str(dirs[0]), "-o", str(tmp_path / "x.json"))
    assert one.exit_code == 2 and "at least two models" in one.output


@pytest.mark.slow
def test_calibrate_on_replay_predictions_without_metadata(tmp_path):
    """The issue's path on a fixture: recorded predictions of a model nobody described, probed
    through the real engine (replay backend, hybrid retrieval, lexical scorer), then routed."""
    lara_root = make_fixture(tmp_path / "lara")
    folder = write_replay_predictions(lara_root, tmp_path / "predictions", "mystery-model", lc_right=True, rag_right=False)
    out = tmp_path / "policy.json"
    res = invoke("calibrate", "--model", f"replay:{folder}", "--probe", "6", "--task", "lara-32k",
                 "--data-dir", str(lara_root), "--runs", str(tmp_path / "runs"), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert "probe: 6 of 6 questions answered both ways" in res.output
    p = load_policy(out)
    cal = p.params["calibrated"]
    assert cal["model"] == "mystery-model" and cal["probe"]["questions"] == 6
    assert cal["probe"]["lc_accuracy"] > cal["probe"]["rag_accuracy"]
    # LC always right and RAG always wrong on the probe: the expected accuracies move that way
    # (on the probe's own requests: the fixture's documents are a few tokens long, far outside LaRA's)
    rows, _ = rows_from_paths([tmp_path / "runs"])
    assert len(rows) == 6 and all(r.lc_correct for r in rows) and sum(r.rag_correct for r in rows) <= 1
    for row in (r for r in rows if not r.rag_correct):
        req = request_of(row)
        before, after = load_policy("default").decide(req), p.decide(req)
        assert "unseen model" in before.reason and "calibrated on a 6-question probe" in after.reason
        assert after.expected_scores["long_context"] > before.expected_scores["long_context"]
        assert after.expected_scores["rag"] < before.expected_scores["rag"]
    res = invoke("route", "--policy", str(out), "--context-tokens", "100k", "--question", "Which chapter first mentions the will?")
    assert res.exit_code == 0, res.output
    assert "calibrated on a 6-question probe" in res.output and "expected input tokens" in res.output
    again = invoke("calibrate", "--model", f"replay:{folder}", "--probe", "6", "--task", "lara-32k",
                   "--data-dir", str(lara_root), "--runs", str(tmp_path / "runs"), "-o", str(out))
    assert again.exit_code == 0 and load_policy(out).params["calibrated"] == cal  # resumed runs, same result


def test_calibrate_a_live_model_through_an_openai_compatible_endpoint(tmp_path):
    """The live path: the probe's LC and RAG prompts go to a real HTTP server (loopback), answers
    are scored, and the policy is calibrated from them."""
    from lara.testing.openai_server import LoopbackServer

    lara_root = make_fixture(tmp_path / "lara")
    seen: list[str] = []

    def responder(messages, request):
        prompt = str(messages[-1]["content"])
        seen.append("lc" if prompt.startswith("Read the") else "rag")
        return "The text does not mention this." if seen[-1] == "rag" else "Hartman signed it; $5; Beta."

    out = tmp_path / "policy.json"
    with LoopbackServer(responder=responder) as srv:
        res = invoke("calibrate", "--model", "openai:my-model", "--base-url", srv.base_url, "--probe", "6",
                     "--task", "lara-32k", "--data-dir", str(lara_root), "--runs", str(tmp_path / "runs"),
                     "--max-lc-share", "0.5", "-o", str(out))
    assert res.exit_code == 0, res.output
    assert sorted(seen) == ["lc"] * 6 + ["rag"] * 6
    p = load_policy(out)
    assert p.params["calibrated"]["model"] == "my-model" and p.params["calibrated"]["probe"]["questions"] == 6
    assert p.params["target"]["kind"] == "max_lc_share" and p.params["target"]["tau"] >= 0
    assert "OPENAI_API_KEY" not in out.read_text()
