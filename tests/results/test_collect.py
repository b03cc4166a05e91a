"""No silent pooling: latest record per sample, newest run wins when runs overlap, --combine pools,
sweeps are left out; the smoke-then-full workflow counts each question once."""

from __future__ import annotations

import json
from pathlib import Path

from lara.cli import main
from lara.config import resolve_spec
from lara.engine import run
from lara.results.collect import collect
from lara.results.leaderboard import aggregate


def test_smoke_run_then_full_run_counts_each_sample_once(tmp_path: Path, capsys) -> None:
    res = tmp_path / "results"
    for n in (["-n", "2"], []):
        assert main(["run", "--model", "mock", "-M", "answer=x", "-r", "lc,no-context", "-o", str(res), *n]) == 0
    capsys.readouterr()
    got = collect([res])
    rows = aggregate(got.records, ("runner",))
    assert {r.key[0]: r.n for r in rows} == {"lc": 16, "no-context": 16}  # the task has 16 questions
    assert len(got.warnings) == 2 and "share sample ids" in got.warnings[0]
    pooled = collect([res], combine=True)
    assert {r.key[0]: r.n for r in aggregate(pooled.records, ("runner",))} == {"lc": 18, "no-context": 18}
    assert main(["leaderboard", str(res), "--format", "json", "--by", "runner"]) == 0
    out = capsys.readouterr()
    assert [row["n"] for row in json.loads(out.out)] == [16, 16]
    assert "warning: runs of synthetic/lc/mock share sample ids" in out.err


def test_latest_attempt_wins_within_a_run(tmp_path: Path) -> None:
    spec = resolve_spec("synthetic", "lc", "mock", limit=2)
    r = run(spec, output_root=tmp_path)
    path = r.run_dir / "samples.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    retry = dict(lines[0], attempt=2, score=1.0, score_status="ok")
    path.write_text(path.read_text() + json.dumps(retry) + "\n")
    recs = collect([tmp_path]).records
    assert len(recs) == 2 and {r.sample_id: r.attempt for r in recs}[retry["sample_id"]] == 2


def test_sweeps_are_left_out_unless_asked(tmp_path: Path) -> None:
    spec = resolve_spec("synthetic", "lc", "mock", limit=2)
    run(spec, output_root=tmp_path / "results")
    sweep = tmp_path / "results" / "sweeps" / "grid"
    run(resolve_spec("synthetic", "no-context", "mock", limit=2), output_root=sweep)
    (sweep / "sweep.json").write_text("{}")
    c = collect([tmp_path / "results"])
    assert {r.runner_label for r in c.records} == {"lc"} and c.sweeps == [sweep]
    assert {r.runner_label for r in collect([tmp_path / "results"], sweeps=True).records} == {"lc", "no-context"}
    assert {r.runner_label for r in collect([sweep]).records} == {"no-context"}  # asked for by path
