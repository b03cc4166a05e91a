"""`lara allocate`: price a (k, m, n) grid for a task without calling a model, then let the
allocation model pick the configuration with the best predicted performance that fits a budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from lara.allocation.model import AllocationParams, Choice, choose
from lara.allocation.sweep import Estimate, expand, estimate


@dataclass(frozen=True)
class Allocation:
    budget: int
    choices: list[Choice]  # best first
    considered: int
    saturated: int
    too_long: int
    i_doc: float
    i_shot: float


def price_grid(task: str, runners: Sequence[str], ks: Sequence[int], ms: Sequence[int], ns: Sequence[int],
               *, task_params: Mapping[str, Any] | None = None, runner_params: Mapping[str, Any] | None = None,
               limit: int | None = 20, budgets: Sequence[int] = ()) -> list[Estimate]:
    from lara import registry
    from lara.config import resolve_spec
    from lara.engine import load_samples

    probe = resolve_spec(task, runners[0], "local", task_params=task_params)
    task_obj = registry.tasks.get(probe.task)(**probe.task_params)
    samples = load_samples(task_obj, limit)
    if not samples:
        raise ValueError(f"task {task!r} has no samples")
    rp = {"tokenizer": "cl100k", **dict(runner_params or {})}
    return estimate(task_obj, samples, expand(runners, ks, ms, ns), rp, budgets)


def allocate(params: AllocationParams, estimates: Sequence[Estimate], budget: int, task_name: str,
             i_doc: float | None = None, i_shot: float | None = None) -> Allocation:
    """Argmax of the predicted performance over non-saturated configurations whose per-sample
    maximum estimated length fits ``budget``. Informativeness: explicit, else the fitted task's."""
    fi_doc, fi_shot = params.informativeness.get(task_name, (0.0, 0.0))
    i_doc = fi_doc if i_doc is None else i_doc
    i_shot = fi_shot if i_shot is None else i_shot
    usable = [e for e in estimates if not e.saturated]
    cands = [(e.config.runner, e.config.k, e.config.m, e.config.n, e.max_tokens) for e in usable]
    picked = choose(params, cands, budget, i_doc, i_shot)
    return Allocation(budget, picked, len(estimates), len(estimates) - len(usable),
                      sum(1 for e in usable if e.max_tokens > budget), i_doc, i_shot)
