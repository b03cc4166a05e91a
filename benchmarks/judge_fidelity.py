"""How faithfully does the offline lexical scorer reproduce LaRA's GPT-4o-judged main table?

Scores the recorded predictions in ``<data>/lara/predictions`` the way ``lara run --task lara
--model replay:<folder> --scorer lexical`` would, aggregates LaRA-style (lara.results.lara_table) per
(model, length, mode, task) and compares with ``paper_main_table.csv``:

- ``pearson_<task>``: Pearson correlation across the (model, length, mode) cells of that task;
- ``winner_agreement``: share of (model, length, task) cells where the sign of LC − RAG agrees;
- ``winner_agreement_clear``: the same over the cells where the paper's |LC − RAG| >= 2 points (a
  smaller published gap is within the judge's own noise, so its sign says little).

Which folder is which table row is data: ``lara/data/lara_paper_models.yaml``. Every folder whose
model is a row of the table is compared; the others (null there, absent, or naming a row the table
lacks) are listed in one warning line. ``--models a,b`` restricts to those folders.

As in ``lara run``: samples come from the LaRA task's loader (references and categories as the
task emits them), each (sample, mode) is answered by the replay backend's recorded row
(:func:`lara.backends.replay.recorded_answer` is the shared rule), scored by the registered
``lexical`` scorer and written through the real record builder. A JSON ``false`` prediction (a failed
API call upstream) and a question with no recorded row are error records, as the replay backend makes
them: counted (``failed_predictions``, ``missing_predictions``), never scored as wrong, outside the
accuracy denominators. ``judge_fidelity_lexicon`` says whether the scorer had WordNet's synonyms
(``wordnet-3.0``, Debian's wordnet-base) or matched word keys only (``none``): figures differ.

Hold-out split (``--split dev|heldout|all``): the prediction folders sorted by name are split into
even positions (0, 2, ...: the DEVELOPMENT half, whose cases rule changes may be designed on) and
odd positions (the HELD-OUT half, not read while designing). Reporting each half separately shows
whether a rule change generalises beyond the models it was designed on. The split is by folder
position, not by table membership, so it stays fixed when table mappings change.

Usage: ``python benchmarks/judge_fidelity.py [--data /work/shared/data] [--models a,b] [--table]
[--split all]`` (data defaults to $LARA_SHARED_DATA, else ../shared/data next to the repository).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lara.errors import BackendError, ConfigError, DataError, LaraError  # noqa: E402
from lara.results.lara_table import TASKS, TableRow, aggregate, paper_table, render_markdown  # noqa: E402

log = logging.getLogger("judge_fidelity")

PAPER_MODELS = Path(__file__).resolve().parents[1] / "lara" / "data" / "lara_paper_models.yaml"
MODES = ("long_context", "rag")
SPLITS = ("all", "dev", "heldout")
CLEAR_POINTS = 2.0  # |LC − RAG| in the paper at or above which a cell's winner is "clear"


def default_data() -> Path:
    env = os.environ.get("LARA_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def split_folders(pred_root: Path, split: str = "all") -> list[Path]:
    """Prediction folders of one half: sorted by name, dev = even positions, heldout = odd."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folders = sorted(p for p in pred_root.iterdir() if p.is_dir())
    if split == "all":
        return folders
    return folders[0::2] if split == "dev" else folders[1::2]


