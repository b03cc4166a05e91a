"""Report commands: `lara report` (static HTML site), `lara plot` (paper PNGs), `lara diff` (per-question
disagreements between two runs)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import typer


def _check_paths(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such results folder or file: {', '.join(missing)}")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        results: List[Path] = typer.Argument(..., help="Results folders, run folders or samples.jsonl files."),
        out: Path = typer.Option(Path("report"), "--out", "-o", help="Output folder (index.html + assets/)."),
        diff: Optional[Tuple[Path, Path]] = typer.Option(
            None, "--diff", help="Two run folders to compare question by question: --diff RUN_A RUN_B. "
            "Without it, a diff section is added for every task with exactly two runs."),
        title: str = typer.Option("lara report", "--title", help="Page title."),
        threshold: float = typer.Option(0.5, "--threshold", help="A primary score >= this counts as correct in diffs and the drill-down."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the matplotlib figures (faster)."),
    ) -> None:
        """Write a self-contained static report (open index.html in a browser; no server, no network):
        sortable/filterable leaderboard, LC-vs-RAG gaps, accuracy vs context length, cost, score status,
        run diffs and a per-sample drill-down."""
        from lara.report.build import build_report

        _check_paths(list(results))
        if diff is not None:
            _check_paths(list(diff))
        try:
            res = build_report(list(results), out, diff_pair=(diff[0], diff[1]) if diff else None, title=title,
                               threshold=threshold, plots=not no_plots)
        except (FileNotFoundError, ValueError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        from lara.report.build import load_records
        from lara.results.crossover import add_to_report

        if add_to_report(out, load_records(results), plots=not no_plots):
            typer.echo("added the LC vs RAG crossover section", err=True)
        typer.echo(f"wrote {res.index} ({res.n_records} samples, {res.n_runs} runs, {len(res.plots)} plots, "
                   f"{res.diffs} diffs); open file://{res.index.resolve()}")

    @app.command("plot")
    def plot(
        results: List[Path] = typer.Argument(..., help="Results folders, run folders or samples.jsonl files."),
        out: Path = typer.Option(Path("plots"), "--out", "-o", help="Output folder."),
        fmt: str = typer.Option("png", "--format", help="Comma-separated: png, svg, pdf."),
        only: Optional[str] = typer.Option(None, "--only", help="Comma-separated subset: lc_vs_rag, accuracy_vs_context, lost_in_the_middle."),
    ) -> None:
        """Write paper figures: LC vs RAG by category/length, accuracy vs effective context length,
        lost-in-the-middle (accuracy by answer position). Figures without data are skipped."""
        from lara.report.build import load_records
        from lara.report.plots import PLOTS, write_plots

        _check_paths(list(results))
        records = load_records(results)
        if not records:
            raise typer.BadParameter("no result records found")
        names = [n.strip() for n in only.split(",") if n.strip()] if only else list(PLOTS)
        try:
            written = write_plots(records, out, formats=[f.strip() for f in fmt.split(",") if f.strip()], names=names)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
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
        """Per-question disagreements between two runs (same sample_id, different correctness), sorted by category."""
        from lara.report.diff import diff_records, load_run, print_diff

        try:
            result = diff_records(load_run(run_a), load_run(run_b), threshold)
        except (FileNotFoundError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        if fmt == "json":
            import json

            typer.echo(json.dumps({
                "a": result.a_name, "b": result.b_name, "common": result.common,
                "only_in_a": result.only_in_a, "only_in_b": result.only_in_b,
                "disagreements": [{"sample_id": d.sample_id, "category": d.category, "length": d.length,
                                   "a": d.a_label, "b": d.b_label, "question": d.question,
                                   "a_answer": d.a.get("answer"), "b_answer": d.b.get("answer"),
                                   "references": d.references} for d in result.rows],
            }, indent=2, ensure_ascii=False))
            return
        if fmt != "rich":
            raise typer.BadParameter(f"unknown format {fmt!r}; valid: rich, json")
        from lara.commands._common import wide_console

        print_diff(result, wide_console(), max_rows=None if limit == 0 else limit)
