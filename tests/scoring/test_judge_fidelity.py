"""benchmarks/judge_fidelity.py: folder -> paper-row map as data, --models, clear errors, and failed
predictions counted exactly as ``lara run`` counts them (checked against the real engine)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest

from lara.config import RunSpec
from lara.engine import run as engine_run
from lara.errors import ConfigError, DataError
from lara.results.lara_table import TableRow
from lara.results.record import Record
from lara.testing.fixtures import fixture_samples, write_predictions

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "judge_fidelity.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("judge_fidelity_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


# (sample id, "full"|"rag") -> recorded prediction; False = failed API call; absent = no row
ANSWERS_A = {
    ("32k_book_location_0", "full"): "Hartman signed it.", ("32k_book_location_0", "rag"): "Gordon.",
    ("32k_book_location_1", "full"): False, ("32k_book_location_1", "rag"): "Hartman.",
    ("32k_book_comp_0", "full"): "They differ in tone.", ("32k_book_comp_0", "rag"): False,
    ("32k_book_hallu_0", "full"): "The text does not mention it.", ("32k_book_hallu_0", "rag"): "Size 9.",
    ("32k_financial_location_0", "full"): "$5.",  # no RAG row: a missing prediction
    ("32k_paper_reasoning_0", "full"): "Beta.", ("32k_paper_reasoning_0", "rag"): "Beta is said.",
}
ANSWERS_B = {key: ("I do not know." if value is not False else False) for key, value in ANSWERS_A.items()}

TABLE = """model,group,length,setting,location,reasoning,comparison,hallucination,overall
Model-A,open,32k,LC,70.00,60.00,50.00,40.00,55.00
Model-A,open,32k,RAG,60.00,70.00,40.00,50.00,55.00
Model-B,open,32k,LC,50.00,40.00,30.00,20.00,35.00
Model-B,open,32k,RAG,40.00,50.00,20.00,30.00,35.00
"""
MAP = """models:
  model-a: Model-A
  model-b: Model-B
  gpt-4o-0806: null
  renamed: Not-A-Row