def load_model_map(path: Path = PAPER_MODELS) -> dict[str, str | None]:
    """folder -> paper-table row (None: known, not in the table) from the YAML data file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read the folder -> paper row map: {exc}", where=str(path)) from exc
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in models.items()
    ):
        raise DataError("expected 'models:' mapping folder names to a table row or null", where=str(path))
    return dict(models)


@dataclass(frozen=True)
class Selection:
    """The folders compared (folder -> table row) and those left out (with why, one phrase each)."""

    compared: dict[str, str]
    unmapped: tuple[str, ...]


def select_models(
    folders: Sequence[str], mapping: Mapping[str, str | None], table_models: Iterable[str],
    models: Sequence[str] | None = None, map_path: Path = PAPER_MODELS,
) -> Selection:
    """Every folder whose mapped row is in the table, optionally restricted to ``models``.

    ``models`` naming a folder that does not exist is a ConfigError; nothing left to compare is a
    DataError (instead of a division by zero further on).
    """
    available = list(folders)
    if models:
        unknown = [m for m in models if m not in available]
        if unknown:
            raise ConfigError(f"--models: no prediction folder {', '.join(map(repr, unknown))}; "
                              f"available: {', '.join(available)}")
        available = [f for f in available if f in set(models)]
    table = set(table_models)
    compared: dict[str, str] = {}
    unmapped: list[str] = []
    for folder in available:
        row = mapping.get(folder)
        if row is not None and row in table:
            compared[folder] = row
        elif row is not None:
            unmapped.append(f"{folder} (row {row!r} not in the table)")
        else:
            unmapped.append(folder if folder in mapping else f"{folder} (not in {map_path.name})")
    if not compared:
        raise DataError(
            f"no prediction folder maps to a row of the paper table (not compared: {', '.join(unmapped) or 'none'}; "
            f"map: {map_path})"
        )
    return Selection(compared, tuple(unmapped))


def recorded_row(index: Mapping[tuple[str, str, str], list[Any]], sample: Any, mode: str) -> Any:
    """The replay backend's row for this sample and mode (its index, its (length, task, line) order).

    The sample's metadata names the document, which is what the replay backend resolves a duplicated
    question by; a missing row is the replay backend's ``missing`` error.
    """
    from lara.tasks.lara import FILE_TASK

    m = sample.metadata
    rows = [
        r for r in index.get((mode, m["context_type"], sample.question), ())
        if r.length == m["length"] and r.file == m["file"] and r.task == FILE_TASK[m["category"]]
    ]
    if not rows:
        raise BackendError(f"no recorded prediction for {mode} question {sample.question[:80]!r}", kind="missing")
    return rows[0]


async def _score_folder(folder: Path, samples: Sequence[Any], scorer: Any) -> list[dict[str, Any]]:
    from lara.backends.replay import ReplayBackend, recorded_answer
    from lara.results.record import build_record, utc_now
    from lara.types import ErrorInfo, RunOutput

    backend = ReplayBackend(model=str(folder))
    index = backend.index()
    out = []
    for mode in MODES:
        for sample in samples:
            output, error, scores = None, None, []
            try:
                output = RunOutput(answer=recorded_answer(recorded_row(index, sample, mode)))
            except BackendError as exc:  # as lara.engine turns a runner's exception into a record
                error = ErrorInfo(type(exc).__name__, str(exc), exc.retries, exc.kind)
            if output is not None:
                scores = [await scorer.score(sample, output)]
            out.append(build_record(
                run_id=f"judge-fidelity__{folder.name}__{mode}", spec_hash="", task="lara", task_version="1",
                sample=sample, runner=mode, strategy=mode, runner_params={}, model=f"replay:{folder.name}", backend="replay",
                model_id=folder.name, generation={}, output=output, scores=scores, primary=scorer.name,
                error=error, started_at=utc_now(), latency_s=0.0,
            ).to_dict())
    return out


def score_predictions(lara_root: Path, folders: Sequence[str]) -> tuple[list[dict[str, Any]], Counter]:
    """Records for every (sample, mode) of each folder, and the error records counted by kind."""
    from lara.registry import scorers
    from lara.tasks.lara import LaraTask

    samples = LaraTask(data_dir=str(lara_root)).samples()
    scorer = scorers.get("lexical")()
    records: list[dict[str, Any]] = []
    for name in folders:
        records += asyncio.run(_score_folder(lara_root / "predictions" / name, samples, scorer))
    errors = Counter(r["error"]["kind"] for r in records if r["error"])
    return records, errors


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


def compare(ours: Iterable[TableRow], paper: Iterable[TableRow], rows_of: Mapping[str, str]) -> dict[str, float]:
    """Pearson per task, winner agreement (all cells and clear cells), mean |difference|."""
    paper_by = {(r.model, r.length, r.mode): r for r in paper}
    mine = {}
    for r in ours:
        name = rows_of.get(r.model)
        if name and (name, r.length, r.mode) in paper_by:
            mine[(name, r.length, r.mode)] = r
    if not mine:
        raise DataError("no (model, length, mode) cell in common with the paper table")
    out: dict[str, float] = {"cells": len(mine)}
    for task in TASKS:
        keys = sorted(k for k in mine if mine[k].task(task) is not None)
        out[f"pearson_{task}"] = pearson([mine[k].task(task) for k in keys], [paper_by[k].task(task) for k in keys])
    per_task = [out[f"pearson_{t}"] for t in TASKS]
    out["pearson_min"] = float("nan") if any(math.isnan(p) for p in per_task) else min(per_task)
    agree = total = agree_clear = total_clear = 0
    for (name, length, mode) in mine:
        if mode != "LC" or (name, length, "RAG") not in mine:
            continue
        for task in TASKS:
            lc, rag = mine[(name, length, "LC")].task(task), mine[(name, length, "RAG")].task(task)
            if lc is None or rag is None:  # no judged sample in one mode: no winner to compare
                continue
            ours_gap = lc - rag
            paper_gap = paper_by[(name, length, "LC")].task(task) - paper_by[(name, length, "RAG")].task(task)
            same = (ours_gap > 0) == (paper_gap > 0) and ours_gap != 0
            total += 1
            agree += same
            clear = abs(paper_gap) >= CLEAR_POINTS
            if clear:
                total_clear += 1
                agree_clear += same
            if not same:
                log.info("winner differs%s: %s %s %s: paper LC-RAG %+.2f, ours %+.2f",
                         " (clear cell)" if clear else "", name, length, task, paper_gap, ours_gap)
    out["winner_cells"] = total
    out["winner_agreement"] = agree / total if total else float("nan")
    out["winner_cells_clear"] = total_clear
    out["winner_agreement_clear"] = agree_clear / total_clear if total_clear else float("nan")
    abs_err = [abs(mine[k].task(t) - paper_by[k].task(t)) for k in mine for t in TASKS if mine[k].task(t) is not None]
    out["mean_abs_diff_points"] = sum(abs_err) / len(abs_err)
    return out


def run(data: Path, split: str = "all", models: Sequence[str] | None = None,
        paper_models: Path = PAPER_MODELS) -> tuple[dict[str, Any], list[TableRow]]:
    """All figures of one invocation (and our table rows); raises LaraError for unusable input."""
    lara = data / "lara"
    if not (lara / "predictions").is_dir():
        raise DataError(f"no LaRA predictions under {lara} (set --data or LARA_SHARED_DATA)")
    paper = paper_table(lara / "paper_main_table.csv")
    folders = [p.name for p in split_folders(lara / "predictions", split)]
    if models:
        every = [p.name for p in split_folders(lara / "predictions", "all")]
        outside = [m for m in models if m in every and m not in folders]
        if outside:
            raise ConfigError(f"--models {', '.join(outside)} not in --split {split} ({', '.join(folders)})")
    selection = select_models(folders, load_model_map(paper_models), {r.model for r in paper}, models, paper_models)
    if selection.unmapped:
        log.warning("not in the paper table, not compared: %s", ", ".join(selection.unmapped))
    records, errors = score_predictions(lara, list(selection.compared))
    ours = aggregate(records)
    from lara.scoring.wordnet import lexicon_id

    figures: dict[str, Any] = {
        "judge_fidelity_split": split,
        "judge_fidelity_lexicon": lexicon_id(),  # the scorer's synonyms: wordnet-3.0, or none (keys only)
        "judge_fidelity_models": " ".join(selection.compared),
        "judge_fidelity_records": len(records),
        "failed_predictions": errors.get("upstream_failure", 0),
        "missing_predictions": errors.get("missing", 0),
        **compare(ours, paper, selection.compared),
    }
    return figures, ours


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data(), help="shared data folder (holds lara/)")
    ap.add_argument("--models", default="", help="comma-separated prediction folders to compare (default: all mapped)")
    ap.add_argument("--paper-models", type=Path, default=PAPER_MODELS,
                    help="YAML mapping prediction folders to paper-table rows (default: the shipped one)")
    ap.add_argument("--table", action="store_true", help="also print our LaRA-style table")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the cells whose LC/RAG winner differs")
    ap.add_argument("--split", choices=SPLITS, default="all",
                    help="model folders sorted by name: dev = even positions, heldout = odd, all = both")
    args = ap.parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.WARNING)
    if args.verbose:  # this benchmark's own lines only, not every library's info logging
        log.setLevel(logging.INFO)
    models = [m.strip() for m in args.models.split(",") if m.strip()] or None
    try:
        figures, ours = run(args.data, args.split, models, args.paper_models)
    except LaraError as exc:
        print(f"judge_fidelity: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.table:
        print(render_markdown(ours))
    for key, value in figures.items():
        print(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
