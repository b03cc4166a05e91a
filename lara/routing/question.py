"""The question-level router (policy kind ``question``): decides per request, standard library only.

For each of LC and RAG it predicts P(correct) = sigmoid(shared logit + model offset), where the
shared logit reads the request's features (:mod:`lara.routing.features`) and the model offset
(:mod:`lara.routing.calibrate`) places the model: a probe-calibrated model's own offset, else a
training model's fitted offset when the request names one, else the mean offset of its class
(open weights / proprietary, when given), else the mean over all training models. It then picks
the option by the cost rule of :func:`lara.routing.calibrate.choose_lc` and returns both expected
accuracies and both expected input token counts. A context that does not fit the model's window
goes to RAG. Iterative RAG is reached through the ``budget`` policy (per-question token budget,
allocation model), which can take this policy as its base: LaRA's recorded predictions hold no
iterative runs, so this policy has no per-question evidence for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from lara.errors import ConfigError
from lara.routing import calibrate
from lara.routing.features import FEATURE_VERSION, sigmoid, vector
from lara.routing.policy import Policy
from lara.routing.types import Decision, RequestFeatures, normalize_model_id

STRATEGIES = ("long_context", "rag")
# The model offset's basis u(x): feature names, "1" for the intercept. A policy stores its own
# (params.offsets.basis); this is the default of lara.routing.train.
BASIS = ("1", "ctx", "cat=location", "cat=reasoning", "cat=comparison", "cat=hallucination")


def basis_of(x: Mapping[str, float], basis: Sequence[str] = BASIS) -> list[float]:
    return [1.0 if b == "1" else x.get(b, 0.0) for b in basis]


@dataclass(frozen=True)
class QuestionPolicy(Policy):
    """P(correct) of LC and RAG per request from a fitted prior and a per-model offset."""

    _ids: Mapping[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = self.params
        if int(p.get("feature_version", -1)) != FEATURE_VERSION:
            raise ConfigError(f"policy {self.name}: feature_version {p.get('feature_version')} is not "
                             f"{FEATURE_VERSION}; refit it with this lara")
        ids: dict[str, str] = {}
        for key in p.get("offsets", {}).get("models", {}):
            ids[key] = key
            for alias in p.get("model_info", {}).get(key, {}).get("aliases", ()):
                ids.setdefault(normalize_model_id(alias), key)
        object.__setattr__(self, "_ids", ids)

    # -- the model's offset ------------------------------------------------------------------
    def offsets_for(self, features: RequestFeatures) -> tuple[dict[str, list[float]], str]:
        """Per-strategy offset vectors on the policy's basis and where they came from."""
        p = self.params
        off = p["offsets"]
        mid = normalize_model_id(features.model)
        known = self._ids.get(mid)
        cal = p.get("calibrated")
        if cal and (known is None or mid in {normalize_model_id(a) for a in cal.get("aliases", [])}
                    or mid == normalize_model_id(cal.get("model", ""))):
            n = cal.get("probe", {}).get("questions", 0)
            return _vecs(cal["offsets"], self.basis), f"model {cal.get('model')} calibrated on a {n}-question probe"
        if known is not None:
            return _vecs(off["models"][known], self.basis), f"model {known} (seen in training)"
        group = None
        if features.open_weights is not None:
            group = "open" if features.open_weights else "proprietary"
        elif features.parameters_b is not None:
            group = "open"  # assumption: a published parameter count means open weights
        classes = off.get("classes", {})
        if group in classes:
            return _vecs(classes[group]["mean"], self.basis), f"unseen model, mean of the {group} training models"
        return _vecs(off["prior"]["mean"], self.basis), "unseen model, mean of the training models"

    # -- prediction ------------------------------------------------------------------------
    def features_of(self, features: RequestFeatures) -> tuple[dict[str, float], str]:
        return request_vector(features, int(self.params.get("hash_buckets", 0)))

    @property
    def basis(self) -> tuple[str, ...]:
        return tuple(self.params["offsets"].get("basis", BASIS))

    def probabilities(self, x: Mapping[str, float], offsets: Mapping[str, list[float]]) -> dict[str, float]:
        u = basis_of(x, self.basis)
        out = {}
        for s in STRATEGIES:
            m = self.params["strategies"][s]
            w = m["weights"]
            eta = m["bias"] + sum(v * w.get(k, 0.0) for k, v in x.items())
            out[s] = sigmoid(eta + sum(a * b for a, b in zip(offsets[s], u)))
        return out

    def tokens(self, features: RequestFeatures) -> dict[str, int]:
        t = self.params.get("tokens", {})
        lc = features.context_tokens + int(t.get("lc_overhead", 100))
        window = self.window_of(features)
        if window:
            lc = min(lc, window - int(self.params.get("reserve_tokens", 1000)))
        rag = int(t.get("rag_tokens", 3200))
        return {"long_context": lc, "rag": min(rag, lc)}

    # -- decision ------------------------------------------------------------------------------
    def decide(self, features: RequestFeatures) -> Decision:
        x, cat = self.features_of(features)
        offsets, who = self.offsets_for(features)
        probs = self.probabilities(x, offsets)
        toks = self.tokens(features)
        expected = dict(probs)
        over, why = self.exceeds_window(features)
        if over:
            return self._decide_as("rag", f"{why}; {who}", expected, toks)
        target = self.params.get("target") or {"kind": "accuracy", "lam": 0.0, "tau": 0.0}
        lam, tau = float(target.get("lam", 0.0)), float(target.get("tau", 0.0))
        gain = probs["long_context"] - probs["rag"]
        extra = toks["long_context"] - toks["rag"]
        lc = calibrate.choose_lc(gain, extra, lam, tau)
        strategy = "long_context" if lc else "rag"
        cost = f" - {lam:.4g}/1k x {extra} extra tokens" if lam else ""
        bar = f" > {tau:.3f}" if tau else " > 0"
        reason = (f"P(correct) LC {probs['long_context']:.2f} vs RAG {probs['rag']:.2f} "
                  f"({who}; {cat}); net gain of LC {gain:+.3f}{cost} {'' if lc else 'not '}{bar.strip()} "
                  f"[target {_target_label(target)}]")
        return self._decide_as(strategy, reason, expected, toks)

    def _decide_as(self, strategy: str, reason: str, expected: Mapping[str, float], toks: Mapping[str, int]) -> Decision:
        params = self.rag_params() if strategy == "rag" else {}
        d = self._decision(strategy, reason, params, expected)
        return replace(d, expected_tokens=dict(toks))

    # -- targets -------------------------------------------------------------------------------
    def reference_requests(self, offsets: Mapping[str, list[float]]) -> list[tuple[float, float, float, float]]:
        """(p_lc, p_rag, lc_tokens, rag_tokens) of the stored reference questions under ``offsets``."""
        out = []
        for eta_lc, eta_rag, *u, lt, rt in self.params.get("reference", []):
            p_lc = sigmoid(eta_lc + sum(a * b for a, b in zip(offsets["long_context"], u)))
            p_rag = sigmoid(eta_rag + sum(a * b for a, b in zip(offsets["rag"], u)))
            out.append((p_lc, p_rag, float(lt), float(rt)))
        return out

    def with_target(self, model: str | None = None, **target: Any) -> "QuestionPolicy":
        """A copy that meets ``target`` (kind=max_lc_share|max_lc_token_share|price|accuracy and
        value / price_per_1k + value_per_correct), calibrated on the policy's reference questions
        as the calibrated model (or ``model``) would see them."""
        feats = RequestFeatures(model=model or self.params.get("calibrated", {}).get("model") or "unknown",
                                context_tokens=0)
        offsets, _ = self.offsets_for(feats)
        rule = calibrate.calibrate_target(self.reference_requests(offsets), target)
        params = dict(self.params)
        params["target"] = {**{k: v for k, v in target.items()}, **rule}
        return replace(self, params=params)


