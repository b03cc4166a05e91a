"""Routing policies: a JSON document in, ``decide(features) -> Decision`` out.

Every policy is built from a plain dict (the versioned JSON shipped in ``policies/``) and can be
written back with ``to_dict``, so a fitted policy is data an app can pin, diff and review.
Kinds: always_lc, always_rag, rules, fitted, budget, self_route.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from lara.routing import allocation
from lara.routing.types import Decision, RequestFeatures, normalize_model_id

FORMAT = "lara.routing.policy"
FORMAT_VERSION = 1
# LaRA paper RAG settings (600-token chunks, 100 overlap, 5 chunks ordered by reranker score).
DEFAULT_RAG = {"k": 5, "chunk_size": 600, "chunk_overlap": 100, "order": "score"}
# Cheaper first: breaks ties between equal expected scores in favour of fewer tokens.
COST_ORDER = ("no_context", "rag", "iterative_rag", "long_context")
_SNAPSHOT = re.compile(r"-(\d{4}-?\d{2}-?\d{2}|\d{4}|latest|preview)$")


@dataclass(frozen=True)
class Policy:
    """Common fields; subclasses implement ``decide``."""

    name: str
    kind: str
    version: str
    description: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def decide(self, features: RequestFeatures) -> Decision:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "description": self.description,
            "source": dict(self.source),
            "params": _plain(self.params),
        }

    def _decision(self, strategy: str, reason: str, params: Mapping[str, Any] | None = None,
                  expected: Mapping[str, float] | None = None) -> Decision:
        if params is None:
            params = self.rag_params() if strategy == "rag" else {}
        return Decision(strategy, dict(params), reason, f"{self.name}@{self.version}", dict(expected or {}))

    def rag_params(self) -> dict[str, Any]:
        return {**DEFAULT_RAG, **dict(self.params.get("rag", {}))}

    def window_of(self, features: RequestFeatures) -> int | None:
        return features.context_window

    def exceeds_window(self, features: RequestFeatures) -> tuple[bool, str]:
        """Whether the whole context cannot fit the model's (effective) window."""
        window = self.window_of(features)
        if window is None:
            return False, ""
        frac = float(self.params.get("effective_window_fraction", 1.0))
        reserve = int(self.params.get("reserve_tokens", 1000))
        usable = int(window * frac) - reserve
        if features.context_tokens > usable:
            return True, f"context {features.context_tokens} tokens exceeds usable window {usable} of {window}"
        return False, ""


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


@dataclass(frozen=True)
class AlwaysPolicy(Policy):
    """A constant anchor (always_lc / always_rag)."""

    def decide(self, features: RequestFeatures) -> Decision:
        strategy = "long_context" if self.kind == "always_lc" else "rag"
        reason = f"constant policy {self.kind}"
        over, why = self.exceeds_window(features)
        if over and strategy == "long_context":
            reason += f"; {why}: the context will be truncated"
        return self._decision(strategy, reason)


@dataclass(frozen=True)
class RulesPolicy(Policy):
    """Hand-written rules from LaRA's average LC-RAG gaps (Li et al., ICML 2025, arXiv 2502.09977): LC wins
    comparison at both lengths, RAG wins hallucination, and RAG catches up with length."""

    def decide(self, features: RequestFeatures) -> Decision:
        p = self.params
        over, why = self.exceeds_window(features)
        if over:
            return self._decision("rag", why)
        if features.context_tokens <= int(p.get("short_context_tokens", 4000)):
            return self._decision("long_context", "context is short: RAG would retrieve most of it anyway")
        rule = dict(p.get("category_rules", {})).get(features.category)
        if rule:
            return self._decision(rule, f"category {features.category} -> {rule}")
        limit = int(p.get("long_context_max_tokens", 48000))
        if features.context_tokens <= limit:
            return self._decision("long_context", f"context {features.context_tokens} <= {limit} tokens")
        return self._decision("rag", f"context {features.context_tokens} > {limit} tokens")


