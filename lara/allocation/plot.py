"""Performance vs effective context length (log x), the optimal point per budget and the fit.

One panel per task/model: every configuration as a point (colour by runner), the P*(L_max)
frontier through the best configuration of each budget, budgets as vertical lines, and — when
allocation parameters are given — the model's prediction for the frontier configurations mapped
back to the raw metric scale with the task's normalisation (mean, std).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lara.allocation.model import AllocationParams, predict
from lara.allocation.sweep import BudgetBest, ConfigResult, fmt_tokens

COLORS = {"drag": "tab:blue", "iterdrag": "tab:orange"}


def plot_scaling(results: Sequence[ConfigResult], best: Sequence[BudgetBest], out: Path | str,
                 params: AllocationParams | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(r.task, r.model) for r in results})
    if not keys:
        raise ValueError("no DRAG/IterDRAG results to plot")
    fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4.5), squeeze=False)
    for ax, (task, model) in zip(axes[0], keys):
        mine = [r for r in results if (r.task, r.model) == (task, model) and r.mean is not None]
        for runner in sorted({r.config.runner for r in mine}):
            pts = [r for r in mine if r.config.runner == runner]
            ax.scatter([max(r.mean_effective, 1) for r in pts], [r.mean for r in pts], s=18, alpha=0.6,
                       color=COLORS.get(runner), label=runner)
        front = [(b.budget, b.best) for b in best if (b.task, b.model) == (task, model) and b.best is not None]
        if front:
            xs = [max(top.mean_effective, 1) for _, top in front]
            ax.plot(xs, [top.mean for _, top in front], "k-o", lw=1.5, ms=6, label="optimal per budget")
            for budget, top in front:
                ax.axvline(budget, color="grey", ls=":", lw=0.8)
                ax.annotate(f"{fmt_tokens(budget)}: {top.config.label}", (max(top.mean_effective, 1), top.mean),
                            fontsize=7, xytext=(4, -10), textcoords="offset points")
            if params is not None:
                mu, sd = params.normalization.get(task, (0.0, 1.0))
                i_doc, i_shot = params.informativeness.get(task, (0.0, 0.0))
                cfgs = [top.config for _, top in front]
                z = predict(params, [c.k for c in cfgs], [c.m for c in cfgs], [c.n for c in cfgs], i_doc, i_shot)
                ax.plot(xs, [mu + sd * float(v) for v in z], "r--", lw=1.2, label=f"fit ({params.name})")
        ax.set_xscale("log")
        ax.set_xlabel("effective context length (tokens, mean per sample)")
        ax.set_ylabel("performance (mean primary score)")
        ax.set_title(f"{task} · {model}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
