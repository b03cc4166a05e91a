"""Failures are visible and retryable: a digest names the errors, exit 3 flags a dead endpoint, and
--retry-errors re-runs exactly the failed samples while every view counts each sample once."""

from __future__ import annotations

import json
from pathlib import Path

from lara.cli import main
from lara.results.collect import collect
from lara.testing.openai_server import Fault, LoopbackServer

FAST = ["-M", "max_retries=0"]


def test_failed_samples_exit_3_and_retry_makes_exactly_the_failed_calls(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "res")
    with LoopbackServer(faults=[Fault.server_error()] * 3) as srv:
        base = ["run", "--model", "openai:m", "--base-url", srv.base_url, "-r", "lc", "-n", "4", "-o", out, *FAST]
        assert main(base) == 3
        err = capsys.readouterr().err
        assert srv.request_count == 4
        assert "errors 3" in err and "3× BackendError" in err and "server_error" in err
        assert main(base) == 3  # a plain rerun resumes: errors are records, 0 calls
        assert srv.request_count == 4
        assert main([*base, "--retry-errors"]) == 0
        assert srv.request_count == 7  # exactly the 3 failed samples again
    capsys.readouterr()
    lines = [json.loads(x) for x in next((tmp_path / "res").iterdir()).joinpath("samples.jsonl").read_text().splitlines()]
    assert len(lines) == 7 and sorted(r["attempt"] for r in lines) == [1, 1, 1, 1, 2, 2, 2]
    recs = collect([tmp_path / "res"]).records
    assert len(recs) == 4 and all(r.outcome != "error" for r in recs)
    assert main(["leaderboard", out, "--format", "json", "--by", "runner"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n"] == 4


def test_refused_connection_is_in_the_digest_and_exits_3(tmp_path: Path, capsys) -> None:
    code = main(["run", "--model", "openai:x", "--base-url", "http://127.0.0.1:9/v1", "-n", "2",
                 "-o", str(tmp_path / "res"), "-M", "max_retries=1", "-M", "backoff_base_s=0.01"])
    err = capsys.readouterr().err
    assert code == 3
    assert "errors 2" in err and "connection" in err and "127.0.0.1:9" in err
    assert "more than --max-error-rate" in err
