"""`lara crossover` against the loopback server in length-sensitive mode: the server answers right
below ~16k prompt words and wrong above, so LC fails at 32k while RAG's short prompts keep working;
the crossover must come out at 32k (hallucination: never, both refuse correctly). `lara report`
then carries the same section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.cli import main
from lara.testing.openai_server import LoopbackServer
from lara.testing.readers import LengthSensitiveReader

pytestmark = pytest.mark.needs('bm25s', 'matplotlib')


@pytest.fixture(scope="module")
def server():
    with LoopbackServer(responder=LengthSensitiveReader(midpoint_words=16_000, steepness=8)) as srv:
        yield srv


def test_crossover_length_is_the_one_the_server_was_set_up_to_produce(server, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    args = ["crossover", "--model", "openai:x", "--base-url", server.base_url, "--lengths", "2k,8k,32k",
            "--n-docs", "8", "-o", str(out)]
    assert main([*args, "--format", "json"]) == 0
    captured = capsys.readouterr()
    curves = {c["category"]: c for c in json.loads(captured.out)}
    assert curves["all"]["crossover"] == "32k"
    for cat in ("location", "reasoning", "comparison"):
        assert curves[cat]["crossover"] == "32k", cat
        lc = [p["lc_acc"] for p in curves[cat]["points"]]
        assert lc[0] == 1.0 and lc[-1] == 0.0
    assert curves["hallucination"]["crossover"] is None
    assert (out / "crossover-openai-x.png").read_bytes()[:4] == b"\x89PNG"
    # a rerun resumes: no new request reaches the server, same answer
    before = server.request_count
    assert main([*args, "--format", "md"]) == 0
    assert server.request_count == before
    assert "all: 32k (RAG significantly better from 32k on" in capsys.readouterr().out

    report = tmp_path / "report"
    assert main(["report", str(out), "-o", str(report), "--no-plots"]) == 0
    page = (report / "index.html").read_text(encoding="utf-8")
    assert '<section id="crossover">' in page and 'href="#crossover"' in page and "32k" in page


@pytest.mark.parametrize("args, message", [
    (["--lengths", "2k"], "at least two lengths"),
    (["--runner", "lc"], "exactly two runners"),
    (["--runner", "rag,rag-lara"], "one long-context and one RAG runner"),
    (["--lengths", "2k,abc"], "--lengths"),
])
def test_bad_options_fail_before_any_call(server, tmp_path: Path, capsys, args: list[str], message: str) -> None:
    before = server.request_count
    assert main(["crossover", "--model", "openai:x", "--base-url", server.base_url, "-o", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert server.request_count == before
