"""How faithfully does the offline lexical scorer reproduce LaRA's GPT-4o-judged main table?

Scores every recorded prediction in ``<data>/lara/predictions`` with
:func:`lara.scoring.lexical.lexical_verdict`, aggregates LaRA-style (lara.results.lara_table) per
(model, length, mode, task) and compares with ``paper_main_table.csv`` for the models it lists:

- ``pearson_<task>``: Pearson correlation across the (model, length, mode) cells of that task;
- ``winner_agreement``: share of (model, length, task) cells where the sign of LC − RAG agrees.

Predictions recorded as JSON ``false`` (failed API calls upstream) are counted
(``failed_predictions``) and scored as incorrect here: the paper's pipeline passed them to the judge
as the string "False", which the judge marks wrong; the paper only dropped failed *judge* calls.
In the harness proper the scorer returns status "error" for a missing answer instead.

Hold-out split (``--split dev|heldout|all``): the prediction folders sorted by name are split into
even positions (0, 2, ...: the DEVELOPMENT half, whose cases rule changes may be designed on) and
odd positions (the HELD-OUT half, not read while designing). Reporting each half separately shows
whether a rule change generalises beyond the models it was designed on. The split is by folder
position, not by table membership, so it stays fixed when table mappings change.

Usage: ``python benchmarks/judge_fidelity.py [--data /work/shared/data] [--table] [--split all]``
(data defaults to $LARA_SHARED_DATA, else ../shared/data next to the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lara.results.lara_table import TASKS, aggregate, paper_table, render_markdown  # noqa: E402
from lara.scoring.lexical import lexical_verdict  # noqa: E402

FOLDER_TO_TABLE = {
    "llama-3.1-8b": "Llama-3.1-8B-Instruct",
    "llama-3.2-3b": "Llama-3.2-3B-Instruct",
    "llama-3.3-70b": "Llama-3.3-70B-Instruct",
    "llama-3.3-70b-turbo": "Llama-3.3-70B-Instruct-Q8",  # undocumented upstream: probable mapping
    "qwen2.5-7b-instruct": "Qwen-2.5-7B-Instruct",
    "gpt-4o-mini": "GPT-4o-mini",
    "claude-3-5-sonnet-20241022": "Claude-3.5-sonnet",
    "gemini-1.5-pro": "Gemini-1.5-pro",
}
FILE_RE = re.compile(
    r"^(full|rag)_preds_(?P<model>.+)_(?P<length>32k|128k)_(?P<ctype>book|financial|paper)_"
    r"(?P<task>location|reasoning|comp|hallu)\.jsonl$"
)


def default_data() -> Path:
    env = os.environ.get("LARA_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


SPLITS = ("all", "dev", "heldout")


def split_folders(pred_root: Path, split: str = "all") -> list[Path]:
    """Prediction folders of one half: sorted by name, dev = even positions, heldout = odd."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folders = sorted(p for p in pred_root.iterdir() if p.is_dir())
    if split == "all":
        return folders
    return folders[0::2] if split == "dev" else folders[1::2]


def score_predictions(pred_root: Path, split: str = "all") -> tuple[list[dict], int]:
    """Record dicts (the lara_table subset of the schema) for every prediction of the split, and the
    number of failed (JSON false) predictions."""
    records: list[dict] = []
    failed = 0
    for folder in split_folders(pred_root, split):
        for path in sorted(folder.glob("*.jsonl")):
            m = FILE_RE.match(path.name)
            if not m:
                continue
            runner = "long_context" if path.name.startswith("full") else "rag"
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    pred = row.get("prediction")
                    if pred is False or pred is None:
                        failed += 1
                        value, status = 0, "ok"
                    else:
                        value, status, _ = lexical_verdict(
                            row["question"], str(pred), str(row["ground_truth"]), m["task"], m["ctype"]
                        )
                    records.append(
                        {
                            "model": folder.name,
                            "runner": runner,
                            "length": m["length"],
                            "context_type": m["ctype"],
                            "category": m["task"],
                            "score": value,
                            "score_status": status,
                            "error": None,
                            "skipped": None,
                        }
                    )
    return records, failed


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


def compare(ours: list, paper: list) -> dict[str, float]:
    paper_by = {(r.model, r.length, r.mode): r for r in paper}
    mine = {}
    for r in ours:
        name = FOLDER_TO_TABLE.get(r.model)
        if name and (name, r.length, r.mode) in paper_by:
            mine[(name, r.length, r.mode)] = r
    out: dict[str, float] = {"cells": len(mine)}
    for task in TASKS:
        keys = sorted(k for k in mine if mine[k].task(task) is not None)
        out[f"pearson_{task}"] = pearson([mine[k].task(task) for k in keys], [paper_by[k].task(task) for k in keys])
    out["pearson_min"] = min(out[f"pearson_{t}"] for t in TASKS)
    agree = total = 0
    for (name, length, mode) in mine:
        if mode != "LC" or (name, length, "RAG") not in mine:
            continue
        for task in TASKS:
            ours_gap = mine[(name, length, "LC")].task(task) - mine[(name, length, "RAG")].task(task)
            paper_gap = paper_by[(name, length, "LC")].task(task) - paper_by[(name, length, "RAG")].task(task)
            total += 1
            agree += (ours_gap > 0) == (paper_gap > 0) and ours_gap != 0
    out["winner_cells"] = total
    out["winner_agreement"] = agree / total if total else float("nan")
    abs_err = [abs(mine[k].task(t) - paper_by[k].task(t)) for k in mine for t in TASKS]
    out["mean_abs_diff_points"] = sum(abs_err) / len(abs_err)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data(), help="shared data folder")
    ap.add_argument("--table", action="store_true", help="also print our LaRA-style table")
    ap.add_argument("--split", choices=SPLITS, default="all",
                    help="model folders sorted by name: dev = even positions, heldout = odd, all = both")
    args = ap.parse_args()
    lara = args.data / "lara"
    if not (lara / "predictions").is_dir():
        sys.exit(f"no LaRA predictions under {lara} (set --data or LARA_SHARED_DATA)")
    records, failed = score_predictions(lara / "predictions", args.split)
    ours = aggregate(records)
    figures = compare(ours, paper_table(lara / "paper_main_table.csv"))
    if args.table:
        print(render_markdown(ours))
    print(f"judge_fidelity_split {args.split}")
    print(f"judge_fidelity_models {' '.join(sorted({r['model'] for r in records}))}")
    print(f"judge_fidelity_predictions {len(records)}")
    print(f"failed_predictions {failed}")
    for key, value in figures.items():
        print(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")


if __name__ == "__main__":
    main()
