"""Fit a ``fitted`` routing policy from result records or from the LaRA paper's table.

Standard library only, like the rest of ``lara.routing``. The fitted table is the mean score of
each strategy per (model, length bucket, category), plus unweighted means over the models of a
class (open weights vs proprietary) and over all models, used for models the table has not seen.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lara.routing.policy import FORMAT, FORMAT_VERSION
from lara.routing.types import normalize_category, normalize_model_id

RUNNER_STRATEGY = {
    "long_context": "long_context",
    "rag": "rag",
    "iterdrag": "iterative_rag",
    "drag": "iterative_rag",
    "no_context": "no_context",
}
PAPER_SETTING = {"LC": "long_context", "RAG": "rag"}
PAPER_CATEGORIES = ("location", "reasoning", "comparison", "hallucination")
PAPER_SOURCE = {
    "paper": "LaRA: Benchmarking Retrieval-Augmented Generation and Long-Context LLMs (Li et al., ICML 2025, arXiv 2502.09977)",
    "table": "main results table, as transcribed in shared/data/lara/paper_main_table.csv",
    "units": "accuracy x100, unweighted mean over book / financial / paper contexts",
    "model_metadata": "parameter counts and context windows from the model vendors' documentation, not from the paper",
}
# Facts an app knows about each paper model at decision time. parameters_b None = undisclosed.
PAPER_MODELS: dict[str, dict[str, Any]] = {
    "Llama-3.1-8B-Instruct": {"parameters_b": 8, "context_window": 131072, "aliases": ["llama-3.1-8b"]},
    "Llama-3.2-3B-Instruct": {"parameters_b": 3, "context_window": 131072, "aliases": ["llama-3.2-3b"]},
    "Llama-3.3-70B-Instruct": {"parameters_b": 70, "context_window": 131072, "aliases": ["llama-3.3-70b"]},
    "Llama-3.3-70B-Instruct-Q8": {"parameters_b": 70, "context_window": 131072, "aliases": ["llama-3.3-70b-turbo"]},
    "Qwen-2.5-7B-Instruct": {"parameters_b": 7, "context_window": 131072, "aliases": ["qwen2.5-7b-instruct"]},
    "Qwen-2.5-72B-Instruct": {"parameters_b": 72, "context_window": 131072, "aliases": ["qwen2.5-72b-instruct"]},
    "Mistral-Nemo-12B": {"parameters_b": 12, "context_window": 131072, "aliases": ["mistral-nemo-instruct-2407"]},
    "GPT-4o": {"parameters_b": None, "context_window": 128000, "aliases": []},
    "GPT-4o-mini": {"parameters_b": None, "context_window": 128000, "aliases": []},
    "Claude-3.5-sonnet": {"parameters_b": None, "context_window": 200000, "aliases": ["claude-3-5-sonnet-20241022"]},
    "Gemini-1.5-pro": {"parameters_b": None, "context_window": 2097152, "aliases": []},
}
# LaRA's "32k" contexts are 12k-48k cl100k tokens and its "128k" ones 48.6k-133.4k (measured on the LaRA data);
# typical_tokens ~ the median context file size / 4 characters per token (30.6k and 95.0k).
PAPER_BUCKETS: list[dict[str, Any]] = [
    {"name": "32k", "typical_tokens": 30000, "max_tokens": 48000},
    {"name": "128k", "typical_tokens": 95000, "max_tokens": None},
]

Cell = tuple[str, str, str, str, float]  # (model key, length, category, strategy, score)


def read_paper_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of paper_main_table.csv with numbers as floats."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"model", "group", "length", "setting", *PAPER_CATEGORIES}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{path}: expected columns {sorted(need)}")
    for r in rows:
        for c in (*PAPER_CATEGORIES, "overall"):
            if r.get(c) not in (None, ""):
                r[c] = float(r[c])
    return rows


def paper_cells(rows: Iterable[Mapping[str, Any]]) -> list[Cell]:
    return [
        (normalize_model_id(r["model"]), r["length"], c, PAPER_SETTING[r["setting"]], float(r[c]))
        for r in rows
        for c in PAPER_CATEGORIES
    ]


def paper_models(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        meta = PAPER_MODELS.get(r["model"], {})
        out[normalize_model_id(r["model"])] = {
            "name": r["model"],
            "group": "open" if r["group"] == "open" else "proprietary",
            "parameters_b": meta.get("parameters_b"),
            "context_window": meta.get("context_window"),
            "aliases": list(meta.get("aliases", [])),
        }
    return out


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 4)


def fit_table(cells: Iterable[Cell], models: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Means per level: model -> class (group) -> all. ``unknown`` category = mean over categories."""
    acc: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for model, length, cat, strategy, score in cells:
        acc[(model, length, cat, strategy)].append(score)
    per_model: dict[str, Any] = {}
    for (model, length, cat, strategy), xs in sorted(acc.items()):
        per_model.setdefault(model, {}).setdefault(length, {}).setdefault(cat, {})[strategy] = _mean(xs)
    for lengths in per_model.values():
        for cats in lengths.values():
            unknown: dict[str, list[float]] = defaultdict(list)
            for strat_scores in cats.values():
                for s, v in strat_scores.items():
                    unknown[s].append(v)
            cats["unknown"] = {s: _mean(v) for s, v in unknown.items()}

    def pool(keys: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        vals: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for m in keys:
            for length, cats in per_model[m].items():
                for cat, ss in cats.items():
                    for s, v in ss.items():
                        vals[(length, cat, s)].append(v)
        for (length, cat, s), xs in sorted(vals.items()):
            out.setdefault(length, {}).setdefault(cat, {})[s] = _mean(xs)
        return out

    classes: dict[str, list[str]] = defaultdict(list)
    for m in per_model:
        group = models.get(m, {}).get("group")
        if group:
            classes[group].append(m)
    return {
        "model": per_model,
        "class": {g: pool(ms) for g, ms in sorted(classes.items())},
        "all": {"*": pool(sorted(per_model))},
    }


def _policy_dict(name: str, params: dict[str, Any], description: str, source: Mapping[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": "fitted",
        "version": f"1-{digest}",
        "description": description,
        "source": dict(source),
        "params": params,
    }


def fit_paper_policy(rows: Sequence[Mapping[str, Any]], name: str = "paper_table") -> dict[str, Any]:
    """The ``paper_table`` policy (the default before the question router): the LaRA paper's LC vs RAG
    figures copied into the policy."""
    models = paper_models(rows)
    params = {
        "length_buckets": PAPER_BUCKETS,
        "models": models,
        "table": fit_table(paper_cells(rows), models),
        "reserve_tokens": 1000,
        "fallback_strategy": "rag",
    }
    desc = ("LC vs RAG per (model / model class / all, length bucket, category), fitted from the "
            "LaRA paper's main table; unseen models use their class (open weights vs proprietary).")
    return _policy_dict(name, params, desc, PAPER_SOURCE)


def _bucket_tokens(name: str) -> float | None:
    try:
        s = name.strip().lower()
        mult = 1_000_000 if s.endswith("m") else 1000 if s.endswith("k") else 1
        return float(s.rstrip("km")) * mult
    except ValueError:
        return None


def length_buckets(records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Buckets ordered by nominal size; the boundary between neighbours is the midpoint between the
    largest LC input of the smaller and the smallest LC input of the larger when the runs show
    them apart, else the geometric mean of the nominal sizes. typical_tokens is the median LC input."""
    names = sorted({str(r.get("length") or "all") for r in records}, key=lambda n: (_bucket_tokens(n) or 0, n))
    lc_in: dict[str, list[int]] = defaultdict(list)
    for r in records:
        if r.get("runner") == "long_context" and r.get("input_tokens"):
            lc_in[str(r.get("length") or "all")].append(int(r["input_tokens"]))
    out = []
    for i, n in enumerate(names):
        bound = None
        if i + 1 < len(names):
            nxt = names[i + 1]
            if lc_in[n] and lc_in[nxt] and max(lc_in[n]) < min(lc_in[nxt]):
                bound = (max(lc_in[n]) + min(lc_in[nxt])) // 2
            else:
                a, b = _bucket_tokens(n), _bucket_tokens(nxt)
                bound = int(math.sqrt(a * b)) if a and b else None
        seen = sorted(lc_in[n])
        typical = seen[len(seen) // 2] if seen else _bucket_tokens(n)
        out.append({"name": n, "typical_tokens": typical, "max_tokens": bound})
    return out


def fit_policy(
    records: Iterable[Mapping[str, Any]],
    model_info: Mapping[str, Mapping[str, Any]] | None = None,
    name: str = "fitted",
) -> dict[str, Any]:
    """Fit from result records (lara/results/record.py): per (model, length, category) mean score of
    each strategy over records with score_status "ok". ``model_info`` maps a model id to
    {group, parameters_b, context_window}; paper models are known by default."""
    recs = [r for r in records if RUNNER_STRATEGY.get(str(r.get("runner"))) is not None]
    known = {k: dict(v) for k, v in paper_models(
        [{"model": m, "group": "open" if v["parameters_b"] else "proprietary"} for m, v in PAPER_MODELS.items()]
    ).items()}
    for k, v in list(known.items()):
        for a in v.get("aliases", []):
            known.setdefault(a, v)
    models: dict[str, dict[str, Any]] = {}
    cells: list[Cell] = []
    params_seen: dict[str, Counter] = defaultdict(Counter)
    for r in recs:
        strategy = RUNNER_STRATEGY[str(r["runner"])]
        key = normalize_model_id(str(r.get("model") or r.get("model_id") or "unknown"))
        info = dict((model_info or {}).get(str(r.get("model")), {}) or (model_info or {}).get(key, {}) or known.get(key, {}))
        models.setdefault(key, {"name": str(r.get("model")), "group": info.get("group"),
                                "parameters_b": info.get("parameters_b"),
                                "context_window": info.get("context_window"), "aliases": []})
        rp = {k: v for k, v in (r.get("runner_params") or {}).items() if k in ("k", "chunk_size", "chunk_overlap", "order", "m", "n", "retriever")}
        params_seen[strategy][json.dumps(rp, sort_keys=True)] += 1
        if r.get("score_status") != "ok" or r.get("score") is None:
            continue
        cells.append((key, str(r.get("length") or "all"), normalize_category(r.get("category")), strategy, float(r["score"])))
    if not cells:
        raise ValueError("no scored records of a known runner (long_context, rag, iterdrag, drag, no_context)")
    params = {
        "length_buckets": length_buckets(recs),
        "models": models,
        "table": fit_table(cells, models),
        "strategy_params": {s: json.loads(c.most_common(1)[0][0]) for s, c in params_seen.items()},
        "reserve_tokens": 1000,
        "fallback_strategy": "rag",
    }
    source = {"fitted_from": f"{len(cells)} scored records", "fitted_at": _dt.date.today().isoformat()}
    return _policy_dict(name, params, "fitted from result records", source)