@dataclass(frozen=True)
class FittedPolicy(Policy):
    """Per (model or model class, length bucket, category) expected score of each strategy.

    Resolution: a known model id (or its dated snapshot) uses its own row; otherwise the model's
    class (open weights vs proprietary: given, or inferred as open when a parameter count is
    given); otherwise the pooled table over all models.
    """

    _ids: Mapping[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # id and alias -> model key, built once so decide() is a few dict lookups.
        ids = {}
        for key, info in self.params.get("models", {}).items():
            ids[key] = key
            for alias in info.get("aliases", ()):
                ids.setdefault(alias, key)
        object.__setattr__(self, "_ids", ids)

    def resolve_model(self, features: RequestFeatures) -> str | None:
        mid = normalize_model_id(features.model)
        key = self._ids.get(mid)
        if key is None:
            base = _SNAPSHOT.sub("", mid)
            key = self._ids.get(base) if base != mid else None
        return key

    def window_of(self, features: RequestFeatures) -> int | None:
        if features.context_window is not None:
            return features.context_window
        key = self.resolve_model(features)
        return self.params.get("models", {}).get(key, {}).get("context_window") if key else None

    def model_class(self, features: RequestFeatures, key: str | None) -> str | None:
        if features.open_weights is not None:
            return "open" if features.open_weights else "proprietary"
        if key is not None:
            return self.params["models"][key].get("group")
        if features.parameters_b is not None:
            return "open"  # assumption: a published parameter count means open weights
        return None

    def bucket(self, tokens: int) -> str:
        buckets = self.params["length_buckets"]
        for b in buckets:
            if b.get("max_tokens") is None or tokens <= b["max_tokens"]:
                return b["name"]
        return buckets[-1]["name"]

    def lookup(self, features: RequestFeatures) -> tuple[dict[str, float], str]:
        table = self.params["table"]
        key = self.resolve_model(features)
        bucket = self.bucket(features.context_tokens)
        cls = self.model_class(features, key)
        levels = [("model", key, f"model {key}"), ("class", cls, f"model class {cls}"), ("all", "*", "all models")]
        for level, k, label in levels:
            cells = table.get(level, {}).get(k, {}).get(bucket, {}) if k is not None else {}
            cell = cells.get(features.category) or cells.get("unknown")
            if cell:
                return dict(cell), f"{label}, {bucket}, {features.category}"
        return {}, f"no fitted cell for {bucket}"

    def decide(self, features: RequestFeatures) -> Decision:
        over, why = self.exceeds_window(features)
        scores, where = self.lookup(features)
        if over:
            return self._decision("rag", why, expected=scores)
        if not scores:
            fallback = self.params.get("fallback_strategy", "rag")
            return self._decision(fallback, where + f"; fallback {fallback}")
        best = max(scores, key=lambda s: (scores[s], -COST_ORDER.index(s)))
        detail = ", ".join(f"{s} {v:.1f}" for s, v in sorted(scores.items(), key=lambda kv: -kv[1]))
        params = dict(self.params.get("strategy_params", {}).get(best, {}))
        if best == "rag":
            params = {**self.rag_params(), **params}
        return self._decision(best, f"best expected score for {where}: {detail}", params, scores)


@dataclass(frozen=True)
class BudgetPolicy(Policy):
    """Spends a per-question token budget: LC when the base policy prefers it and it fits,
    otherwise the allocation model's best (k, m, n) among configurations that fit.

    The model: ``params.fitted`` — a fitted-parameters file written by ``lara fit-allocation``
    (path, relative to the working directory) or its content inline — with its own a, b, c and
    sigma, and the fitted informativeness of ``params.task``; else the named ``allocation_preset``.
    Informativeness comes either from ``task`` or from explicit ``i_doc`` / ``i_shot``, never both
    (a copied policy that still says ``i_doc: 0`` would silently override the fit). ``grid: fitted``
    restricts the choice to the (k, m, n) values the fit observed (default: the paper's grids).
    """

    _base: Any = field(default=None, init=False, repr=False, compare=False)
    _model: Any = field(default=None, init=False, repr=False, compare=False)
    _grid: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Resolved once: decide() must not re-read JSON on every call.
        from lara.routing.loader import load_policy, policy_from_dict

        base = self.params.get("base", "default")
        object.__setattr__(self, "_base", policy_from_dict(base) if isinstance(base, Mapping) else load_policy(base))
        p = self.params
        i_doc = None if p.get("i_doc") is None else float(p["i_doc"])
        i_shot = None if p.get("i_shot") is None else float(p["i_shot"])
        grid = None
        if p.get("task") is not None and (i_doc is not None or i_shot is not None):
            raise ValueError("budget policy: give params.task (its fitted informativeness) or i_doc/i_shot, not both")
        if p.get("fitted") is not None:
            fitted = allocation.load_fitted(p["fitted"])
            model = fitted.model(p.get("task"), i_doc, i_shot)
            if p.get("grid", "paper") == "fitted":
                grid = dict(fitted.grids)
        else:
            model = allocation.get_model(p.get("allocation_preset", "gemini-1.5-flash"), None, i_doc, i_shot)
        if p.get("grid", "paper") not in ("paper", "fitted"):
            raise ValueError(f"budget policy: grid must be 'paper' or 'fitted', got {p.get('grid')!r}")
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_grid", grid)

    def base(self) -> Policy:
        return self._base

    def model(self) -> allocation.AllocationModel:
        return self._model

    def decide(self, features: RequestFeatures) -> Decision:
        base = self.base().decide(replace(features, budget_tokens=None))
        if features.budget_tokens is None:
            return replace(base, reason=f"no budget given; {base.reason}", policy_version=f"{self.name}@{self.version}")
        budget = features.budget_tokens
        overhead = int(self.params.get("lc_overhead_tokens", 200))
        if base.strategy == "long_context" and features.context_tokens + overhead <= budget:
            return self._decision("long_context", f"fits budget {budget}; {base.reason}", {}, base.expected_scores)
        doc = int(self.params.get("doc_tokens", DEFAULT_RAG["chunk_size"]))
        qa = int(self.params.get("qa_tokens", 64))
        max_k = max(1, math.ceil(features.context_tokens / doc))
        window = self.base().window_of(features) or self.window_of(features)
        max_call = window - int(self.params.get("reserve_tokens", 1000)) if window else None
        best = allocation.choose(self.model(), budget, doc_tokens=doc, qa_tokens=qa, max_k=max_k,
                                 max_call_tokens=max_call, grid=self._grid)
        if best is None:
            return self._decision("no_context", f"budget {budget} below one {doc}-token document", {})
        why = (f"allocation model {self.model().name} argmax under budget {budget}: k={best.k} m={best.m} "
               f"n={best.n}, ~{best.estimated_tokens} tokens, predicted {best.predicted:.3f}")
        if best.m == 0 and best.n == 1:
            return self._decision("rag", why, {**self.rag_params(), "k": best.k}, {"rag": best.predicted})
        params = {"k": best.k, "m": best.m, "n": best.n, "chunk_size": doc, "estimated_tokens": best.estimated_tokens}
        return self._decision("iterative_rag", why, params, {"iterative_rag": best.predicted})


@dataclass(frozen=True)
class SelfRoutePolicy(Policy):
    """Self-Route (Li et al. 2024, arXiv 2407.16833): answer with RAG, allowed to say
    'unanswerable'; declined questions fall back to LC (runner ``self_route``)."""

    def decide(self, features: RequestFeatures) -> Decision:
        params = {**self.rag_params(), "runner": "self_route", "unanswerable_option": True,
                  "fallback": "long_context"}
        reason = "RAG with an 'unanswerable' option; declined questions fall back to long context"
        over, why = self.exceeds_window(features)
        if over:
            reason += f" ({why}: the fallback will be truncated)"
        return self._decision("rag", reason, params)


KINDS: dict[str, Callable[..., Policy]] = {
    "always_lc": AlwaysPolicy,
    "always_rag": AlwaysPolicy,
    "rules": RulesPolicy,
    "fitted": FittedPolicy,
    "budget": BudgetPolicy,
    "self_route": SelfRoutePolicy,
}
