"""Does the question router earn its keep on a model it has never seen, on documents it has never seen?

    python benchmarks/routing_generalisation.py --predictions ../shared/data/lara/predictions [--probe 96] [--seed 0 --seed 1 ...]

1. For every model folder of recorded LaRA predictions in ``--predictions``, LC and RAG runs of all
   LaRA questions through the engine with the replay backend and the lexical scorer (resumed from
   ``--runs``, default ``<lara cache>/routing-runs/<model>``: the first time this embeds the 131
   documents once and takes a while; later invocations make 0 model calls). No model metadata is
   needed: a folder is a model.
2. One outcome row per question answered both ways, every answer re-scored by today's lexical
   scorer (so cached runs count by the current rules; ``--stored-scores`` keeps the stored ones).
   Questions with an error on either side (e.g. the recorded JSON ``false`` predictions) are left
   out of both sides and counted.
3. Leave-one-model-out and split by document (lara.routing.generalise): train on the other models'
   outcomes on other documents, calibrate on a stratified probe of the held-out model's questions on
   those other documents, evaluate per question on the held-out model's remaining documents, with
   the router's cost target (default: at most 55% of always-LC's input tokens, leaving room under
   the 0.60 cap for the difference between reference and evaluation questions). Means over seeds.

Prints per model ``model <name> router_acc <x> lc_acc <y> rag_acc <z> oracle_acc <o> lc_token_share <s>``
and the summary lines ``probe_token_share``, ``worst_margin``, ``mean_gap_recovered``,
``max_lc_token_share`` (targets: >= 0, >= 0.25, <= 0.60).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

log = logging.getLogger("routing_generalisation")


def model_folders(predictions: Path) -> list[Path]:
    return sorted(p for p in predictions.iterdir() if p.is_dir() and any(p.glob("*_preds_*.jsonl")))


def ensure_runs(folder: Path, runs_root: Path) -> Path:
    """LC and RAG runs of every LaRA question on one model folder (resumes: 0 calls when complete).

    The spec is exactly ``lara run --task lara --runner lc,rag-lara --model replay:<absolute folder>
    --scorer lexical`` (the data folder comes from LARA_DATA_DIR, not a task parameter), so runs made
    with that command are found and resumed."""
    from lara import engine
    from lara.config import resolve_spec

    out = runs_root / folder.name
    for runner in ("lc", "rag-lara"):
        spec = resolve_spec("lara", runner, f"replay:{folder.resolve()}", scorer="lexical")
        engine.run(spec, output_root=out)
    return out


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(not a git checkout)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", type=Path, required=True, help="Folder of model folders (LaRA predictions layout).")
    ap.add_argument("--runs", type=Path, default=None, help="Cache of run folders (default <lara cache>/routing-runs).")
    ap.add_argument("--data-dir", default=None, help="LaRA data (default: LARA_DATA_DIR, else the predictions folder's parent).")
    ap.add_argument("--probe", type=int, default=96)
    ap.add_argument("--seed", type=int, action="append", help="Probe/split seed (repeatable; default 0..4).")
    ap.add_argument("--folds", type=int, default=2, help="Document folds per seed.")
    ap.add_argument("--target-token-share", type=float, default=0.55, help="The router's max_lc_token_share target.")
    ap.add_argument("--no-retrieval", action="store_true", help="Ablation: no retrieval-score features.")
    ap.add_argument("--hash-buckets", type=int, default=None, help="Hashed question n-gram buckets (0: none).")
    ap.add_argument("--stored-scores", action="store_true",
                    help="Use the scores stored in the runs (default: re-score every answer with today's lexical scorer).")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # One torch thread: on a small shared machine OpenMP workers spin against other processes; the
    # first RAG pass (embedding the 131 documents) ran ~50x faster this way on the 2-core machine.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from lara.cache import default_cache_dir
    from lara.routing.generalise import GenConfig, evaluate, summarize
    from lara.routing.outcomes import rows_from_paths
    from lara.routing.train import FitConfig

    folders = model_folders(args.predictions)
    if len(folders) < 2:
        print(f"need at least two model folders in {args.predictions}, found {len(folders)}", file=sys.stderr)
        return 2
    os.environ["LARA_DATA_DIR"] = args.data_dir or os.environ.get("LARA_DATA_DIR") or str(args.predictions.resolve().parent)
    runs_root = args.runs or default_cache_dir() / "routing-runs"
    t0 = time.perf_counter()
    run_dirs = [ensure_runs(f, runs_root) for f in folders]
    rows, counts = rows_from_paths(run_dirs, scorer=None if args.stored_scores else "lexical")
    scored = "stored scores" if args.stored_scores else f"answers re-scored by the lexical scorer of lara {_commit()}"
    print(f"runs {runs_root} ({time.perf_counter() - t0:.0f}s); {scored}; outcome rows: {counts.summary()}")
    fit = FitConfig(retrieval=not args.no_retrieval)
    if args.hash_buckets is not None:
        fit = replace(fit, hash_buckets=args.hash_buckets)
    config = GenConfig(probe=args.probe, seeds=tuple(args.seed) if args.seed else (0, 1, 2, 3, 4), folds=args.folds,
                       target={"kind": "max_lc_token_share", "value": args.target_token_share}, fit=fit)
    results = evaluate(rows, config, progress=log.info)
    for r in results:
        print(f"model {r.model} router_acc {r.router_acc:.4f} lc_acc {r.lc_acc:.4f} rag_acc {r.rag_acc:.4f} "
              f"oracle_acc {r.oracle_acc:.4f} lc_token_share {r.lc_token_share:.4f}")
    s = summarize(results)
    print(f"config probe {config.probe} seeds {len(config.seeds)} folds {config.folds} "
          f"target max_lc_token_share {args.target_token_share} retrieval {fit.retrieval} hash_buckets {fit.hash_buckets}")
    print(f"probe_token_share {s['probe_token_share']:.4f}  (probe LC+RAG input tokens / always-LC input tokens on the evaluated questions)")
    print(f"worst_margin {s['worst_margin']:.4f}  (target >= 0)")
    print(f"mean_gap_recovered {s['mean_gap_recovered']:.4f}  (target >= 0.25)")
    print(f"max_lc_token_share {s['max_lc_token_share']:.4f}  (target <= 0.60)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
