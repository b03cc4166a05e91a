"""The computation allocation model of Yue et al. (ICLR 2025, arXiv 2410.04343), in pure Python.

sigma^-1(P(theta)) ~= (a + b * i)^T log(theta + 0.01) + c with theta = (k, m, n): k retrieved
documents, m in-context demonstrations, n generation iterations (IterDRAG). i = (i_doc, i_shot, 0)
is the task's informativeness of one document / one demonstration; sigma(x) = s1 / (1 + e^(-s2 (x +
s3))) + s4. The routing package keeps this copy (rather than importing ``lara.allocation``, which
needs numpy) so that it stays standard-library only.

API (small on purpose; the question-level router calls it to offer iterative RAG for a budget):

- ``get_model(source="gemini-1.5-flash", task=None, i_doc=None, i_shot=None) -> AllocationModel``:
  a preset name, a fitted-parameters file written by ``lara fit-allocation -o fitted.json``, or
  that file's content as a dict. ``task`` picks the task's fitted informativeness; explicit
  ``i_doc``/``i_shot`` win.
- ``load_fitted(source) -> FittedAllocation``: the whole fitted file (constants, sigma,
  informativeness per task, grids, fit quality, source runs), validated; ``.model(task)``.
- ``choose(model, budget_tokens, *, doc_tokens, qa_tokens, max_k, max_call_tokens, grid)
  -> Allocation | None``: the (k, m, n) with the best predicted performance among the grid points
  whose estimated effective context length fits the budget (ties -> fewer tokens); None when not
  even one document fits. ``Allocation.predicted`` is the z-normalised performance sigma(x).
- ``AllocationModel.linear(k, m, n)`` / ``.predict(k, m, n)`` and ``estimate_effective_tokens``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

# sigma(x) = s1 / (1 + e^(-s2 (x + s3))) + s4, fitted in Yue et al. (ICLR 2025, arXiv 2410.04343).
PAPER_SIGMA = (3.30, 1.81, 0.46, -2.18)

# The grids of Yue et al. (ICLR 2025, arXiv 2410.04343).
K_GRID = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
M_GRID = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
N_GRID = (1, 2, 3, 4, 5)
PAPER_GRID = {"k": K_GRID, "m": M_GRID, "n": N_GRID}

# The fitted-parameters file written by `lara fit-allocation` (lara.allocation.model.fitted_document).
FITTED_FORMAT = "lara.allocation.fitted"
FITTED_VERSION = 1


class AllocationFileError(ValueError):
    """A fitted-parameters file that is missing or malformed; the message names it."""


@dataclass(frozen=True)
class AllocationModel:
    """Six coefficients (b_n is fixed to 0 by the paper), sigma, and the task's informativeness."""

    a: tuple[float, float, float]
    b: tuple[float, float]
    c: float
    i_doc: float = 0.0
    i_shot: float = 0.0
    name: str = ""
    sigma: tuple[float, float, float, float] = PAPER_SIGMA

    def linear(self, k: int, m: int, n: int) -> float:
        lk, lm, ln = math.log(k + 0.01), math.log(m + 0.01), math.log(n + 0.01)
        return (
            (self.a[0] + self.b[0] * self.i_doc) * lk
            + (self.a[1] + self.b[1] * self.i_shot) * lm
            + self.a[2] * ln
            + self.c
        )

    def predict(self, k: int, m: int, n: int) -> float:
        """Predicted z-normalised performance sigma(linear(k, m, n))."""
        s1, s2, s3, s4 = self.sigma
        return s1 / (1.0 + math.exp(-s2 * (self.linear(k, m, n) + s3))) + s4

    @property
    def increasing(self) -> bool:
        """Whether sigma increases with x (a refitted sigma may not): orders the argmax."""
        return self.sigma[0] * self.sigma[1] > 0


# Fitted on Gemini 1.5 Flash in the paper (R^2 0.903). i_doc / i_shot default to 0 (no
# task-specific informativeness measured); a policy JSON can override them.
GEMINI_15_FLASH = AllocationModel(
    a=(0.325, 0.101, 0.177), b=(-0.067, -0.008), c=-0.730, name="gemini-1.5-flash (Yue et al. 2024)"
)
PRESETS = {"gemini-1.5-flash": GEMINI_15_FLASH, "paper": GEMINI_15_FLASH}


