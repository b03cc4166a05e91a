"""The engine end to end against a real OpenAI-compatible server on 127.0.0.1.

Covers: each injected fault ends as a record (retried successes or error records, the run goes on),
the per-endpoint concurrency limit is never exceeded, a rerun makes 0 model calls, and a run killed
with SIGKILL resumes with no duplicate and no lost sample.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lara.config import resolve_spec
from lara.engine import run
from lara.testing.openai_server import Fault, LoopbackServer

FAST = {"max_retries": 2, "backoff_base_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 2.0}


def answer_from_prompt(messages, request):
    """Answers location questions right (reads the planted code back), others with a refusal."""
    import re

    text = messages[-1]["content"]
    q = text.rsplit("Question:", 1)[-1]
    m = re.search(r"access code for the (\w+) vault", q)
    if m:
        code = re.search(rf"access code for the {m.group(1)} vault is (\d+)", text)
        return f"The code is {code.group(1)}." if code else "It is not mentioned."
    return "It is not mentioned."


def spec_for(srv, n_docs=2, **task):
    return resolve_spec(
        "synthetic", "lc", "openai:loopback-model",
        task_params={"lengths": [200], "n_docs": n_docs, **task},
        model_params={"base_url": srv.base_url, **FAST},
        runner_params={"tokenizer": "words"},
    )


def records(run_dir: Path) -> list[dict]:
    return [json.loads(l) for l in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_scores_and_resume_without_calls(tmp_path):
    with LoopbackServer(responder=answer_from_prompt) as srv:
        spec = spec_for(srv)
        r1 = run(spec, output_root=tmp_path, max_connections=4)
        assert r1.summary["n_records"] == 8 and r1.summary["errors"] == 0
        recs = records(r1.run_dir)
        loc = [r for r in recs if r["category"] == "location"]
        assert all(r["score"] == 1.0 for r in loc)
        assert all(r["input_tokens"] > 0 and r["n_calls"] == 1 for r in recs)
        calls = srv.request_count
        r2 = run(spec, output_root=tmp_path, max_connections=4)
        assert srv.request_count == calls  # a finished run makes 0 model calls
        assert r2.records_written == 0 and len(records(r2.run_dir)) == 8
        # a changed spec never mixes into the old run
        r3 = run(spec_for(srv, seed=5), output_root=tmp_path, max_connections=4, use_cache=False)
        assert r3.run_dir != r1.run_dir


@pytest.mark.parametrize(
    "faults, expect_error",
    [
        ([Fault.rate_limit(0.05)], False),
        ([Fault.server_error(500)], False),
        ([Fault.hang(5.0)], False),
        ([Fault.garbage()], True),
        ([Fault.server_error(503)] * 20, True),
    ],
    ids=["429-retry-after", "500", "timeout", "garbage", "retries-exhausted"],
)
def test_faults_become_records(tmp_path, faults, expect_error):
    with LoopbackServer(responder=answer_from_prompt, faults=faults) as srv:
        result = run(spec_for(srv, n_docs=1), output_root=tmp_path, max_connections=1, use_cache=False)
    recs = records(result.run_dir)
    assert len(recs) == 4 and len({r["sample_id"] for r in recs}) == 4  # nothing dropped
    errors = [r for r in recs if r["error"]]
    assert result.summary["errors"] == len(errors)
    if expect_error:
        assert errors and all(e["error"]["type"] == "BackendError" for e in errors)
        assert all(e["score"] is None for e in errors)
    else:
        assert not errors


def test_concurrency_limit_is_never_exceeded(tmp_path):
    with LoopbackServer(responder=answer_from_prompt, latency_s=0.05) as srv:
        run(spec_for(srv, n_docs=8), output_root=tmp_path, max_connections=3, use_cache=False)
        assert srv.request_count == 32
        assert srv.max_in_flight == 3


def test_sigkill_mid_run_then_resume(tmp_path):
    out = tmp_path / "results"
    env = {**os.environ, "LARA_CACHE_DIR": str(tmp_path / "cache")}
    with LoopbackServer(responder=answer_from_prompt, latency_s=0.1) as srv:
        cmd = [sys.executable, "-m", "lara.cli", "run", "--model", "openai:loopback-model",
               "--base-url", srv.base_url, "--runner", "lc", "--max-connections", "2", "-o", str(out),
               "-T", "lengths=[200]", "-T", "n_docs=10", "-R", "tokenizer=words"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        samples = None
        while time.time() < deadline:
            found = list(out.glob("*/samples.jsonl"))
            if found and len(found[0].read_bytes().splitlines()) >= 8:
                samples = found[0]
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert samples is not None, "run did not start writing"
        before = [json.loads(l)["sample_id"] for l in samples.read_text().splitlines() if l.endswith("}")]
        assert 8 <= len(before) < 40
        calls_before = srv.request_count
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ids = [json.loads(l)["sample_id"] for l in samples.read_text().splitlines()]
    assert len(ids) == 40 and len(set(ids)) == 40  # no duplicate and no lost sample
    assert set(before) <= set(ids)
    # the resumed run only asked for what was missing (in-flight ones at kill time may repeat once)
    assert srv.request_count - calls_before <= 40 - len(before) + 2
