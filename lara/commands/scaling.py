"""Inference-scaling commands: `lara sweep`, `lara best-per-budget`, `lara fit-allocation`,
`lara allocate` (Yue et al., ICLR 2025: DRAG / IterDRAG, effective context budgets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

PAPER_K = "0,1,2,5,10,20,50,100,200,500,1000"
PAPER_M = "0,1,2,4,8,16,32,64,128,256"


def _ints(value: str, opt: str) -> list[int]:
    from lara.allocation.sweep import parse_ints

    try:
        return parse_ints(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=opt) from None


def _budgets(value: str) -> list[int]:
    from lara.config import parse_tokens

    try:
        out = sorted({parse_tokens(v) for v in value.split(",") if v.strip()})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--budget") from None
    if not out or min(out) <= 0:
        raise typer.BadParameter("give positive budgets like 16k,32k", param_hint="--budget")
    return out


def _runners(value: str) -> list[str]:
    from lara.allocation.sweep import SWEEP_RUNNERS

    out = [r.strip() for r in value.split(",") if r.strip()]
    bad = [r for r in out if r not in SWEEP_RUNNERS]
    if not out or bad:
        raise typer.BadParameter(f"runners must be among {', '.join(SWEEP_RUNNERS)}", param_hint="--runner")
    return out


def _kv(items: Optional[List[str]], hint: str) -> dict[str, Any]:
    from lara.config import parse_kv

    try:
        return parse_kv(items)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _records(paths: list[Path]) -> list[dict]:
    from lara.commands._common import records_from

    return records_from(paths)


def best_per_budget_table(records: list[dict], budgets: list[int]) -> tuple[list, list]:
    """(ConfigResults, BudgetBest rows) from records: the function a leaderboard option can call."""
    from lara.allocation.sweep import best_per_budget, collect

    results = collect(records)
    return results, best_per_budget(results, budgets)


def print_best(rows: list, fmt: str = "rich") -> None:
    from lara.allocation.sweep import fmt_tokens

    if fmt == "json":
        typer.echo(json.dumps([{
            "task": r.task, "model": r.model, "budget": r.budget, "candidates": r.candidates,
            "best": None if r.best is None else {"config": r.best.config.label, "mean": r.best.mean,
                                                  "scored": r.best.scored, "max_effective": r.best.max_effective,
                                                  "mean_effective": round(r.best.mean_effective, 1)}} for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="P*(L_max): best configuration per effective-context budget")
    for c in ("task", "model", "budget", "best config", "score", "n scored", "max eff. tokens", "mean eff. tokens", "fitting configs"):
        t.add_column(c, justify="left" if c in ("task", "model", "best config") else "right")
    for r in rows:
        b = r.best
        t.add_row(r.task, r.model, fmt_tokens(r.budget), b.config.label if b else "-",
                  "-" if b is None else f"{100 * b.mean:.1f}", "-" if b is None else str(b.scored),
                  "-" if b is None else f"{b.max_effective:,}", "-" if b is None else f"{b.mean_effective:,.0f}",
                  str(r.candidates))
    Console(width=160).print(t)


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep(
        task: str = typer.Option("synthetic", "--task", "-t", help="Task preset or registered task."),
        runner: str = typer.Option("drag,iterdrag", "--runner", "-r", help="drag and/or iterdrag."),
        k: str = typer.Option("0,1,2,5", "--k", help="Retrieved documents per input: '0,1,2,5' or '1..3'."),
        m: str = typer.Option("0,1,2", "--m", help="Demonstrations."),
        n: str = typer.Option("1..3", "--n", help="IterDRAG iterations (DRAG always makes one call)."),
        budget: str = typer.Option("16k,32k", "--budget", "-b", help="Effective-context budgets per example: 16k,32k,128k."),
        model: str = typer.Option("local", "--model", "-m", help="local | openai:<model> | ..."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint."),
        limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Only the first N samples."),
        task_param: Optional[List[str]] = typer.Option(None, "--task-param", "-T", help="key=value (repeatable)."),
        runner_param: Optional[List[str]] = typer.Option(None, "--runner-param", "-R", help="key=value for both runners, e.g. retriever=bm25, chunk_size=200, tokenizer=words, over_budget=shrink_k."),
        model_param: Optional[List[str]] = typer.Option(None, "--model-param", "-M", help="key=value (repeatable)."),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Generation budget per call."),
        output: Path = typer.Option(Path("results/sweep"), "--output", "-o", help="Results root of the sweep."),
        max_connections: int = typer.Option(8, "--max-connections"),
        no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
        plot: bool = typer.Option(True, "--plot/--no-plot", help="Write <output>/scaling.png."),
    ) -> None:
        """Run a DRAG/IterDRAG (k, m, n) grid. Every configuration's effective context length is
        estimated per sample before any model call; configurations that exceed the largest budget
        are pruned (listed). One run per configuration; reruns reuse the cache and resume."""
        from rich.console import Console
        from rich.progress import Progress

        from lara.allocation.sweep import fmt_tokens, run_sweep

        budgets = _budgets(budget)
        mp = _kv(model_param, "--model-param")
        if base_url:
            mp["base_url"] = base_url
        gen = {"max_tokens": max_tokens} if max_tokens else None
        console = Console(width=160)
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("estimating", total=None)

            def on_config(event: str, c: Any, i: int, total: int) -> None:
                progress.update(bar, total=total, completed=i, description=f"{event} {c.label}")

            try:
                res = run_sweep(task=task, runners=_runners(runner), ks=_ints(k, "--k"), ms=_ints(m, "--m"),
                                ns=_ints(n, "--n"), budgets=budgets, model=model, task_params=_kv(task_param, "--task-param"),
                                runner_params=_kv(runner_param, "--runner-param"), model_params=mp, generation=gen,
                                limit=limit, output_root=output, max_connections=max_connections,
                                use_cache=not no_cache, on_config=on_config)
            except (KeyError, ValueError, FileNotFoundError, TypeError) as exc:
                raise typer.BadParameter(str(exc)) from None
        if res.pruned:
            console.print(f"pruned {len(res.pruned)} configuration(s) before any model call "
                          f"(estimated per-sample max > {fmt_tokens(max(budgets))}):")
            for e in res.pruned:
                console.print(f"  {e.config.label}: ~{e.max_tokens:,} tokens")
        calls = sum(r.model_calls for r in res.runs)
        hits = sum(r.cache_hits for r in res.runs)
        console.print(f"ran {len(res.runs)} configuration(s): {calls} model call(s), {hits} cache hit(s); manifest {res.manifest}")
        records = _records([Path(r.run_dir) for r in res.runs]) if res.runs else []
        results, rows = best_per_budget_table(records, budgets)
        print_best(rows)
        if plot and results:
            from lara.allocation.plot import plot_scaling

            console.print(f"plot: {plot_scaling(results, rows, output / 'scaling.png')}")

    @app.command("best-per-budget")
    def best_cmd(
        results: List[Path] = typer.Argument(..., help="Sweep folders, run folders or samples.jsonl files."),
        budget: Optional[str] = typer.Option(None, "--budget", "-b", help="Budgets (default: the sweep manifest's)."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of performance vs effective length."),
        params: Optional[str] = typer.Option(None, "--params", help="Overlay a fitted curve: paper | fitted.json."),
        fmt: str = typer.Option("rich", "--format", help="rich | json."),
    ) -> None:
        """The paper's P*(L_max): per budget, the best configuration whose measured per-sample
        maximum effective context length fits (configurations with skipped samples excluded)."""
        from lara.allocation.sweep import read_budgets

        budgets = _budgets(budget) if budget else sorted({b for p in results if p.is_dir() for b in read_budgets(p)})
        if not budgets:
            raise typer.BadParameter("no --budget given and no sweep.json manifest found", param_hint="--budget")
        res, rows = best_per_budget_table(_records(results), budgets)
        if not res:
            raise typer.BadParameter("no drag/iterdrag records found")
        print_best(rows, fmt)
        if plot:
            from lara.allocation.model import load_params
            from lara.allocation.plot import plot_scaling

            typer.echo(f"plot: {plot_scaling(res, rows, plot, load_params(params) if params else None)}")

    @app.command("fit-allocation")
    def fit_cmd(
        results: List[Path] = typer.Argument(..., help="Sweep folders / run folders (one or more tasks)."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the fitted parameters (JSON)."),
        name: str = typer.Option("fitted", "--name"),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Fit this model's runs (needed when the results hold several)."),
        sigma: str = typer.Option("fit", "--sigma", help="fit: refit sigma's four constants (scipy, the analysis extra) | paper: keep the paper's."),
        loto_budget: Optional[str] = typer.Option(None, "--loto-budget", help="Also report leave-one-task-out at this budget."),
    ) -> None:
        """Fit the computation allocation model (OLS on sigma^-1 of z-normalised performance, then
        sigma) and write the fitted-parameters JSON that `lara allocate --params` and the routing
        budget policy (params.fitted) read."""
        from lara.allocation.fitted import fit_results
        from lara.allocation.model import leave_one_task_out, save_params
        from lara.allocation.sweep import collect
        from lara.errors import LaraError

        res = collect(_records(results))
        try:
            params, doc, obs = fit_results(res, model=model, name=name, sigma=sigma)
        except LaraError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(exc.exit_code) from None
        save_params(params, out, doc)
        typer.echo(f"model {doc['model']}: a={tuple(round(x, 4) for x in params.a)} b={tuple(round(x, 4) for x in params.b)} "
                   f"c={params.c:.4f} sigma={tuple(round(x, 3) for x in params.sigma)} ({doc['constants_source']['sigma']})")
        typer.echo(f"R2={params.r2:.4f} MSE={params.mse:.4f} on {len(obs)} configurations; wrote {out}")
        for t, v in doc["informativeness"].items():
            typer.echo(f"task {t}: i_doc={v['i_doc']:.3f} i_shot={v['i_shot']:.3f}")
        for note in params.notes:
            typer.echo(f"note: {note}")
        if loto_budget:
            lengths = {(r.task, r.config.runner, r.config.k, r.config.m, r.config.n): r.max_effective
                       for r in res if r.model == doc["model"]}
            loto = leave_one_task_out(obs, lengths, _budgets(loto_budget)[0], refit_sigma=sigma == "fit")
            for t, frac in loto.items():
                typer.echo(f"leave-one-task-out {t}: {'-' if frac is None else f'{100 * frac:.1f}% of oracle'}")

    @app.command("allocate")
    def allocate_cmd(
        budget: str = typer.Option(..., "--budget", "-b", help="Effective-context budget per example, e.g. 128k."),
        task: str = typer.Option("synthetic", "--task", "-t"),
        params: str = typer.Option("paper", "--params", help="paper (Gemini-1.5-Flash, Yue et al.) | fitted.json."),
        runner: str = typer.Option("drag,iterdrag", "--runner", "-r"),
        k: str = typer.Option(PAPER_K, "--k"), m: str = typer.Option(PAPER_M, "--m"), n: str = typer.Option("1..5", "--n"),
        limit: int = typer.Option(20, "--limit", help="Samples used to price configurations (per-sample max)."),
        task_param: Optional[List[str]] = typer.Option(None, "--task-param", "-T"),
        runner_param: Optional[List[str]] = typer.Option(None, "--runner-param", "-R"),
        i_doc: Optional[float] = typer.Option(None, "--i-doc", help="Override the task's document informativeness."),
        i_shot: Optional[float] = typer.Option(None, "--i-shot", help="Override the demonstration informativeness."),
        top: int = typer.Option(5, "--top"),
    ) -> None:
        """Predict the best (k, m, n) for a task under a budget, without calling any model."""
        from lara.allocation.allocate import allocate, price_grid
        from lara.allocation.model import load_params

        b = _budgets(budget)[0]
        try:
            p = load_params(params)
            est = price_grid(task, _runners(runner), _ints(k, "--k"), _ints(m, "--m"), _ints(n, "--n"),
                             task_params=_kv(task_param, "--task-param"),
                             runner_params=_kv(runner_param, "--runner-param"), limit=limit, budgets=[b])
        except (KeyError, ValueError, FileNotFoundError, TypeError) as exc:
            raise typer.BadParameter(str(exc)) from None
        a = allocate(p, est, b, task, i_doc, i_shot)
        typer.echo(f"params: {p.name}; i_doc={a.i_doc:.3f} i_shot={a.i_shot:.3f}; {a.considered} configurations, "
                   f"{a.saturated} saturated (k/m beyond what the task has), {a.too_long} over budget")
        if not a.choices:
            typer.echo("no configuration fits this budget")
            raise typer.Exit(1)
        for i, c in enumerate(a.choices[:top]):
            typer.echo(f"{'best' if i == 0 else '    '} {c.runner} k={c.k} m={c.m} n={c.n}: "
                       f"predicted {c.predicted:+.3f} (z), ~{c.tokens:,} tokens")