def request_vector(features: RequestFeatures, hash_buckets: int) -> tuple[dict[str, float], str]:
    """The feature vector of a request and how its category was obtained. Training rows go
    through this same function (:func:`lara.routing.train.row_vector`)."""
    from lara.routing.category import category_probs_for

    given = None if features.category == "unknown" else features.category
    probs = category_probs_for(features.question, given)
    if given:
        how = f"category {given}"
    elif features.question:
        best = max(probs, key=lambda c: probs[c])
        how = f"category predicted {best} ({probs[best]:.2f})"
    else:
        how = "category unknown (class frequencies)"
    x = vector(context_tokens=features.context_tokens, category_probs=probs,
               context_type=features.context_type, question=features.question,
               retriever=features.retriever, retrieval_scores=features.retrieval_scores or (),
               retrieval_positions=features.retrieval_positions or (), hash_buckets=hash_buckets)
    return x, how


def _vecs(offsets: Mapping[str, Mapping[str, float]], basis: Sequence[str]) -> dict[str, list[float]]:
    return {s: [float(offsets[s].get(b, 0.0)) for b in basis] for s in STRATEGIES}


def _target_label(target: Mapping[str, Any]) -> str:
    kind = target.get("kind", "accuracy")
    if kind == "price":
        return f"price {target.get('price_per_1k')}/1k tokens, value {target.get('value_per_correct')}/correct"
    if kind in ("max_lc_share", "max_lc_token_share"):
        return f"{kind} {target.get('value')}"
    return "best expected accuracy"

