"""The two records an app exchanges with a routing policy: what it knows, what it should do.

Plain frozen dataclasses (standard library only) so that importing them costs nothing and a
decision can be logged with ``dataclasses.asdict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from lara.errors import ConfigError
from lara.vocabulary import CATEGORIES as LARA_CATEGORIES
from lara.vocabulary import check_category, check_choice

STRATEGIES = ("long_context", "rag", "iterative_rag", "no_context")
CATEGORIES = ("location", "reasoning", "comparison", "hallucination", "unknown")
# Spellings found in LaRA file names and other tasks' metadata.
CATEGORY_ALIASES = {"loc": "location", "reas": "reasoning", "comp": "comparison", "hallu": "hallucination", "": "unknown"}


RETRIEVERS = ("bm25", "dense", "hybrid")


def normalize_category(category: str | None) -> str:
    """Lenient: records of other tasks carry their own categories, which are simply not LaRA's."""
    c = (category or "unknown").strip().lower()
    c = CATEGORY_ALIASES.get(c, c)
    return c if c in CATEGORIES else "unknown"


def check_request_category(category: str | None) -> str:
    """Strict, for requests: a typo must never silently change a decision. ``unknown`` (or None)
    means "not given": a question-level policy then predicts it from the question text."""
    if category is None or not str(category).strip():
        return "unknown"
    try:
        return check_category(str(category), (*LARA_CATEGORIES, "unknown"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def normalize_model_id(model: str) -> str:
    """'openai:GPT-4o-mini' -> 'gpt-4o-mini'; 'replay:/p/llama-3.1-8b' -> 'llama-3.1-8b'.

    Backend prefixes and paths carry no information about the model's behaviour, so they are
    dropped before the id is matched against a policy's known models.
    """
    m = model.strip()
    if ":" in m:
        m = m.split(":", 1)[1] or m.split(":", 1)[0]
    m = m.rstrip("/").rsplit("/", 1)[-1]
    return m.lower()


@dataclass(frozen=True)
class RequestFeatures:
    """What an app knows before it sends a request.

    ``parameters_b`` (billions) and ``open_weights`` are optional; they only matter for models a
    fitted policy has never seen. ``budget_tokens`` is the effective-context budget per question
    (sum of input tokens of all calls, Yue et al. 2024). ``question`` (its text) and, when the app
    has already retrieved, ``retrieval_scores`` of its top chunks (best first) from ``retriever``
    (``bm25``, ``dense`` or lara's ``hybrid``: 3 BM25 hits then the new dense hits), with their
    ``retrieval_positions`` in the context (0 = start, 1 = end), are optional signals for
    question-level policies. ``category`` must be a LaRA category (or abbreviation) or
    ``unknown``; anything else raises :class:`lara.errors.ConfigError` with a did-you-mean.
    """

    model: str
    context_tokens: int
    category: str = "unknown"
    context_type: str | None = None
    parameters_b: float | None = None
    context_window: int | None = None
    budget_tokens: int | None = None
    open_weights: bool | None = None
    question: str | None = None
    retrieval_scores: Sequence[float] | None = None
    retriever: str | None = None
    retrieval_positions: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("RequestFeatures.model must be a non-empty string")
        if int(self.context_tokens) < 0:
            raise ConfigError(f"context_tokens must be >= 0, got {self.context_tokens}")
        object.__setattr__(self, "context_tokens", int(self.context_tokens))
        object.__setattr__(self, "category", check_request_category(self.category))
        if self.retrieval_scores is not None:
            scores = tuple(float(v) for v in self.retrieval_scores)
            object.__setattr__(self, "retrieval_scores", scores)
            if scores and self.retriever is None:
                raise ConfigError("retrieval_scores need retriever= (bm25, dense or hybrid)")
        if self.retrieval_positions is not None:
            pos = tuple(float(v) for v in self.retrieval_positions)
            if any(not 0.0 <= v <= 1.0 for v in pos):
                raise ConfigError("retrieval_positions are relative (0 = start of the context, 1 = end)")
            if len(pos) != len(self.retrieval_scores or ()):
                raise ConfigError("retrieval_positions need one position per retrieval score")
            object.__setattr__(self, "retrieval_positions", pos)
        if self.retriever is not None:
            try:
                check_choice("retriever", str(self.retriever).lower(), RETRIEVERS)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for name in ("context_window", "budget_tokens"):
            v = getattr(self, name)
            if v is not None and int(v) <= 0:
                raise ValueError(f"{name} must be positive, got {v}")
        if self.parameters_b is not None and float(self.parameters_b) <= 0:
            raise ValueError(f"parameters_b must be positive, got {self.parameters_b}")


@dataclass(frozen=True)
class Decision:
    """The policy's answer. ``params`` are runner parameters (k, chunk_size, order, m, n...);
    ``expected_scores`` maps strategies to the score the policy expects (empty when it has none);
    ``expected_tokens`` maps them to the input tokens they would send (empty when unknown)."""

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    policy_version: str = ""
    expected_scores: Mapping[str, float] = field(default_factory=dict)
    expected_tokens: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; valid: {', '.join(STRATEGIES)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "params": dict(self.params),
            "reason": self.reason,
            "policy_version": self.policy_version,
            "expected_scores": dict(self.expected_scores),
            "expected_tokens": dict(self.expected_tokens),
        }
