"""From sweep results to a fitted-parameters file: what ``lara fit-allocation`` does.

One model per file: the allocation model describes how one LLM's performance scales (the paper
fits Gemini 1.5 Flash), so results holding several models must name the one to fit. Each
configuration result (task, runner, k, m, n, mean score) is one observation; the runner travels
with it so informativeness is read from single-call DRAG runs only (lara.allocation.model).
"""

from __future__ import annotations

from typing import Any, Sequence

from lara.allocation.model import AllocationParams, Observation, fit, fitted_document
from lara.allocation.sweep import ConfigResult
from lara.errors import ConfigError

SIGMA_CHOICES = ("fit", "paper")


def select_model(results: Sequence[ConfigResult], model: str | None) -> tuple[str, list[ConfigResult]]:
    models = sorted({r.model for r in results})
    if not models:
        raise ConfigError("no drag/iterdrag results found")
    if model is None:
        if len(models) > 1:
            raise ConfigError(f"the results hold runs of {len(models)} models ({', '.join(models)}); "
                              "fit one at a time with --model")
        model = models[0]
    mine = [r for r in results if r.model == model]
    if not mine:
        raise ConfigError(f"no runs of model {model!r}; models found: {', '.join(models)}")
    return model, mine


def observations(results: Sequence[ConfigResult]) -> list[Observation]:
    return [Observation(r.task, r.config.k, r.config.m, r.config.n, float(r.mean), r.config.runner)
            for r in results if r.mean is not None]


def fit_results(results: Sequence[ConfigResult], *, model: str | None = None, name: str = "fitted",
                sigma: str = "fit") -> tuple[AllocationParams, dict[str, Any], list[Observation]]:
    """(parameters, the fitted-parameters document, the observations) for one model's results."""
    if sigma not in SIGMA_CHOICES:
        raise ConfigError(f"--sigma must be one of {', '.join(SIGMA_CHOICES)}, got {sigma!r}")
    model, mine = select_model(results, model)
    obs = observations(mine)
    try:
        params = fit(obs, name=name, refit_sigma=sigma == "fit")
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from None
    refit_failed = any(n.startswith("sigma refit failed") for n in params.notes)
    sigma_source = "fitted" if sigma == "fit" and not refit_failed else "paper"
    sources = {t: "single-call DRAG runs at (k, m) = (0, 0), (1, 0), (0, 1)" for t in params.informativeness}
    for note in params.notes:
        for t in sources:
            if note.startswith(f"task {t}:"):
                sources[t] = note
    used = [r for r in mine if r.mean is not None]
    doc = fitted_document(
        params, model=model, sigma_source=sigma_source, n_observations=len(obs),
        grids={"k": [o.k for o in obs], "m": [o.m for o in obs], "n": [o.n for o in obs]},
        informativeness_source=sources,
        source_runs=[{"run_id": r.run_id, "task": r.task, "runner": r.config.runner, "k": r.config.k,
                      "m": r.config.m, "n": r.config.n, "mean": r.mean, "scored": r.scored, "samples": r.n}
                     for r in used])
    doc["grids"]["runners"] = sorted({r.config.runner for r in used})
    return params, doc, obs
