"""Routing commands: fit a policy from runs, ask a policy for a decision, evaluate policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def _records(paths: list[Path]) -> list[dict]:
    from lara.commands._common import records_from

    return records_from(paths)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _print_rows(title: str, rows: list, tokens: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    cols = ["policy", "accuracy", "winner chosen", "gap recovered", "LC share"]
    if tokens:
        cols += ["LC-RAG PGR", "input tokens", "% of LC tokens"]
    cols.append("note")
    for c in cols:
        table.add_column(c, justify="left" if c in ("policy", "note") else "right", no_wrap=c == "policy")
    for r in rows:
        acc = f"{r.accuracy:.2f}" if r.accuracy > 1.5 else f"{100 * r.accuracy:.2f}"
        cells = [r.policy, acc, _pct(r.winner_accuracy), _pct(r.gap_recovered), _pct(r.lc_share)]
        if tokens:
            cells += [_pct(r.pgr), f"{r.input_tokens:,}", "-" if r.tokens_pct_lc is None else f"{r.tokens_pct_lc:.1f}%"]
        cells.append(r.note)
        table.add_row(*cells)
    console = Console()
    Console(width=max(console.width, 130)).print(table)
    typer.echo("gap recovered = (acc - best constant) / (oracle - best constant); "
               "PGR = (acc - worse constant) / (better constant - worse constant)")


def register(app: typer.Typer) -> None:
    @app.command("fit-router")
    def fit_router(
        results: List[Path] = typer.Argument(None, help="Run folders or samples.jsonl files with LC and RAG runs."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the policy JSON."),
        paper_table: Optional[Path] = typer.Option(None, "--paper-table", help="Fit from the LaRA paper table CSV instead of runs (how the shipped default is made)."),
        name: str = typer.Option("fitted", "--name", help="Policy name stored in the JSON."),
    ) -> None:
        """Fit a routing policy (best strategy per model, length bucket and category) from runs."""
        from lara.routing import save_policy
        from lara.routing.fit import fit_paper_policy, fit_policy, read_paper_table

        if paper_table is not None:
            data = fit_paper_policy(read_paper_table(paper_table), name=name)
        else:
            if not results:
                raise typer.BadParameter("give run folders / samples.jsonl files, or --paper-table")
            try:
                data = fit_policy(_records(results), name=name)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
        save_policy(data, out)
        models = len(data["params"]["table"]["model"])
        typer.echo(f"wrote {out} ({name}@{data['version']}, {models} models)")

    @app.command("route")
    def route(
        model: str = typer.Option(..., "--model", "-m", help="Model id, e.g. openai:gpt-4o-mini."),
        context_tokens: str = typer.Option(..., "--context-tokens", "-c", help="Context length: 30000, 32k, 1M."),
        category: str = typer.Option("unknown", "--category", help="location | reasoning | comparison | hallucination | unknown."),
        policy: str = typer.Option("default", "--policy", "-p", help="Shipped policy name or a policy JSON path."),
        budget: Optional[str] = typer.Option(None, "--budget", help="Per-question effective-context budget in tokens (budget policy)."),
        params_b: Optional[float] = typer.Option(None, "--params-b", help="Parameter count in billions (unseen models)."),
        window: Optional[str] = typer.Option(None, "--window", help="Context window in tokens."),
        open_weights: Optional[bool] = typer.Option(None, "--open/--proprietary", help="Open-weights or proprietary model."),
        context_type: Optional[str] = typer.Option(None, "--context-type", help="e.g. book, financial, paper."),
        as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    ) -> None:
        """Print a policy's decision (strategy, parameters, reason) for one request."""
        from lara.config import parse_tokens
        from lara.routing import PolicyError, RequestFeatures, load_policy

        try:
            pol = load_policy(policy)
            feats = RequestFeatures(
                model=model, context_tokens=parse_tokens(context_tokens), category=category,
                context_type=context_type, parameters_b=params_b,
                context_window=parse_tokens(window) if window else None,
                budget_tokens=parse_tokens(budget) if budget else None, open_weights=open_weights,
            )
        except (PolicyError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        d = pol.decide(feats)
        if as_json:
            typer.echo(json.dumps(d.to_dict(), indent=1))
            return
        params = " ".join(f"{k}={v}" for k, v in d.params.items())
        typer.echo(f"{d.strategy} {params}".rstrip())
        typer.echo(f"reason: {d.reason}")
        typer.echo(f"policy: {d.policy_version}")

    @app.command("route-eval")
    def route_eval_cmd(
        results: List[Path] = typer.Argument(None, help="Run folders / samples.jsonl with LC and RAG runs of the same questions."),
        paper_table: Optional[Path] = typer.Option(None, "--paper-table", help="LaRA paper table CSV for the leave-one-model-out view (default: the figures in the shipped policy)."),
        policy: List[str] = typer.Option(["default", "rules"], "--policy", "-p", help="Policies to compare (names or JSON paths)."),
    ) -> None:
        """Compare routing policies with always-LC, always-RAG and the oracle (accuracy, tokens, gap recovered)."""
        from lara.routing import PolicyError, load_policy
        from lara.routing.evaluate import lomo_paper, paper_rows_from_policy, route_eval
        from lara.routing.fit import read_paper_table

        rows = read_paper_table(paper_table) if paper_table else paper_rows_from_policy(load_policy("default"))
        src = str(paper_table) if paper_table else "figures in the shipped default policy"
        _print_rows(f"LaRA paper table, leave-one-model-out (88 cells; {src})", lomo_paper(rows), tokens=False)
        if not results:
            return
        try:
            pols = {p: load_policy(p) for p in policy}
        except PolicyError as exc:
            raise typer.BadParameter(str(exc)) from exc
        evals, counts = route_eval(_records(results), pols)
        if not evals:
            typer.secho(f"no question has both a scored LC and a scored RAG record ({counts})", err=True)
            raise typer.Exit(2)
        _print_rows(f"Runs: {counts['paired']} paired questions ({counts['unpaired_or_unscored']} unpaired or unscored left out)",
                    evals, tokens=True)
