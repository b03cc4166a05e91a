"""Fit the question-level router's prior from outcome rows (fit time: numpy, scipy, scikit-learn).

Two logistic regressions, P(LC correct | x) and P(RAG correct | x), on the features of
:mod:`lara.routing.features`, plus one *offset* per training model and strategy on a small basis
u(x) = (1, ctx, the four category indicators): a model's own level, its own length trend and its
own category profile. The offsets are fitted jointly with the shared weights (lightly penalised
indicator columns), so the shared weights describe what holds *within* every model and the
offsets what differs *between* models. Their spread across the training models is the prior a
new model starts from (:mod:`lara.routing.calibrate` updates it with a probe). The fitted
library's predictions are exported as plain JSON weights that :mod:`lara.routing.question`
evaluates with the standard library; ``predict_logits`` here is the reference they are tested
against.

Per-column penalties are implemented by scaling columns (scikit-learn penalises every coefficient
equally; a column multiplied by s has its coefficient's effective penalty divided by s²).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from lara.routing.features import FEATURE_VERSION
from lara.routing.outcomes import OutcomeRow, request_of
from lara.routing.question import basis_of

log = logging.getLogger(__name__)

STRATEGIES = ("long_context", "rag")
TARGET = {"long_context": "lc_correct", "rag": "rag_correct"}
CATS = ("location", "reasoning", "comparison", "hallucination")
BASES = {
    # a model's level, length trend and category profile
    "small": ("1", "ctx", *(f"cat={c}" for c in CATS)),
    # ... plus its category-specific length trends and its context-type profile
    "rich": ("1", "ctx", *(f"cat={c}" for c in CATS), *(f"cat={c}*ctx" for c in CATS),
             *(f"type={t}" for t in ("book", "financial", "paper"))),
}
REFERENCE_MAX = 1200


@dataclass(frozen=True)
class FitConfig:
    """Regularisation and feature settings (defaults chosen by reasoning, not tuned on the
    leave-one-model-out figures: see docs in the benchmark)."""

    hash_buckets: int = 256
    c: float = 0.5  # inverse L2 strength for the shared weights (standardised columns)
    hash_scale: float = 0.15  # hashed n-gram columns: penalty x 1/scale^2 (strong: they overfit)
    offset_scale: float = 2.0  # per-model offset columns: weakly penalised
    min_var: float = 0.01  # floor on the prior variance of an offset component
    max_iter: int = 2000
    retrieval: bool = True  # use retrieval-score features (False: an ablation)
    basis: str = "small"  # the per-model offset's basis (BASES)


def offset_basis(x: Mapping[str, float], basis: Sequence[str]) -> dict[str, float]:
    """u(x): the per-model offset's basis, read from the feature vector (as decide() reads it)."""
    return dict(zip(basis, basis_of(x, basis)))


def row_vector(row: OutcomeRow, hash_buckets: int, category: str = "given") -> dict[str, float]:
    """The request vector of an outcome row, built exactly as :meth:`QuestionPolicy.decide` builds
    it for an app with the same knowledge (``category="predicted"``: as if it were not given)."""
    from dataclasses import replace

    from lara.routing.question import request_vector

    req = request_of(row)
    if category != "given":
        req = replace(req, category="unknown")
    return request_vector(req, hash_buckets)[0]


def _is_hash(name: str) -> bool:
    return name.startswith("q") and name[1:].isdigit()


def fit_prior(rows: Sequence[OutcomeRow], config: FitConfig = FitConfig(),
              model_info: Mapping[str, Mapping[str, Any]] | None = None,
              vectors: Sequence[Mapping[str, float]] | None = None) -> dict[str, Any]:
    """The ``question`` policy's learned part (``params``) from outcome rows of several models."""
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    if not rows:
        raise ValueError("no outcome rows to fit")
    xs = list(vectors) if vectors is not None else [row_vector(r, config.hash_buckets) for r in rows]
    models = sorted({r.model for r in rows})
    names = sorted({k for x in xs for k in x})
    col = {n: i for i, n in enumerate(names)}
    n_feat = len(names)
    # Columns are scaled to unit spread (not centred, so the matrix stays sparse; the intercept is
    # not penalised, so centring would change nothing but the intercept), then by their penalty scale.
    std = np.ones(n_feat)
    for n in names:
        if not _is_hash(n):
            column = np.array([x.get(n, 0.0) for x in xs])
            std[col[n]] = float(np.sqrt(np.mean(column * column))) or 1.0
    scale = np.array([config.hash_scale if _is_hash(n) else 1.0 for n in names])
    basis = BASES[config.basis]
    mcol = {(m, b): n_feat + i * len(basis) + j for i, m in enumerate(models) for j, b in enumerate(basis)}
    data: list[float] = []
    ri: list[int] = []
    ci: list[int] = []
    for i, (r, x) in enumerate(zip(rows, xs)):
        for k, v in x.items():
            j = col[k]
            data.append(float(v / std[j] * scale[j]))
            ri.append(i)
            ci.append(j)
        for b, v in offset_basis(x, basis).items():
            if v:
                data.append(v * config.offset_scale)
                ri.append(i)
                ci.append(mcol[(r.model, b)])
    X = sparse.csr_matrix((data, (ri, ci)), shape=(len(rows), n_feat + len(mcol)))

    out: dict[str, Any] = {"strategies": {}, "offsets": {"basis": list(basis), "models": {}}}
    for s in STRATEGIES:
        y = np.array([getattr(r, TARGET[s]) for r in rows])
        clf = LogisticRegression(C=config.c, max_iter=config.max_iter, solver="lbfgs")
        clf.fit(X, y)
        coef = clf.coef_[0]
        w = coef[:n_feat] * scale / std
        bias = float(clf.intercept_[0])
        weights = {n: float(w[col[n]]) for n in names if abs(w[col[n]]) > 1e-9}
        out["strategies"][s] = {"bias": bias, "weights": weights}
        for m in models:
            o = {b: float(coef[mcol[(m, b)]] * config.offset_scale) for b in basis}
            out["offsets"]["models"].setdefault(m, {})[s] = o
        out.setdefault("_sk", {})[s] = clf
    out["offsets"]["prior"] = _prior(out["offsets"]["models"], basis, config.min_var)
    if model_info:
        out["offsets"]["classes"] = _class_priors(out["offsets"]["models"], model_info, basis, config.min_var)
    out["model_info"] = {m: dict(model_info.get(m, {})) for m in models} if model_info else {}
    out["tokens"] = _token_defaults(rows)
    out["reference"] = _reference(rows, xs, out, basis)
    out["feature_version"] = FEATURE_VERSION
    out["hash_buckets"] = config.hash_buckets
    out["fit"] = {"config": asdict(config), "rows": len(rows), "models": models,
                  "lc_rate": float(np.mean([r.lc_correct for r in rows])),
                  "rag_rate": float(np.mean([r.rag_correct for r in rows]))}
    out["_design"] = (X, col, mcol, std, scale)
    return out


