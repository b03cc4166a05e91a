"""The two records an app exchanges with a routing policy: what it knows, what it should do.

Plain frozen dataclasses (standard library only) so that importing them costs nothing and a
decision can be logged with ``dataclasses.asdict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

STRATEGIES = ("long_context", "rag", "iterative_rag", "no_context")
CATEGORIES = ("location", "reasoning", "comparison", "hallucination", "unknown")
# Spellings found in LaRA file names and other tasks' metadata.
CATEGORY_ALIASES = {"loc": "location", "comp": "comparison", "hallu": "hallucination", "": "unknown"}


def normalize_category(category: str | None) -> str:
    c = (category or "unknown").strip().lower()
    c = CATEGORY_ALIASES.get(c, c)
    return c if c in CATEGORIES else "unknown"


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
    (sum of input tokens of all calls, Yue et al. 2024).
    """

    model: str
    context_tokens: int
    category: str = "unknown"
    context_type: str | None = None
    parameters_b: float | None = None
    context_window: int | None = None
    budget_tokens: int | None = None
    open_weights: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("RequestFeatures.model must be a non-empty string")
        if int(self.context_tokens) < 0:
            raise ValueError(f"context_tokens must be >= 0, got {self.context_tokens}")
        object.__setattr__(self, "context_tokens", int(self.context_tokens))
        object.__setattr__(self, "category", normalize_category(self.category))
        for name in ("context_window", "budget_tokens"):
            v = getattr(self, name)
            if v is not None and int(v) <= 0:
                raise ValueError(f"{name} must be positive, got {v}")
        if self.parameters_b is not None and float(self.parameters_b) <= 0:
            raise ValueError(f"parameters_b must be positive, got {self.parameters_b}")


@dataclass(frozen=True)
class Decision:
    """The policy's answer. ``params`` are runner parameters (k, chunk_size, order, m, n...);
    ``expected_scores`` maps strategies to the score the policy expects (empty when it has none)."""

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    policy_version: str = ""
    expected_scores: Mapping[str, float] = field(default_factory=dict)

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
        }
