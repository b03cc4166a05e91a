"""Synthetic LC/RAG result runs with a known structure, written by the real record builder.

Used by the routing tests: each model's LC accuracy follows its own level and length trend, RAG
accuracy rises with how far the best BM25 chunk stands out (the retrieval-confidence signal), and
categories shift both. Outcomes are drawn from those probabilities with a seeded generator, so the
data look like real runs (noisy, per question) while the truth is known.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from lara.results.record import Record, build_record
from lara.types import RetrievedRef, RunOutput, Sample, Score, Step, TruncationReport

CATS = ("location", "reasoning", "comparison", "hallucination")
TYPES = ("book", "financial", "paper")
LENGTHS = {"32k": 30_000, "128k": 100_000}
# category effects on the logit (LC, RAG): comparison favours LC, hallucination favours RAG (LaRA)
CAT_EFFECT = {"location": (0.0, 0.2), "reasoning": (0.1, -0.2), "comparison": (0.8, -0.8), "hallucination": (-0.6, 0.6)}


@dataclass(frozen=True)
class SyntheticModel:
    """LC logit = lc_level + lc_slope * ln(tokens / 50k) + category effect; RAG logit =
    rag_level + rag_retrieval * (bm25 margin - 0.5) + category effect."""

    lc_level: float = 0.5
    lc_slope: float = -0.5
    rag_level: float = 0.0
    rag_retrieval: float = 4.0


def _sig(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def synthetic_records(models: Mapping[str, SyntheticModel], docs_per_cell: int = 3,
                      questions_per_doc: int = 4, seed: int = 0) -> list[Record]:
    """LC and RAG records of every model on the same questions (2 lengths x 3 types x 4 categories)."""
    rng = random.Random(seed)
    questions = []
    for length, tokens in LENGTHS.items():
        for ctype in TYPES:
            for d in range(docs_per_cell):
                doc = f"{ctype}-{length}-{d}.txt"
                for cat in CATS:
                    for q in range(questions_per_doc):
                        margin = rng.random()
                        top = 8.0 + 6.0 * rng.random()
                        bm25 = (top, top * (1 - margin), top * (1 - margin) * 0.9)
                        dense = (0.3 + 0.4 * margin, 0.3 + 0.3 * margin)
                        ctx = int(tokens * (0.8 + 0.4 * rng.random()))
                        sid = f"{length}_{ctype}_{cat}_{d}_{q}"
                        text = f"{'Compare how' if cat == 'comparison' else 'What is'} item {d} {q} in the {ctype}?"
                        questions.append((sid, text, cat, ctype, length, doc, ctx, bm25 + dense, margin))
    out: list[Record] = []
    for name, m in models.items():
        for sid, text, cat, ctype, length, doc, ctx, scores, margin in questions:
            lc_e, rag_e = CAT_EFFECT[cat]
            p_lc = _sig(m.lc_level + m.lc_slope * math.log(ctx / 50_000) + lc_e)
            p_rag = _sig(m.rag_level + m.rag_retrieval * (margin - 0.5) + rag_e)
            meta = {"category": cat, "context_type": ctype, "length": length, "file": doc}
            sample = Sample(sid, text, ("ref",), (), meta)
            for runner, p in (("long_context", p_lc), ("rag", p_rag)):
                value = 1.0 if rng.random() < p else 0.0
                steps: tuple[Step, ...]
                if runner == "long_context":
                    steps = (Step("generate", input_tokens=ctx + 60, output_tokens=10, output="a"),)
                    output = RunOutput("a", steps, effective_context_tokens=ctx + 60,
                                       truncation=TruncationReport("middle", ctx, ctx, 0))
                    params: dict = {}
                else:
                    refs = tuple(RetrievedRef(f"{doc}:{i}", s, i) for i, s in enumerate(scores))
                    steps = (Step("retrieve", query=text, retrieved=refs),
                             Step("generate", input_tokens=3200, output_tokens=10, output="a"))
                    output = RunOutput("a", steps, effective_context_tokens=3200)
                    params = {"retriever": "hybrid", "k": 5, "chunk_size": 600}
                out.append(build_record(
                    run_id=f"synthetic__{runner}__{name}", spec_hash="0", task="lara", task_version="1",
                    sample=sample, runner=runner, runner_params=params, strategy=runner, model=f"replay:/x/{name}",
                    backend="replay", model_id=name, generation={}, output=output,
                    scores=[Score("lexical", value, "ok", scorer="lexical-fallback")], primary="lexical",
                    error=None, started_at="2026-01-01T00:00:00Z", latency_s=0.0))
    return out


def write_runs(records: list[Record], root: Path) -> list[Path]:
    """One run folder per (model, runner), as the engine lays them out."""
    by: dict[str, list[Record]] = {}
    for r in records:
        by.setdefault(r.run_id, []).append(r)
    dirs = []
    for run_id, recs in sorted(by.items()):
        d = root / run_id
        d.mkdir(parents=True, exist_ok=True)
        (d / "samples.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in recs), encoding="utf-8")
        dirs.append(d)
    return dirs


def write_replay_predictions(lara_root: Path, out_dir: Path, name: str, lc_right: bool = True,
                             rag_right: bool = False) -> Path:
    """A model folder of recorded predictions in LaRA's upstream layout for every query of a LaRA
    tree (e.g. :func:`lara.testing.fixtures.make_fixture`): LC answers with the reference when
    ``lc_right`` (else a wrong answer), RAG likewise with ``rag_right``. No model metadata."""
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    query = next(p for p in (lara_root / "datasets" / "query", lara_root / "query") if p.is_dir())
    for qfile in sorted(query.glob("*.jsonl")):
        rows = [json.loads(line) for line in qfile.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not rows:
            continue
        for mode, right in (("full", lc_right), ("rag", rag_right)):
            out = []
            for r in rows:
                pred = r["answer"] if right else "The text says something else entirely about zebras."
                out.append(json.dumps({"question": r["question"], "prediction": pred, "ground_truth": r["answer"],
                                       "file": r["file"]}))
            (folder / f"{mode}_preds_{name}_{qfile.name}").write_text("\n".join(out), encoding="utf-8")
    return folder