# -- fitted files -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FittedAllocation:
    """The content of a fitted-parameters file (see ``lara fit-allocation``)."""

    name: str
    a: tuple[float, float, float]
    b: tuple[float, float]
    c: float
    sigma: tuple[float, float, float, float]
    informativeness: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    grids: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    fit: Mapping[str, Any] = field(default_factory=dict)
    model_id: str | None = None
    source_runs: tuple[Mapping[str, Any], ...] = ()
    origin: str = "<dict>"

    def model(self, task: str | None = None, i_doc: float | None = None, i_shot: float | None = None) -> AllocationModel:
        """The allocation model for ``task`` (its fitted informativeness; 0 for an unknown task)."""
        if task is not None and task not in self.informativeness:
            known = ", ".join(sorted(self.informativeness)) or "none"
            raise AllocationFileError(f"{self.origin}: no informativeness for task {task!r} (fitted tasks: {known})")
        fd, fs = self.informativeness.get(task, (0.0, 0.0)) if task is not None else (0.0, 0.0)
        return AllocationModel(self.a, self.b, self.c, fd if i_doc is None else float(i_doc),
                               fs if i_shot is None else float(i_shot), self.name, self.sigma)


def _numbers(d: Mapping[str, Any], key: str, n: int, origin: str) -> tuple[float, ...]:
    v = d.get(key)
    if not isinstance(v, (list, tuple)) or len(v) != n or not all(isinstance(x, (int, float)) for x in v):
        raise AllocationFileError(f"{origin}: {key!r} must be a list of {n} numbers, got {v!r}")
    out = tuple(float(x) for x in v)
    if not all(math.isfinite(x) for x in out):
        raise AllocationFileError(f"{origin}: {key!r} has a non-finite value: {v!r}")
    return out


def fitted_from_dict(d: Mapping[str, Any], origin: str = "<dict>") -> FittedAllocation:
    if not isinstance(d, Mapping):
        raise AllocationFileError(f"{origin}: a fitted-parameters file must be a JSON object")
    if d.get("format") != FITTED_FORMAT:
        raise AllocationFileError(f"{origin}: format {d.get('format')!r} is not {FITTED_FORMAT!r} "
                                  "(write one with `lara fit-allocation ... -o fitted.json`)")
    if int(d.get("format_version", 0)) > FITTED_VERSION:
        raise AllocationFileError(f"{origin}: format_version {d['format_version']} is newer than {FITTED_VERSION}")
    b = d.get("b")
    b3 = _numbers(d, "b", 3, origin) if isinstance(b, (list, tuple)) and len(b) == 3 else _numbers(d, "b", 2, origin)
    if len(b3) == 3 and b3[2] != 0.0:
        raise AllocationFileError(f"{origin}: b_n must be 0 (fixed by the model), got {b3[2]}")
    c = d.get("c")
    if not isinstance(c, (int, float)) or not math.isfinite(float(c)):
        raise AllocationFileError(f"{origin}: 'c' must be a number, got {c!r}")
    info = {}
    for task, v in (d.get("informativeness") or {}).items():
        pair = (v.get("i_doc"), v.get("i_shot")) if isinstance(v, Mapping) else v
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise AllocationFileError(f"{origin}: informativeness[{task!r}] must give i_doc and i_shot")
        info[str(task)] = (float(pair[0]), float(pair[1]))
    grids = {str(k): tuple(int(x) for x in v) for k, v in (d.get("grids") or {}).items() if k in ("k", "m", "n")}
    model = d.get("model")
    return FittedAllocation(
        name=str(d.get("name", "fitted")), a=_numbers(d, "a", 3, origin), b=(b3[0], b3[1]),  # type: ignore[arg-type]
        c=float(c), sigma=_numbers(d, "sigma", 4, origin), informativeness=info, grids=grids,  # type: ignore[arg-type]
        fit=dict(d.get("fit") or {}), model_id=None if model is None else str(model),
        source_runs=tuple(d.get("source_runs") or ()), origin=origin)


