"""Honest evaluation of routing policies (standard library only).

Two views:
- ``lomo_paper``: leave-one-model-out over the LaRA paper table. For each held-out model the
  policy is refitted on the other ten and asked, with only what an app knows about the held-out
  model (id, parameter count, context window, open vs proprietary), which strategy wins each of its
  (length, category) cells.
- ``route_eval``: on result records holding both LC and RAG runs of the same questions, the
  accuracy and input tokens each policy would have produced, against always-LC, always-RAG and the
  per-question oracle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from lara.results.record import Record
from lara.routing.fit import (
    PAPER_BUCKETS,
    PAPER_CATEGORIES,
    PAPER_MODELS,
    RUNNER_STRATEGY,
    fit_paper_policy,
    fit_policy,
)
from lara.routing.loader import load_policy, policy_from_dict
from lara.routing.outcomes import strategy_of
from lara.routing.policy import Policy
from lara.routing.types import RequestFeatures, normalize_category, normalize_model_id


@dataclass(frozen=True)
class EvalRow:
    policy: str
    accuracy: float
    winner_accuracy: float | None = None  # share of *decisive* cells/questions (LC != RAG) whose winner was chosen
    gap_recovered: float | None = None  # (acc - best constant) / (oracle - best constant)
    pgr: float | None = None  # (acc - worse constant) / (better constant - worse constant)
    input_tokens: int | None = None
    tokens_pct_lc: float | None = None
    lc_share: float | None = None
    n: int = 0
    note: str = ""
    ties: int = 0  # cells/questions where LC and RAG score the same: no winner to choose


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _finish(rows: list[dict[str, Any]], lc: float, rag: float, oracle: float) -> list[EvalRow]:
    best, worse = max(lc, rag), min(lc, rag)
    out = []
    for r in rows:
        acc = r["accuracy"]
        out.append(EvalRow(**r, gap_recovered=_ratio(acc - best, oracle - best), pgr=_ratio(acc - worse, best - worse)))
    return out


def lomo_paper(rows: Sequence[Mapping[str, Any]]) -> list[EvalRow]:
    """Leave-one-model-out on the paper table (11 models x 2 lengths x 4 categories = 88 cells)."""
    score = {(r["model"], r["length"], c, r["setting"]): float(r[c]) for r in rows for c in PAPER_CATEGORIES}
    group = {r["model"]: r["group"] for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    buckets = {b["name"]: b["typical_tokens"] for b in PAPER_BUCKETS}
    cells = [(m, length, c) for m in models for length in dict.fromkeys(r["length"] for r in rows) for c in PAPER_CATEGORIES]
    setting = {"long_context": "LC", "rag": "RAG"}

    def winner(cell: tuple[str, str, str]) -> str:
        return "LC" if score[(*cell, "LC")] > score[(*cell, "RAG")] else "RAG"

    decisive = [cell for cell in cells if score[(*cell, "LC")] != score[(*cell, "RAG")]]

    def run(label: str, choose: Any, note: str = "") -> dict[str, Any]:
        picks = {cell: choose(cell) for cell in cells}
        return {
            "policy": label,
            "accuracy": sum(score[(*cell, p)] for cell, p in picks.items()) / len(cells),
            "winner_accuracy": _ratio(sum(picks[c] == winner(c) for c in decisive), len(decisive)),
            "lc_share": sum(p == "LC" for p in picks.values()) / len(cells),
            "n": len(cells),
            "note": note,
            "ties": len(cells) - len(decisive),
        }

    held: dict[str, Policy] = {m: policy_from_dict(fit_paper_policy([r for r in rows if r["model"] != m])) for m in models}

    def via(full: bool):
        def choose(cell: tuple[str, str, str]) -> str:
            m, length, c = cell
            meta = PAPER_MODELS.get(m, {})
            extra = {}
            if full:
                extra = {"parameters_b": meta.get("parameters_b"), "context_window": meta.get("context_window"),
                         "open_weights": group[m] == "open"}
            f = RequestFeatures(model=m, context_tokens=int(buckets[length]), category=c, **extra)
            return setting.get(held[m].decide(f).strategy, "RAG")
        return choose

    def majority(cell: tuple[str, str, str]) -> str:
        # The issue's reference rule: majority of the other models' winners for (length, category).
        votes = [winner(o) for o in cells if o[0] != cell[0] and o[1:] == cell[1:]]
        lc = votes.count("LC")
        return "LC" if lc > len(votes) - lc else "RAG"

    out = [
        run("always_lc", lambda cell: "LC", "constant"),
        run("always_rag", lambda cell: "RAG", "constant"),
        run("oracle", winner, "per-cell best"),
        run("lomo majority (length, category)", majority, "reference: others' majority"),
        run("lomo fitted, id only", via(False), "held-out model as unknown"),
        run("lomo fitted (default)", via(True), "held-out: params, window, open?"),
    ]
    rules = load_policy("rules")
    out.append(run("rules", lambda cell: setting.get(rules.decide(RequestFeatures(
        model=cell[0], context_tokens=int(buckets[cell[1]]), category=cell[2])).strategy, "RAG"),
        "hand-written, not held out"))
    return _finish(out, out[0]["accuracy"], out[1]["accuracy"], out[2]["accuracy"])


def _context_tokens(rec: Mapping[str, Any]) -> int:
    trunc = rec.get("truncation") or {}
    return int(trunc.get("original_tokens") or rec.get("input_tokens") or rec.get("effective_context_tokens") or 0)


def _request(d: Mapping[str, Mapping[str, Any]]) -> RequestFeatures:
    """What an app knew before answering: the LC record's question and context, plus the RAG
    record's retrieval (scores and positions), read as outcome rows read them."""
    from lara.routing.outcomes import outcome_rows, request_of

    rows, _ = outcome_rows([Record.coerce({**d["long_context"], "score": 0.0, "score_status": "ok", "error": None}),
                            Record.coerce({**d["rag"], "score": 0.0, "score_status": "ok", "error": None})])
    if rows:
        return request_of(rows[0])
    lc = d["long_context"]
    return RequestFeatures(model=str(lc.get("model_id") or lc.get("model")), context_tokens=_context_tokens(lc),
                           category=normalize_category(lc.get("category")), context_type=lc.get("context_type"))


