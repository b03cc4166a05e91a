"""`openai-batch:<model>` against the loopback server's Files and Batches endpoints, through the real
openai client: one batch per round, answers by custom_id, per-line errors and an expired batch as
error records, multi-call runners in rounds, and a SIGKILLed run that resumes polling its batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lara.cli import main
from lara.config import resolve_spec
from lara.engine import run
from lara.results.store import read_records
from lara.testing.batch_api import BatchBehaviour
from lara.testing.openai_server import LoopbackServer
from lara.testing.responders import iterdrag_responder

SYNTH = {"lengths": [100], "n_docs": 5}  # 20 samples


def spec_for(srv: LoopbackServer, runner: str = "lc", **model: object):
    return resolve_spec("synthetic", runner, "openai-batch:gpt-4o-mini", task_params=SYNTH,
                        model_params={"base_url": srv.base_url, "poll_s": 0.02, "max_poll_s": 0.1, **model},
                        runner_params={"tokenizer": "words", **({"chunk_size": 40, "chunk_overlap": 0} if runner != "lc" else {})})


def test_a_run_goes_through_one_batch_and_reruns_pay_nothing(tmp_path):
    with LoopbackServer(batches=BatchBehaviour(process_s=0.1)) as srv:
        res = run(spec_for(srv), output_root=tmp_path)
        stats = srv.stats()
        assert stats["request_count"] == 0  # nothing went through chat completions
        assert stats["batches_created"] == 1 and stats["files_uploaded"] == 1
        assert res.summary["n_records"] == 20 and res.summary["errors"] == 0
        assert res.summary["model_calls_this_invocation"] == stats["batch_lines"] == 20
        records = list(read_records(res.run_dir))
        assert {r["backend"] for r in records} == {"openai-batch"}  # cost views apply the batch discount
        assert all(r["answer"].startswith("echo:") for r in records)
        state = json.loads((res.run_dir / "batches.json").read_text())
        (batch,) = state["batches"]
        assert batch["status"] == "completed" and batch["consumed"] and len(batch["custom_ids"]) == 20
        again = run(spec_for(srv), output_root=tmp_path)
        assert again.records_written == 0 and srv.stats()["batches_created"] == 1
        # a fresh folder: every answer comes from the response cache, no batch
        fresh = run(spec_for(srv), output_root=tmp_path / "fresh")
        assert fresh.summary["n_records"] == 20 and srv.stats()["batches_created"] == 1
        assert fresh.summary["cache_hits_this_invocation"] == 20


def test_per_line_errors_and_retry_errors_send_only_those_again(tmp_path):
    broken = {3: 500, 5: 400}
    behaviour = BatchBehaviour(line_status=lambda i, body: broken.get(i))
    with LoopbackServer(batches=behaviour) as srv:
        res = run(spec_for(srv), output_root=tmp_path, use_cache=False)
        records = {r["sample_id"]: r for r in read_records(res.run_dir)}
        errors = [r for r in records.values() if r["error"]]
        assert len(records) == 20 and sorted(e["error"]["kind"] for e in errors) == ["http_400", "http_500"]
        assert all("injected line fault" in e["error"]["message"] for e in errors)
        broken.clear()
        retried = run(spec_for(srv), output_root=tmp_path, use_cache=False, retry_errors=True)
        assert srv.stats()["batches_created"] == 2 and srv.stats()["batch_lines"] == 20 + 2  # only the 2 again
        assert retried.summary["errors"] == 0 and retried.records_written == 2


def test_an_expired_batch_fails_only_its_unanswered_requests(tmp_path):
    with LoopbackServer(batches=BatchBehaviour(expire_after=12)) as srv:
        res = run(spec_for(srv), output_root=tmp_path, use_cache=False)
    records = list(read_records(res.run_dir))
    expired = [r for r in records if r["error"]]
    assert len(records) == 20 and len(expired) == 8
    assert {r["error"]["kind"] for r in expired} == {"batch_expired"}
    state = json.loads((res.run_dir / "batches.json").read_text())
    assert state["batches"][0]["status"] == "expired"


def test_multi_call_runner_takes_one_batch_per_round(tmp_path):
    with LoopbackServer(responder=iterdrag_responder) as srv:
        spec = resolve_spec("synthetic", "iterdrag", "openai-batch:gpt-4o-mini", task_params=SYNTH, limit=6,
                            model_params={"base_url": srv.base_url, "poll_s": 0.02},
                            runner_params={"tokenizer": "words", "chunk_size": 40, "chunk_overlap": 0, "k": 1, "n": 2})
        res = run(spec, output_root=tmp_path)
        stats = srv.stats()
    records = list(read_records(res.run_dir))
    assert len(records) == 6 and res.summary["errors"] == 0
    calls = sum(r["n_calls"] for r in records)
    assert stats["batches_created"] == max(r["n_calls"] for r in records) >= 2  # one batch per call depth
    assert res.summary["model_calls_this_invocation"] == stats["batch_lines"] <= calls


def _wait_for(pred, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.parametrize("lose_id", [False, True])
def test_sigkill_while_polling_resumes_the_same_batch(tmp_path, lose_id):
    """Killed while polling: the rerun polls the batch in batches.json. With ``lose_id`` the state
    is as if the kill came between creating the batch and saving its id: the rerun finds the batch
    by its input file instead of creating a second one."""
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "LARA_CACHE_DIR": str(tmp_path / "cache")}
    with LoopbackServer(batches=BatchBehaviour(process_s=4.0)) as srv:
        args = [sys.executable, "-m", "lara", "run", "--model", "openai-batch:gpt-4o-mini", "--base-url", srv.base_url,
                "-n", "20", "--runner", "lc", "-T", "lengths=[100]", "-T", "n_docs=5", "-R", "tokenizer=words",
                "-M", "poll_s=0.05", "-o", str(out), "--format", "json"]
        first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: list(out.glob("*/batches.json")) and
                      "id" in json.loads(next(out.glob("*/batches.json")).read_text())["batches"][0])
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait()
        assert srv.stats()["batches_created"] == 1 and not list(out.glob("*/batch-results.jsonl"))
        if lose_id:
            state_file = next(out.glob("*/batches.json"))
            state = json.loads(state_file.read_text())
            del state["batches"][0]["id"]
            state_file.write_text(json.dumps(state))
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        stats = srv.stats()
    assert stats["batches_created"] == 1 and stats["files_uploaded"] == 1 and stats["batch_lines"] == 20
    (run_dir,) = [p.parent for p in out.glob("*/samples.jsonl")]
    assert len(list(read_records(run_dir))) == 20


def test_bad_batch_options_are_clear(capsys):
    assert main(["run", "--model", "openai-batch:gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1",
                 "-M", "poll_s=0", "-n", "1", "--runner", "lc"]) == 2
    assert "poll_s" in capsys.readouterr().err


@pytest.mark.parametrize("line", ["{not json", '{"response": {}}'])
def test_import_rejects_malformed_results(tmp_path, line, capsys):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("task: synthetic\nrunner: lc\nmodel: openai-batch:m\nlimit: 2\n"
                         "task_params: {lengths: [100], n_docs: 1}\nrunner_params: {tokenizer: words}\n"
                         "model_params: {base_url: 'http://127.0.0.1:9/v1'}\n")
    assert main(["export-batch", str(spec_file), "-o", str(tmp_path / "req.jsonl"), "--output", str(tmp_path / "r")]) == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    bad = tmp_path / "results.jsonl"
    bad.write_text(line + "\n")
    assert main(["import-batch", str(run_dir), str(bad)]) == 2
    assert f"{bad}:1" in capsys.readouterr().err