"""


@pytest.fixture()
def data(tmp_path: Path) -> tuple[Path, Path]:
    """A shared-data folder: the mini LaRA tree, four prediction folders, a paper table and a map."""
    lara = tmp_path / "data" / "lara"
    samples = fixture_samples(lara)  # writes lara/datasets in the upstream layout
    preds = lara / "predictions"
    write_predictions(preds / "model-a", samples, ANSWERS_A, file_model="model-a")
    write_predictions(preds / "model-b", samples, ANSWERS_B, file_model="model-b")
    write_predictions(preds / "gpt-4o-0806", samples, ANSWERS_A, file_model="gpt-4o-mini")
    write_predictions(preds / "renamed", samples, ANSWERS_A)
    write_predictions(preds / "unlisted", samples, ANSWERS_A)
    (lara / "paper_main_table.csv").write_text(TABLE, encoding="utf-8")
    (tmp_path / "map.yaml").write_text(MAP, encoding="utf-8")
    return tmp_path / "data", tmp_path / "map.yaml"


def test_shipped_map_pairs_folders_with_table_rows(bench) -> None:
    mapping = bench.load_model_map()
    assert mapping["llama-3.1-8b"] == "Llama-3.1-8B-Instruct"
    assert mapping["gpt-4o-mini"] == "GPT-4o-mini"
    assert mapping["llama-3.3-70b-turbo"] == "Llama-3.3-70B-Instruct-Q8"
    assert len([v for v in mapping.values() if v]) == 8
    # explicitly not compared: not rows of the table
    assert "gpt-4o-0806" in mapping and mapping["gpt-4o-0806"] is None
    assert "claude-3-5-haiku-20241022" in mapping and mapping["claude-3-5-haiku-20241022"] is None


def test_every_mapped_folder_is_compared_and_the_rest_named_in_one_warning(bench, data, caplog) -> None:
    root, map_path = data
    with caplog.at_level(logging.WARNING):
        figures, _ = bench.run(root, paper_models=map_path)
    assert figures["judge_fidelity_models"] == "model-a model-b"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "gpt-4o-0806" in warnings[0] and "renamed (row 'Not-A-Row' not in the table)" in warnings[0]
    assert "unlisted (not in map.yaml)" in warnings[0]
    # 2 models x 4 tasks, less comparison (both models' only RAG comparison answer failed: no winner)
    assert figures["cells"] == 4 and figures["winner_cells"] == 6


def test_models_restricts_and_bad_selections_fail_clearly(bench, data) -> None:
    root, map_path = data
    figures, rows = bench.run(root, models=["model-a"], paper_models=map_path)
    assert figures["judge_fidelity_models"] == "model-a" and {r.model for r in rows} == {"model-a"}
    assert figures["judge_fidelity_records"] == 12  # 6 samples x 2 modes
    with pytest.raises(ConfigError, match="no prediction folder 'nope'"):
        bench.run(root, models=["model-a", "nope"], paper_models=map_path)
    with pytest.raises(DataError, match="no prediction folder maps to a row"):
        bench.run(root, models=["gpt-4o-0806", "unlisted"], paper_models=map_path)


def test_main_prints_figures_and_exits_2_when_nothing_matches(bench, data, capsys) -> None:
    root, map_path = data
    args = ["--data", str(root), "--paper-models", str(map_path)]
    assert bench.main([*args, "--models", "model-a,model-b"]) == 0
    out = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    for key in ("pearson_min", "winner_agreement", "winner_agreement_clear", "failed_predictions"):
        assert key in out
    assert out["failed_predictions"] == "4" and out["missing_predictions"] == "2"
    assert bench.main([*args, "--models", "gpt-4o-0806"]) == 2
    assert "no prediction folder maps to a row" in capsys.readouterr().err


def test_failed_and_missing_predictions_count_as_lara_run_counts_them(bench, data, tmp_path) -> None:
    """Outcome and score of every (sample, mode) equal those of ``lara run`` with the replay backend."""
    root, _ = data
    lara = root / "lara"
    records, errors = bench.score_predictions(lara, ["model-a"])
    ours = {(r["sample_id"], r["runner"]): Record.from_dict(r) for r in records}
    assert errors == {"upstream_failure": 2, "missing": 1}
    runner_params = {"long_context": {}, "rag": {"retriever": "bm25", "chunk_size": 600, "chunk_overlap": 100, "k": 5}}
    engine: dict[tuple[str, str], Record] = {}
    for runner, params in runner_params.items():
        spec = RunSpec(task="lara", runner=runner, model=f"replay:{lara / 'predictions' / 'model-a'}",
                       task_params={"data_dir": str(lara), "lengths": ["32k"]}, runner_params=params,
                       scorer="lexical")
        result = engine_run(spec, output_root=tmp_path / "results", use_cache=False)
        for line in (result.run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines():
            rec = Record.from_dict(json.loads(line))
            engine[(rec.sample_id, runner)] = rec
    assert set(engine) == set(ours) and len(ours) == 12
    for key, rec in engine.items():
        assert (ours[key].outcome, ours[key].score, ours[key].category) == (rec.outcome, rec.score, rec.category), key
        assert (ours[key].error or {}).get("kind") == (rec.error or {}).get("kind"), key
    failed = ours[("32k_book_location_1", "long_context")]
    assert failed.outcome == "error" and failed.error["kind"] == "upstream_failure"
    assert ours[("32k_financial_location_0", "rag")].error["kind"] == "missing"
    assert {r.outcome for r in ours.values()} >= {"correct", "incorrect", "error"}


def test_verbose_names_each_cell_whose_winner_differs(bench, caplog) -> None:
    """judge_fidelity -v: one line per disagreeing cell, saying whether it is a clear one."""
    def row(model, mode, loc):
        return TableRow(model, "32k", mode, loc, 50.0, 50.0, 50.0, None)

    paper = [row("P", "LC", 70.0), row("P", "RAG", 60.0)]
    ours = [row("m", "LC", 55.0), row("m", "RAG", 60.0)]
    with caplog.at_level("INFO", logger="judge_fidelity"):
        bench.compare(ours, paper, {"m": "P"})
    lines = [r.getMessage() for r in caplog.records if "winner differs" in r.getMessage()]
    assert "winner differs (clear cell): P 32k location: paper LC-RAG +10.00, ours -5.00" in lines
    assert len(lines) == 4  # the three tied tasks differ too (no winner), none of them clear
    assert sum("clear cell" in line for line in lines) == 1


def test_winner_agreement_clear_counts_only_clear_paper_gaps(bench) -> None:
    def row(model, mode, loc, reas):
        return TableRow(model, "32k", mode, loc, reas, 50.0, 50.0, None)

    paper = [row("P", "LC", 70.0, 51.0), row("P", "RAG", 60.0, 50.0)]  # gaps: +10 (clear), +1 (not clear)
    ours = [row("m", "LC", 65.0, 40.0), row("m", "RAG", 60.0, 45.0)]  # +5 agrees, -5 disagrees
    figures = bench.compare(ours, paper, {"m": "P"})
    # comparison and hallucination gaps are 0 in both: no winner, counted as disagreement, not clear
    assert figures["winner_cells"] == 4 and figures["winner_agreement"] == pytest.approx(1 / 4)
    assert figures["winner_cells_clear"] == 1 and figures["winner_agreement_clear"] == 1.0
    with pytest.raises(DataError):
        bench.compare(ours, paper, {"other": "P"})


def test_benchmark_split_halves_are_disjoint_and_complete(bench, tmp_path) -> None:
    """judge_fidelity --split: dev = even positions of the sorted model folders, heldout = odd."""
    for name in ("d-model", "a-model", "c-model", "b-model", "e-model"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("not a model folder")
    names = lambda split: [p.name for p in bench.split_folders(tmp_path, split)]  # noqa: E731
    assert names("dev") == ["a-model", "c-model", "e-model"]
    assert names("heldout") == ["b-model", "d-model"]
    assert sorted(names("dev") + names("heldout")) == names("all")
    with pytest.raises(ValueError):
        bench.split_folders(tmp_path, "test")
