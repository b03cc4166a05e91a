"""`lara serve mock` / `python -m lara.testing.openai_server` in the foreground: prints its URL,
serves the OpenAI path for a real `lara run`, fails requests at --fail-rate (retried by lara),
and stops on Ctrl-C (SIGINT) or SIGTERM with status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lara.cli import main
from lara.results.collect import collect
from lara.testing.openai_server import LoopbackServer, build_server, fail_rate_faults

pytestmark = pytest.mark.needs('bm25s')

ROOT = Path(__file__).resolve().parents[2]


def start(args: list[str]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), (url, proc.stderr.read() if proc.poll() else "")
    return proc, url


def stop(proc: subprocess.Popen, sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_mock_then_lara_run_against_it(tmp_path: Path) -> None:
    proc, url = start([sys.executable, "-m", "lara.cli", "serve", "mock", "--port", "0"])
    try:
        assert httpx.get(url.replace("/v1", "/health"), timeout=10).json() == {"status": "ok"}
        assert main(["run", "--model", "openai:x", "--base-url", url, "-n", "5", "-o", str(tmp_path),
                     "--format", "md"]) == 0
    finally:
        code = stop(proc, signal.SIGINT)
    assert code == 0
    recs = collect([tmp_path]).records
    assert len(recs) == 10 and all(r.error is None for r in recs)
    # the default mock reads the synthetic facts in the prompt, so LC answers are right
    assert all(r.outcome == "correct" for r in recs if r.runner_label == "lc")


def test_python_module_entry_point_serves_and_stops_on_sigterm() -> None:
    proc, url = start([sys.executable, "-m", "lara.testing.openai_server", "--port", "0", "--latency-ms", "5"])
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": "say something"}]}
        reply = httpx.post(url + "/chat/completions", json=body, timeout=10).json()
        assert reply["choices"][0]["message"]["content"].startswith("echo:")
    finally:
        code = stop(proc, signal.SIGTERM)
    assert code == 0


def test_fail_rate_is_seeded_and_lara_retries_through_it(tmp_path: Path) -> None:
    plan = fail_rate_faults(0.3, seed=1)
    fails = [plan(i, {}) is not None for i in range(1000)]
    assert 0.25 < sum(fails) / 1000 < 0.35 and fails == [plan(i, {}) is not None for i in range(1000)]
    server = build_server(port=0, fail_rate=0.3, seed=1)
    with server:
        assert main(["run", "--model", "openai:x", "--base-url", server.base_url, "-n", "6", "-M", "backoff_base_s=0.01",
                     "-o", str(tmp_path), "--format", "md"]) == 0
        assert "status" in server.faults_served  # some requests failed with 503 ...
    assert all(r.error is None for r in collect([tmp_path]).records)  # ... and were retried


def test_bad_options_and_a_busy_port_fail_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["serve", "mock", "--fail-rate", "2"]) == 2
    assert "fail rate must be between 0 and 1" in capsys.readouterr().err
    assert main(["serve", "mock", "--answers", str(tmp_path / "missing.jsonl")]) == 2
    assert "--answers: no such file" in capsys.readouterr().err
    with LoopbackServer() as busy:
        assert main(["serve", "mock", "--port", str(busy.port)]) == 2
        assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", [["serve", "mock", "--help"], ["run", "--help"]])
def test_help_mentions_the_offline_path(cmd: list[str], capsys) -> None:
    assert main(cmd) == 0
    assert "openai" in capsys.readouterr().out
