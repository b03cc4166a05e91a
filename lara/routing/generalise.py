"""Leave-one-model-out, split-by-document evaluation of the question router (fit time).

For every model in turn (the *held-out* model), for every seed, the documents are split into
``folds`` groups (stratified by length and context type). For each fold: the prior is fitted on the
*other* models' outcomes on the *other* folds' documents; the probe is drawn from the held-out
model's questions on the other folds' documents; the router is evaluated on the held-out model's
questions of this fold's documents. So an evaluation question's document was never seen in
training or in the probe, for any model, and the held-out model was never seen except through its
probe. Every question of the held-out model is evaluated once per seed; figures are means over
seeds. Decisions go through :meth:`QuestionPolicy.decide`, exactly as an app's would.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from lara.routing.calibrate import ProbeCandidate, select_probe
from lara.routing.loader import policy_from_dict
from lara.routing.outcomes import OutcomeRow, request_of
from lara.routing.probe import calibrate_policy
from lara.routing.question import QuestionPolicy
from lara.routing.train import FitConfig, fit_prior, policy_document, row_vector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenConfig:
    probe: int = 96
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    folds: int = 2
    target: Mapping[str, Any] = field(default_factory=lambda: {"kind": "max_lc_token_share", "value": 0.55})
    fit: FitConfig = FitConfig()


@dataclass
class ModelResult:
    model: str
    questions: int
    router_acc: float
    lc_acc: float
    rag_acc: float
    oracle_acc: float
    lc_token_share: float
    probe_token_share: float
    lc_choice_share: float

    @property
    def margin(self) -> float:
        return self.router_acc - max(self.lc_acc, self.rag_acc)

    @property
    def gap_recovered(self) -> float | None:
        best = max(self.lc_acc, self.rag_acc)
        return (self.router_acc - best) / (self.oracle_acc - best) if self.oracle_acc > best else None


def document_folds(rows: Sequence[OutcomeRow], folds: int, seed: int) -> dict[str, int]:
    """document -> fold, documents of each (length, context type) dealt round-robin after a shuffle."""
    strata: dict[tuple[Any, Any], set[str]] = defaultdict(set)
    for r in rows:
        strata[(r.length, r.context_type)].add(r.document)
    rng = random.Random(seed)
    out: dict[str, int] = {}
    start = 0
    for key in sorted(strata, key=str):
        docs = sorted(strata[key])
        rng.shuffle(docs)
        for i, d in enumerate(docs):
            out[d] = (start + i) % folds
        start += len(docs)
    return out


def probe_rows(pool: Sequence[OutcomeRow], n: int, seed: int) -> list[OutcomeRow]:
    cands = [ProbeCandidate(f"{r.sample_id}\t{r.question}", (r.category, r.length, r.context_type), r.document)
             for r in pool]
    ids = set(select_probe(cands, n, seed))
    return [r for r in pool if f"{r.sample_id}\t{r.question}" in ids]


def evaluate(rows: Sequence[OutcomeRow], config: GenConfig = GenConfig(),
             progress: Callable[[str], None] | None = None) -> list[ModelResult]:
    """Per held-out model figures (see the module docstring)."""
    models = sorted({r.model for r in rows})
    if len(models) < 2:
        raise ValueError("leave-one-model-out needs outcome rows of at least two models")
    vec_cache: dict[tuple[str, str], dict[str, float]] = {}
    vectors = []
    for r in rows:
        key = (r.sample_id, r.question)
        if key not in vec_cache:
            vec_cache[key] = _filtered(row_vector(r, config.fit.hash_buckets), config.fit)
        vectors.append(vec_cache[key])
    acc: dict[str, dict[str, float]] = {m: defaultdict(float) for m in models}
    for seed in config.seeds:
        fold_of = document_folds(rows, config.folds, seed)
        for h in models:
            for f in range(config.folds):
                train = [i for i, r in enumerate(rows) if r.model != h and fold_of[r.document] != f]
                pool = [r for r in rows if r.model == h and fold_of[r.document] != f]
                test = [r for r in rows if r.model == h and fold_of[r.document] == f]
                if not test or not train:
                    continue
                fitted = fit_prior([rows[i] for i in train], config.fit, vectors=[vectors[i] for i in train])
                policy = policy_from_dict(policy_document(fitted, "lomo", "held-out evaluation", {}))
                assert isinstance(policy, QuestionPolicy)
                probe = probe_rows(pool, config.probe, seed * 1000 + f) if config.probe else []
                if probe:
                    policy = calibrate_policy(policy, probe, h, config.target)
                else:
                    policy = policy.with_target(model=h, **config.target)
                a = acc[h]
                for r in test:
                    d = policy.decide(replace(request_of(r), model=h))
                    lc = d.strategy == "long_context"
                    a["router"] += r.lc_correct if lc else r.rag_correct
                    a["router_tokens"] += r.lc_tokens if lc else r.rag_tokens
                    a["lc_choices"] += lc
                    a["lc"] += r.lc_correct
                    a["rag"] += r.rag_correct
                    a["oracle"] += max(r.lc_correct, r.rag_correct)
                    a["lc_tokens"] += r.lc_tokens
                    a["n"] += 1
                a["probe_tokens"] += sum(p.lc_tokens + p.rag_tokens for p in probe)
                a["probe_ref_tokens"] += sum(r.lc_tokens for r in test)
                if progress:
                    progress(f"seed {seed} model {h} fold {f}: {len(train)} training rows, {len(probe)} probe, {len(test)} evaluated")
    out = []
    for m in models:
        a = acc[m]
        n = a["n"] or 1.0
        out.append(ModelResult(
            model=m, questions=int(a["n"] / max(1, len(config.seeds))), router_acc=a["router"] / n,
            lc_acc=a["lc"] / n, rag_acc=a["rag"] / n, oracle_acc=a["oracle"] / n,
            lc_token_share=a["router_tokens"] / (a["lc_tokens"] or 1.0),
            probe_token_share=a["probe_tokens"] / (a["probe_ref_tokens"] or 1.0),
            lc_choice_share=a["lc_choices"] / n))
    return out


def _filtered(x: Mapping[str, float], fit: FitConfig) -> dict[str, float]:
    """Drop the signals a variant of the experiment leaves out (FitConfig.signals)."""
    if fit.retrieval:
        return dict(x)
    return {k: v for k, v in x.items() if not any(s in k for s in RETRIEVAL_KEYS)}


RETRIEVAL_KEYS = ("bm25_", "dense_", "hybrid_", "no_retrieval")


def summarize(results: Sequence[ModelResult]) -> dict[str, float]:
    gaps = [r.gap_recovered for r in results if r.gap_recovered is not None]
    return {
        "worst_margin": min(r.margin for r in results),
        "mean_gap_recovered": sum(gaps) / len(gaps) if gaps else 0.0,
        "max_lc_token_share": max(r.lc_token_share for r in results),
        "probe_token_share": sum(r.probe_token_share for r in results) / len(results),
    }