def _prior(models: Mapping[str, Mapping[str, Mapping[str, float]]], basis: Sequence[str], min_var: float) -> dict[str, Any]:
    """Mean and variance of each offset component over the training models (empirical Bayes)."""
    prior: dict[str, Any] = {"mean": {}, "var": {}, "n_models": len(models)}
    for s in STRATEGIES:
        vals = {b: [models[m][s][b] for m in models] for b in basis}
        prior["mean"][s] = {b: sum(v) / len(v) for b, v in vals.items()}
        prior["var"][s] = {b: max(min_var, _var(v)) for b, v in vals.items()}
    return prior


def _var(v: Sequence[float]) -> float:
    if len(v) < 2:
        return 0.0
    mu = sum(v) / len(v)
    return sum((a - mu) ** 2 for a in v) / (len(v) - 1)


def _class_priors(models: Mapping[str, Any], info: Mapping[str, Mapping[str, Any]], basis: Sequence[str],
                  min_var: float) -> dict[str, Any]:
    """The same prior per model class (open weights / proprietary) where the class is known."""
    groups: dict[str, dict[str, Any]] = {}
    for m in models:
        g = info.get(m, {}).get("group")
        if g:
            groups.setdefault(str(g), {})[m] = models[m]
    return {g: _prior(ms, basis, min_var) for g, ms in groups.items() if len(ms) >= 2}


def _token_defaults(rows: Sequence[OutcomeRow]) -> dict[str, int]:
    """Median RAG input tokens and the median LC prompt overhead beyond the context."""
    rag = sorted(r.rag_tokens for r in rows if r.rag_tokens)
    over = sorted(max(0, r.lc_tokens - r.context_tokens) for r in rows if r.lc_tokens)
    return {"rag_tokens": rag[len(rag) // 2] if rag else 3200, "lc_overhead": over[len(over) // 2] if over else 100,
            "lc_max_tokens": max((r.lc_tokens for r in rows), default=0)}


def _reference(rows: Sequence[OutcomeRow], xs: Sequence[Mapping[str, float]], fitted: Mapping[str, Any],
               basis: Sequence[str]) -> list[list[float]]:
    """A deterministic sample of distinct training questions, kept as what threshold calibration
    needs: base logits of both strategies (no model offset), u(x) on the basis, and both token counts."""
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        seen.setdefault((r.sample_id, r.question), i)
    idx = sorted(seen.values(), key=lambda i: _stable(rows[i].sample_id + rows[i].question))[:REFERENCE_MAX]
    out = []
    for i in sorted(idx):
        x = xs[i]
        eta = [base_logit(fitted["strategies"][s], x) for s in STRATEGIES]
        u = basis_of(x, basis)
        out.append([round(eta[0], 5), round(eta[1], 5), *[round(v, 5) for v in u], rows[i].lc_tokens, rows[i].rag_tokens])
    return out


def _stable(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def base_logit(model: Mapping[str, Any], x: Mapping[str, float]) -> float:
    w = model["weights"]
    return model["bias"] + sum(v * w.get(k, 0.0) for k, v in x.items())


def predict_logits(fitted: Mapping[str, Any], x_rows: Iterable[int], strategy: str, model: str) -> Any:
    """The fitting library's own logits for training rows ``x_rows`` of ``model`` (reference for
    the JSON round trip): scikit-learn's decision_function on the design matrix."""
    X = fitted["_design"][0]
    clf = fitted["_sk"][strategy]
    return clf.decision_function(X[list(x_rows)])


def exportable(fitted: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able part of :func:`fit_prior`'s result (drops the fitting library's objects)."""
    return {k: v for k, v in fitted.items() if not k.startswith("_")}


def policy_document(fitted: Mapping[str, Any], name: str, description: str,
                    source: Mapping[str, Any], target: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A ``question`` policy JSON document from :func:`fit_prior`'s result."""
    import hashlib
    import json

    from lara.routing.policy import DEFAULT_RAG, FORMAT, FORMAT_VERSION

    params = exportable(fitted)
    params["rag"] = dict(DEFAULT_RAG)
    params["reserve_tokens"] = 1000
    params["target"] = dict(target or {"kind": "accuracy", "lam": 0.0, "tau": 0.0})
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "kind": "question",
            "version": f"1-{digest}", "description": description, "source": dict(source), "params": params}
