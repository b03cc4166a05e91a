"""Report commands: `lara report` (static HTML site), `lara plot` (paper PNGs), `lara diff` (per-question
disagreements between two runs). Records are read through :func:`lara.results.collect.collect`, so
these views count exactly what `lara leaderboard` counts."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        results: List[Path] = typer.Argument(..., help="Results folders, run folders or samples.jsonl files."),
        out: Path = typer.Option(Path("report"), "--out", "-o", help="Output folder (index.html + assets/)."),
        diff: Optional[Tuple[Path, Path]] = typer.Option(
            None, "--diff", help="Two run folders to compare question by question: --diff RUN_A RUN_B. "
            "Without it, a diff section is added for every LC/RAG pair of one task and model (or a task with exactly two runs)."),
        title: str = typer.Option("lara report", "--title", help="Page title."),
        threshold: float = typer.Option(0.5, "--threshold", help="A primary score >= this counts as correct in diffs and the drill-down."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the matplotlib figures (faster)."),
        combine: bool = typer.Option(False, "--combine", help="Pool runs of the same task/runner/model that share samples (default: newest run per sample)."),
        sweeps: bool = typer.Option(False, "--sweeps", help="Include the run folders of sweeps."),
        seed: int = typer.Option(0, "--seed", help="Seed of the paired bootstrap and permutation draws."),
    ) -> None:
        """Write a self-contained static report (open index.html in a browser; no server, no network):
        headline LC-vs-RAG verdicts, sortable/filterable leaderboard, paired LC-vs-RAG statistics and
        LaRA's table, accuracy vs context length, cost, score status, run diffs and a per-sample drill-down."""
        from lara.report.build import build_report

        res = build_report(list(results), out, diff_pair=(diff[0], diff[1]) if diff else None, title=title,
                           threshold=threshold, plots=not no_plots, combine=combine, sweeps=sweeps, seed=seed)
        _warn(res.warnings)
        for line in res.headlines:
            typer.echo(line)
        from lara.results.collect import collect
        from lara.results.crossover import add_to_report

        if add_to_report(out, collect(list(results), sweeps=sweeps).records, plots=not no_plots):
            typer.echo("added the LC vs RAG crossover section", err=True)
        typer.echo(f"wrote {res.index} ({res.n_records} samples, {res.n_runs} runs, {len(res.plots)} plots, "
                   f"{res.diffs} diffs); open file://{res.index.resolve()}")

    @app.command("plot")
    def plot(
        results: List[Path] = typer.Argument(..., help="Results folders, run folders or samples.jsonl files."),
        out: Path = typer.Option(Path("plots"), "--out", "-o", help="Output folder."),
        fmt: str = typer.Option("png", "--format", help="Comma-separated: png, svg, pdf."),
        only: Optional[str] = typer.Option(None, "--only", help="Comma-separated subset: lc_vs_rag, accuracy_vs_context, lost_in_the_middle."),
        combine: bool = typer.Option(False, "--combine", help="Pool runs of the same task/runner/model that share samples."),
        sweeps: bool = typer.Option(False, "--sweeps", help="Include the run folders of sweeps."),
    ) -> None:
        """Write paper figures: LC vs RAG by category/length, accuracy vs effective context length,
        lost-in-the-middle (accuracy by answer position). Figures without data are skipped."""
        from lara.errors import ConfigError, ResultsError
        from lara.report.plots import PLOTS, write_plots
        from lara.results.collect import collect

        names = [n.strip() for n in only.split(",") if n.strip()] if only else list(PLOTS)
        formats = [f.strip() for f in fmt.split(",") if f.strip()]
        bad = [n for n in names if n not in PLOTS] + [f for f in formats if f not in ("png", "svg", "pdf")]
        if bad:
            raise ConfigError(f"unknown plot or format {', '.join(bad)}; plots: {', '.join(PLOTS)}; formats: png, svg, pdf")
        got = collect(results, combine=combine, sweeps=sweeps)
        _warn(got.warnings)
        if not got.records:
            raise ResultsError("no result records found in " + ", ".join(map(str, results)))
        written = write_plots(got.records, out, formats=formats, names=names)
        for name in names:
            paths = written.get(name)
            typer.echo(f"{name}: {', '.join(map(str, paths)) if paths else 'no data in these records, skipped'}")

    @app.command("diff")
    def diff_cmd(
        run_a: Path = typer.Argument(..., help="Run folder A (results/<run_id>) or its samples.jsonl."),
        run_b: Path = typer.Argument(..., help="Run folder B."),
        threshold: float = typer.Option(0.5, "--threshold", help="A primary score >= this counts as correct."),
        limit: int = typer.Option(200, "--limit", "-n", help="Rows to print (0 = all)."),
        fmt: str = typer.Option("rich", "--format", help="rich | json"),
    ) -> None:
        """Per-question disagreements between two runs (same sample_id, different outcome), sorted by category."""
        from lara.errors import ConfigError
        from lara.report.diff import diff_records, load_run, print_diff

        if fmt not in ("rich", "json"):
            raise ConfigError(f"--format: unknown value {fmt!r}; valid: rich, json")
        result = diff_records(load_run(run_a), load_run(run_b), threshold)
        if fmt == "json":
            import json

            typer.echo(json.dumps({
                "a": result.a_name, "b": result.b_name, "common": result.common,
                "only_in_a": result.only_in_a, "only_in_b": result.only_in_b,
                "disagreements": [{"sample_id": d.sample_id, "category": d.category, "length": d.length,
                                   "a": d.a_label, "b": d.b_label, "question": d.question,
                                   "a_answer": d.a.answer, "b_answer": d.b.answer,
                                   "references": d.references} for d in result.rows],
            }, indent=2, ensure_ascii=False))
            return
        from lara.commands._common import wide_console

        print_diff(result, wide_console(), max_rows=None if limit == 0 else limit)