def load_fitted(source: str | Path | Mapping[str, Any]) -> FittedAllocation:
    """A fitted-parameters file (path) or its content (dict), validated."""
    if isinstance(source, Mapping):
        return fitted_from_dict(source)
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AllocationFileError(f"fitted-parameters file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise AllocationFileError(f"{path}: invalid JSON: {exc}") from exc
    return fitted_from_dict(data, str(path))


def get_model(source: str | Path | Mapping[str, Any] = "gemini-1.5-flash", task: str | None = None,
              i_doc: float | None = None, i_shot: float | None = None) -> AllocationModel:
    """A preset by name, or a fitted file / dict, as an AllocationModel for ``task``."""
    if isinstance(source, str) and source in PRESETS:
        m = PRESETS[source]
        return replace(m, i_doc=m.i_doc if i_doc is None else float(i_doc), i_shot=m.i_shot if i_shot is None else float(i_shot))
    if isinstance(source, str) and not Path(source).suffix and not Path(source).exists():
        raise AllocationFileError(f"unknown allocation preset {source!r}; presets: {', '.join(PRESETS)} (or a fitted .json)")
    return load_fitted(source).model(task, i_doc, i_shot)


# -- choosing ---------------------------------------------------------------------------------
def estimate_effective_tokens(k: int, m: int, n: int, doc_tokens: int, qa_tokens: int) -> int:
    """Rough effective context length of one question.

    Assumptions: each of the m demonstrations carries its own k documents plus a question/answer
    (``qa_tokens``), the test input carries k documents plus the question, and each of the n
    iterations re-reads about that much input (IterDRAG appends sub-query documents as it goes, so
    this undercounts late iterations and overcounts nothing). Output tokens are excluded, as in
    the paper's definition.
    """
    return n * (m + 1) * (k * doc_tokens + qa_tokens)


@dataclass(frozen=True)
class Allocation:
    k: int
    m: int
    n: int
    estimated_tokens: int
    predicted: float


def candidates(
    budget_tokens: int,
    doc_tokens: int,
    qa_tokens: int,
    max_k: int | None = None,
    max_call_tokens: int | None = None,
    grid: Mapping[str, Sequence[int]] | None = None,
) -> Iterator[Allocation]:
    """Every grid point (default: the paper's) whose estimated effective length fits
    ``budget_tokens`` and whose single call (m+1 blocks of k documents) fits ``max_call_tokens``
    (the model's window); k >= 1."""
    g = {**PAPER_GRID, **dict(grid or {})}
    for k in g["k"]:
        if k == 0 or (max_k is not None and k > max_k):
            continue
        for m in g["m"]:
            for n in g["n"]:
                est = estimate_effective_tokens(k, m, n, doc_tokens, qa_tokens)
                per_call = (m + 1) * (k * doc_tokens + qa_tokens)
                if est <= budget_tokens and (max_call_tokens is None or per_call <= max_call_tokens):
                    yield Allocation(k, m, n, est, 0.0)


def choose(
    model: AllocationModel,
    budget_tokens: int,
    *,
    doc_tokens: int = 600,
    qa_tokens: int = 64,
    max_k: int | None = None,
    max_call_tokens: int | None = None,
    grid: Mapping[str, Sequence[int]] | None = None,
) -> Allocation | None:
    """Argmax of the predicted performance over configurations that fit; ties -> fewer tokens.

    sigma is monotone, so the argmax of the linear predictor (negated when a fitted sigma
    decreases) is exact and free of sigma's saturation. None when not even one document fits.
    """
    sign = 1.0 if model.increasing else -1.0
    best: Allocation | None = None
    best_key: tuple[float, int] | None = None
    for cand in candidates(budget_tokens, doc_tokens, qa_tokens, max_k, max_call_tokens, grid):
        key = (sign * model.linear(cand.k, cand.m, cand.n), -cand.estimated_tokens)
        if best_key is None or key > best_key:
            best, best_key = cand, key
    if best is None:
        return None
    return Allocation(best.k, best.m, best.n, best.estimated_tokens, model.predict(best.k, best.m, best.n))
