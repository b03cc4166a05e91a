"""`lara export-batch` / `lara import-batch`: a batch run by hand (the file goes through vLLM's
run_batch on a GPU box; here a stand-in writes run_batch's output format), over several rounds for
a multi-call runner, with per-line failures as error records and bad inputs as clear errors."""

from __future__ import annotations

import json

from lara.cli import main
from lara.results.store import read_records
from lara.testing.batch_api import answer_batch_file
from lara.testing.responders import iterdrag_responder


def write_spec(path, runner: str, model: str = "openai-batch:Qwen/Qwen2.5-7B-Instruct") -> None:
    path.write_text(f"task: synthetic\nrunner: {runner}\nmodel: {model}\nlimit: 6\n"
                    "task_params: {lengths: [100], n_docs: 2}\n"
                    "runner_params: {tokenizer: words, chunk_size: 40, chunk_overlap: 0, k: 1, n: 2}\n"
                    "model_params: {base_url: 'http://127.0.0.1:9/v1'}\n")


def test_export_run_batch_import_over_rounds(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    write_spec(spec, "iterdrag")
    req = tmp_path / "requests.jsonl"
    assert main(["export-batch", str(spec), "-o", str(req), "--output", str(tmp_path / "results")]) == 0
    (run_dir,) = (tmp_path / "results").iterdir()
    lines = [json.loads(x) for x in req.read_text().splitlines()]
    assert len(lines) == 6 and {x["url"] for x in lines} == {"/v1/chat/completions"}
    assert {x["body"]["model"] for x in lines} == {"Qwen/Qwen2.5-7B-Instruct"}
    assert "lara import-batch" in capsys.readouterr().out
    assert not list(read_records(run_dir))
    rounds = 0
    while True:
        rounds += 1
        out = tmp_path / f"results-{rounds}.jsonl"
        answer_batch_file(req, out, iterdrag_responder, fail=lambda i, body: 500 if rounds == 1 and i == 0 else None)
        req = tmp_path / f"next-{rounds}.jsonl"
        assert main(["import-batch", str(run_dir), str(out), "--next", str(req)]) == 0
        if not req.exists():
            break
        assert rounds < 5
    records = list(read_records(run_dir))
    assert len(records) == 6 and rounds >= 2  # a follow-up and its answer take more than one round
    errors = [r for r in records if r["error"]]
    assert len(errors) == 1 and errors[0]["error"]["kind"] == "http_500"
    assert all(r["answer"] == "1234" for r in records if not r["error"])
    assert all(r["backend"] == "openai-batch" for r in records)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n_records"] == 6 and summary["errors"] == 1
    # everything answered: nothing more to export
    capsys.readouterr()
    assert main(["export-batch", str(run_dir), "-o", str(tmp_path / "none.jsonl")]) == 0
    assert "nothing left to export" in capsys.readouterr().out and not (tmp_path / "none.jsonl").exists()


def test_bad_runspecs_are_clear(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    write_spec(spec, "iterdrag", model="openai:gpt-4o-mini")
    assert main(["export-batch", str(spec), "-o", str(tmp_path / "r.jsonl"), "--output", str(tmp_path / "o")]) == 2
    assert "not a batch model" in capsys.readouterr().err
    spec.write_text("task: synthetic\nrunner: lc\n")
    assert main(["export-batch", str(spec), "-o", str(tmp_path / "r.jsonl")]) == 2
    assert "needs at least task, runner and model" in capsys.readouterr().err
    assert main(["import-batch", str(tmp_path / "missing"), str(spec)]) == 2
    assert "no such run folder" in capsys.readouterr().err