def _seen_models(policy: Policy, models: Iterable[str]) -> list[str]:
    """The records' models that a question policy was trained on (its figures there are in-sample)."""
    known = set(policy.params.get("offsets", {}).get("models", {})) if policy.kind == "question" else set()
    return sorted({normalize_model_id(m) for m in models} & known)


def route_eval(
    records: Iterable[Mapping[str, Any]], policies: Mapping[str, Policy] | None = None
) -> tuple[list[EvalRow], dict[str, int]]:
    """Compare policies on questions that have both an LC and a RAG record with score_status ok.

    Accuracy is the per-question mean over the paired questions (not LaRA's mean over context
    types). "Winner chosen" counts only decisive questions (LC and RAG scored differently); ties
    are reported apart (``counts["ties"]``), so a constant policy gets no credit for them.
    Returns (rows, counts). A refitted table policy is evaluated leave-one-model-out when the
    records hold several models, else in-sample (and says so).
    """
    by_q: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = defaultdict(dict)
    all_recs = list(records)
    for r in all_recs:
        rec = Record.coerce(r)  # the strategy its runner class declares; how it counts: rec.outcome
        strat = strategy_of(rec, ("long_context", "rag", "self_route"))
        if strat:
            by_q[(str(rec.model), str(rec.task), str(rec.sample_id))][strat] = r
    ok = lambda r: r is not None and Record.coerce(r).outcome in ("correct", "incorrect")  # noqa: E731
    qs = {q: d for q, d in by_q.items() if ok(d.get("long_context")) and ok(d.get("rag"))}
    ties = sum(float(d["long_context"]["score"]) == float(d["rag"]["score"]) for d in qs.values())
    counts = {"questions": len(by_q), "paired": len(qs), "unpaired_or_unscored": len(by_q) - len(qs),
              "ties": ties, "decisive": len(qs) - ties}
    if not qs:
        return [], counts

    def row(label: str, pick: Any, note: str = "") -> dict[str, Any]:
        acc = toks = lc = win = 0.0
        for q, d in qs.items():
            s = pick(q, d)
            rec = d[s] if s in d and ok(d[s]) else d["rag"]
            acc += float(rec["score"])
            toks += int(rec.get("input_tokens") or 0)
            lc += s == "long_context"
            a, b = float(d["long_context"]["score"]), float(d["rag"]["score"])
            if a != b:
                win += float(rec["score"]) == max(a, b)
        n = len(qs)
        return {"policy": label, "accuracy": acc / n, "winner_accuracy": _ratio(win, n - ties), "input_tokens": int(toks),
                "lc_share": lc / n, "n": n, "note": note, "ties": ties}

    def oracle(q, d):
        lc, rag = d["long_context"], d["rag"]
        a, b = float(lc["score"]), float(rag["score"])
        if a == b:  # ties -> whichever read fewer input tokens
            return "rag" if int(rag.get("input_tokens") or 0) <= int(lc.get("input_tokens") or 0) else "long_context"
        return "rag" if b > a else "long_context"

    def decide_with(policy: Policy):
        def pick(q, d):
            return policy.decide(_request(d)).strategy
        return pick

    rows = [row("always_lc", lambda q, d: "long_context", "constant"),
            row("always_rag", lambda q, d: "rag", "constant"),
            row("oracle", oracle, "per-question best")]
    default = {"default (question)": load_policy("default"), "paper_table": load_policy("paper_table"),
               "rules": load_policy("rules")}
    models = sorted({q[0] for q in qs})
    for name, pol in (policies or default).items():
        seen = _seen_models(pol, [str(d["long_context"].get("model_id") or q[0]) for q, d in qs.items()])
        rows.append(row(name, decide_with(pol), f"in-sample: trained on {', '.join(seen)}" if seen else ""))
    if len(models) > 1:
        fitted = {m: policy_from_dict(fit_policy([r for r in all_recs if str(r.get("model")) != m])) for m in models}
        rows.append(row("refit table lomo", lambda q, d: decide_with(fitted[q[0]])(q, d), "table refit on the other models"))
    else:
        pol = policy_from_dict(fit_policy(all_recs))
        rows.append(row("refit table in-sample", decide_with(pol), "in-sample (optimistic)"))
    sr = [d["self_route"] for d in qs.values() if ok(d.get("self_route"))]
    if len(sr) == len(qs):
        rows.append(row("self_route (measured)", lambda q, d: "self_route", "self_route runner records"))
    lc_tokens = rows[0]["input_tokens"] or 0
    for r in rows:
        r["tokens_pct_lc"] = 100.0 * r["input_tokens"] / lc_tokens if lc_tokens else None
    return _finish(rows, rows[0]["accuracy"], rows[1]["accuracy"], rows[2]["accuracy"]), counts


def paper_rows_from_policy(policy: Policy) -> list[dict[str, Any]]:
    """Rebuild paper-table rows from the figures copied into a paper-fitted policy (so the LOMO
    evaluation runs without the shared data folder)."""
    models = policy.params["models"]
    setting = {"long_context": "LC", "rag": "RAG"}
    rows = []
    for key, lengths in policy.params["table"]["model"].items():
        info = models[key]
        for length, cats in lengths.items():
            for strat, label in setting.items():
                row = {"model": info["name"], "group": "open" if info["group"] == "open" else "proprietary",
                       "length": length, "setting": label}
                row.update({c: cats[c][strat] for c in PAPER_CATEGORIES})
                rows.append(row)
    return rows
