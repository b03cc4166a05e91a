"""`lara score` and `lara compare` against the loopback OpenAI server (real HTTP, real client)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lara.commands.judges import register
from lara.results.record import build_record, utc_now
from lara.testing.fixtures import fixture_samples
from lara.testing.openai_server import Fault, LoopbackServer
from lara.types import RunOutput, Sample

# Real LaRA samples (the task's loader over the upstream-format fixture), by id: the judge must see
# the categories exactly as the task spells them.
LOC, HALLU, COMP, REAS, FIN = ("32k_book_location_0", "32k_book_hallu_0", "32k_book_comp_0",
                               "32k_paper_reasoning_0", "32k_financial_location_0")
ANSWERS = {LOC: "Paris", HALLU: "Lyon", COMP: "hmm", REAS: "boom", FIN: None}


def write_run(run_dir: Path, answers: dict, runner: str = "long_context") -> Path:
    """One run of records built by the real record builder over samples from the real LaRA loader."""
    samples = {s.id: s for s in fixture_samples(run_dir.parent / f"{run_dir.name}-data")}
    run_dir.mkdir(parents=True)
    with open(run_dir / "samples.jsonl", "w", encoding="utf-8") as fh:
        for sid, ans in answers.items():
            rec = build_record(
                run_id=run_dir.name, spec_hash="abc", task="lara", task_version="1", sample=samples[sid],
                runner=runner, runner_params={}, model="replay:m", backend="replay", model_id="m",
                generation={}, output=RunOutput(answer=ans), scores=[], primary=None, error=None,
                started_at=utc_now(), latency_s=0.0)
            fh.write(json.dumps(rec.to_dict()) + "\n")
    return run_dir


def binary_responder(messages, request):
    user = messages[-1]["content"]
    pred = user.split("[AI Assistant's Answer] ")[1].split("\n")[0]
    return {"Paris": "True", "Lyon": "False", "hmm": "maybe"}.get(pred, "True")


def boom_fault(index, body):
    return Fault.server_error(500) if "[AI Assistant's Answer] boom" in body["messages"][-1]["content"] else None


def cli():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep subcommands as subcommands
        pass

    return app


def test_score_writes_new_file_and_resumes(tmp_path):
    run = write_run(tmp_path / "run1", ANSWERS)
    original = (run / "samples.jsonl").read_bytes()
    runner = CliRunner()
    with LoopbackServer(responder=binary_responder, faults=boom_fault) as srv:
        args = ["score", str(run), "--judge", "openai:judge-m", "--judge-base-url", srv.base_url,
                "-J", "max_retries=0"]
        r = runner.invoke(cli(), args)
        assert r.exit_code == 0, r.output
        first_calls = srv.request_count
        assert "judged 2, unparsed 1, error 2" in r.output
        out = run / "samples.scored-lara_judge-openai-judge-m.jsonl"
        recs = {x["sample_id"]: x for x in map(json.loads, out.read_text().splitlines())}
        assert (run / "samples.jsonl").read_bytes() == original  # original untouched
        assert not list(run.glob("*.partial")) and not list(run.glob("*.tmp"))
        assert [recs[s]["score"] for s in ANSWERS] == [1.0, 0.0, None, None, None]
        assert [recs[s]["score_status"] for s in ANSWERS] == ["ok", "ok", "unparsed", "error", "error"]
        s1 = recs[LOC]["scores"]["lara_judge"]
        assert s1["details"]["prompt_id"] == "lara-binary" and s1["details"]["judge_model"] == "openai:judge-m"
        assert recs[HALLU]["category"] == "hallucination"
        assert recs[HALLU]["scores"]["lara_judge"]["details"]["prompt_id"] == "lara-hallu"
        assert {recs[s]["scores"]["lara_judge"]["details"]["prompt_id"] for s in (COMP, REAS)} == {"lara-binary"}
        assert first_calls == 4  # q5 has no answer: no call

        # second run: only the error sample is retried, everything else reused
        r2 = runner.invoke(cli(), args)
        assert r2.exit_code == 0, r2.output
        assert srv.request_count - first_calls == 1
        assert "reused 3" in r2.output

    # third run after removing the failing answer from consideration: stop the server → only errors retried
    # and a completed file with no error left makes 0 calls
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    for rec in lines:  # pretend the error samples were judged fine meanwhile
        if rec["score_status"] == "error":
            rec["scores"]["lara_judge"]["status"] = "ok"
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with LoopbackServer(responder=binary_responder) as srv2:
        r3 = runner.invoke(cli(), ["score", str(run), "--judge", "openai:judge-m", "--judge-base-url", srv2.base_url])
        assert r3.exit_code == 0, r3.output
        assert srv2.request_count == 0
        assert "judge usage: 0 calls" in r3.output


def test_score_resumes_from_partial_file(tmp_path):
    run = write_run(tmp_path / "run1", {LOC: "Paris", HALLU: "Lyon"})
    out = run / "samples.scored-lara_judge-openai-judge-m.jsonl"
    with LoopbackServer(responder=binary_responder) as srv:
        r = CliRunner().invoke(cli(), ["score", str(run), "--judge", "openai:judge-m", "--judge-base-url", srv.base_url])
        assert r.exit_code == 0, r.output
    done = out.read_text().splitlines()
    out.unlink()
    partial = out.with_name(out.name + ".partial")
    partial.write_text(done[0] + "\n" + done[1][: len(done[1]) // 2])  # killed mid-line
    with LoopbackServer(responder=binary_responder) as srv:
        r = CliRunner().invoke(cli(), ["score", str(run), "--judge", "openai:judge-m", "--judge-base-url", srv.base_url])
        assert r.exit_code == 0, r.output
        assert srv.request_count == 1
    assert len(out.read_text().splitlines()) == 2 and not partial.exists()


def test_score_needs_judge_and_existing_run(tmp_path):
    run = write_run(tmp_path / "r", {LOC: "Paris"})
    r = CliRunner().invoke(cli(), ["score", str(run)])
    assert r.exit_code == 2 and "--judge" in r.output
    r = CliRunner().invoke(cli(), ["score", str(tmp_path / "missing"), "--judge", "openai:x"])
    assert r.exit_code == 2


def pandalm_responder(messages, request):
    text = messages[-1]["content"]
    r1 = text.split("### Response 1:\n")[1].split("\n\n### Response 2:")[0]
    r2 = text.split("### Response 2:\n")[1].split("\n\n### Evaluation:")[0]
    if "garble" in (r1, r2):
        return "I cannot decide"
    if r1 == r2:
        return "Tie\n\n### Reason: same"
    if r1.startswith("LC") and r2.startswith("RAG"):
        return "1\n\n### Reason: r1"
    return "1\n\n### Reason: position bias" if r1.startswith("RAG-biased") else "2\n\n### Reason: r2"


def test_compare_two_runs(tmp_path):
    ids = (LOC, HALLU, COMP, REAS, FIN)
    a = write_run(tmp_path / "lc", dict(zip(ids, ("LC a", "LC b", "same", "LC d", "garble"))))
    b = write_run(tmp_path / "rag", dict(zip(ids, ("RAG a", "RAG b", "same", "RAG-biased d", "RAG e"))), runner="rag")
    with LoopbackServer(responder=pandalm_responder) as srv:
        out = tmp_path / "pairs.jsonl"
        r = CliRunner().invoke(cli(), ["compare", str(a), str(b), "--judge", "openai:j", "--judge-base-url",
                                       srv.base_url, "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert srv.request_count == 10  # 5 pairs × both orders
    pairs = {p["sample_id"]: p for p in map(json.loads, out.read_text().splitlines())}
    assert [pairs[s]["label"] for s in ids[:4]] == [1, 1, 0, 0]
    assert pairs[REAS]["conflict"] is True and pairs[FIN]["status"] == "unparsed"
    assert "conflict" in r.output and "all" in r.output


def test_compare_summary_numbers(tmp_path):
    from lara.judging.compare import bootstrap_ci, summarise
    from lara.judging.pairwise import OrderResult, combine

    o = lambda lab: OrderResult("ok", lab, "", "p")  # noqa: E731
    vs = [combine(o(1), o(1)), combine(o(1), o(1)), combine(o(2), o(2)), combine(o(1), o(2)),
          combine(OrderResult("error", None, None, "p", "x"), o(1))]
    row = summarise("loc", vs, n_boot=500)
    assert (row.n, row.wins, row.ties, row.losses, row.errors, row.conflicts) == (4, 2, 1, 1, 1, 1)
    assert row.win_rate == pytest.approx((2 + 0.5) / 4)
    assert row.ci_low <= row.win_rate <= row.ci_high
    assert bootstrap_ci([1.0] * 5) == (1.0, 1.0) and bootstrap_ci([]) is None


def test_judge_eval_prints_reference_and_judge_rows(tmp_path):
    items = [{"idx": i, "instruction": "Pick", "input": "", "response1": r1, "response2": r2,
              "annotator1": g, "annotator2": g, "annotator3": g}
             for i, (r1, r2, g) in enumerate([("LC x", "RAG y", 1), ("RAG y", "LC x", 2), ("same", "same", 0),
                                              ("LC z", "RAG-biased w", 1)])]
    (tmp_path / "testset-v1.json").write_text(json.dumps(items))
    (tmp_path / "pandalm-7b-testset-v1.json").write_text(
        json.dumps([{"idx": i, "pandalm_result": p} for i, p in enumerate([1, 1, 0, 1])]))
    with LoopbackServer(responder=pandalm_responder) as srv:
        r = CliRunner().invoke(cli(), ["judge-eval", "--data", str(tmp_path / "testset-v1.json"),
                                       "--judge", "openai:j", "--judge-base-url", srv.base_url])
        assert r.exit_code == 0, r.output
        assert srv.request_count == 8
    lines = {ln.split("│")[1].strip(): [c.strip() for c in ln.split("│")[2:-1]]
             for ln in r.output.splitlines() if ln.count("│") > 3}
    assert lines["PandaLM-7B (released)"][1] == "0.7500"  # accuracy 3/4
    # loopback judge: right on items 0-2, position-biased on item 3 → tie, conflict 1/4
    assert lines["openai:j"][1] == "0.7500" and lines["openai:j"][4] == "0.2500"


def test_score_uses_the_latest_attempt_and_the_engine_scoring_path(tmp_path):
    """A retried sample is scored once (its latest record), a length-skipped sample stays skipped and a
    failed run stays an error: neither reaches the judge, exactly as in ``lara run``."""
    from lara.types import ErrorInfo

    run = tmp_path / "run1"
    run.mkdir()
    sample = lambda sid: Sample(sid, f"Question {sid}?", ("Paris",), metadata={"category": "location"})  # noqa: E731
    common = dict(spec_hash="abc", task="lara", task_version="1", runner="long_context", runner_params={},
                  model="replay:m", backend="replay", model_id="m", generation={}, scores=[], primary=None,
                  started_at=utc_now(), latency_s=0.0)
    recs = [
        build_record(run_id="run1", sample=sample("q1"), output=None, attempt=1,
                     error=ErrorInfo("BackendError", "HTTP 500", 3, "server_error"), **common),
        build_record(run_id="run1", sample=sample("q2"), output=RunOutput(answer=None, skipped="context_too_long"),
                     error=None, **common),
        build_record(run_id="run1", sample=sample("q3"), output=None,
                     error=ErrorInfo("BackendError", "HTTP 500", 3, "server_error"), **common),
        build_record(run_id="run1", sample=sample("q1"), output=RunOutput(answer="Paris"), error=None, attempt=2, **common),
    ]
    (run / "samples.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in recs))
    with LoopbackServer(responder=binary_responder) as srv:
        r = CliRunner().invoke(cli(), ["score", str(run), "--judge", "openai:judge-m", "--judge-base-url", srv.base_url])
        assert r.exit_code == 0, r.output
        assert srv.request_count == 1  # only q1's second attempt is judged
    out = [json.loads(x) for x in (run / "samples.scored-lara_judge-openai-judge-m.jsonl").read_text().splitlines()]
    assert [(x["sample_id"], x["attempt"], x["score_status"]) for x in out] == [
        ("q1", 2, "ok"), ("q2", 1, "skipped"), ("q3", 1, None)]
    assert out[0]["score"] == 1.0 and out[1]["scores"]["lara_judge"]["explanation"] == "context_too_long"
    assert out[2]["error"]["message"] == "HTTP 500" and out[2]["scores"] == {}
    assert "3 samples: judged 1, unparsed 0, error 1, skipped 1" in r.output


def test_rescore_equals_the_score_of_the_run(tmp_path):
    """``lara run`` and ``lara score`` score a sample by the same code: re-scoring a run with its own
    scorer reproduces every score."""
    from lara.cli import main

    assert main(["run", "--task", "synthetic", "--runner", "lc", "--model", "mock", "-M", "answer=Not mentioned.",
                 "-n", "8", "--scorer", "synthetic_exact", "-o", str(tmp_path / "res"), "--no-cache"]) == 0
    (run,) = [p for p in (tmp_path / "res").iterdir() if p.is_dir()]
    assert main(["score", str(run), "--scorer", "synthetic_exact"]) == 0
    before = {x["sample_id"]: x for x in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}
    after = {x["sample_id"]: x for x in map(json.loads, (run / "samples.scored-synthetic_exact.jsonl").read_text().splitlines())}
    assert before.keys() == after.keys() and len(before) == 8
    for sid, rec in before.items():
        assert after[sid]["scores"] == rec["scores"] and after[sid]["score"] == rec["score"]
    assert {x["score"] for x in before.values()} == {0.0, 1.0}  # the fixture exercises both outcomes
