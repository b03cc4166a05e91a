"""``lara compare-runners RUN_A RUN_B``: paired statistics of two runs on the questions both answered
(the same table as ``lara leaderboard --paired``, which pairs LC with RAG per task and model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import typer


def print_paired(records: Sequence[Any], fmt: str, *, seed: int = 0, n_boot: int | None = None,
                 combine: bool = False) -> None:
    """Pair every LC run with every RAG run of the same task and model and print the paired table."""
    from lara.errors import ConfigError, ResultsError
    from lara.report.names import display_names
    from lara.results.paired import N_BOOT, compare_runs, strategy_pairings

    if combine:
        raise ConfigError("--paired pairs one record per sample id; --combine pools repeated runs of a sample: "
                          "use one or the other")

    pairings = strategy_pairings(records)
    if not pairings:
        raise ResultsError("--paired needs, for some task and model, one run with a long_context runner and one "
                           "with a rag runner; none found (compare any two runs with `lara compare-runners A B`)")
    rows = compare_runs(pairings, seed=seed, n_boot=n_boot or N_BOOT)
    _print(rows, fmt, display_names(records), pairings)


def _print(rows: Sequence[Any], fmt: str, names: dict[str, str], pairings: Sequence[Any]) -> None:
    from lara.report.paired_table import print_rich, render

    for p in pairings:
        if p.only_a or p.only_b:
            typer.echo(f"{p.task} · {names.get(p.model, p.model)}: not paired: {p.only_a} sample ids only in "
                       f"{p.a_name}, {p.only_b} only in {p.b_name}", err=True)
    if fmt == "rich":
        print_rich(rows, names)
    else:
        typer.echo(render(rows, fmt, names))


def compare_runners_cmd(
    run_a: Path = typer.Argument(..., help="Run A: a run folder (results/<run_id>) or its samples.jsonl."),
    run_b: Path = typer.Argument(..., help="Run B."),
    fmt: str = typer.Option("rich", "--format", help="rich | md | csv | json"),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and permutation draws."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Paired bootstrap resamples (at least 2000)."),
) -> None:
    """Paired comparison of two runs per category × length and overall: mean difference A − B, paired
    bootstrap 95% CI, exact McNemar (binary) or sign-flip (graded) p, Holm-adjusted verdict, MDD."""
    from lara.errors import ConfigError, ResultsError
    from lara.report.diff import load_run, run_name
    from lara.report.names import display_names
    from lara.report.paired_table import FORMATS
    from lara.results.paired import compare_runs, pair_records

    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown value {fmt!r}; valid: {', '.join(FORMATS)}")
    if n_boot < 2000:
        raise ConfigError(f"--n-boot must be at least 2000, got {n_boot}")
    a, b = load_run(run_a), load_run(run_b)
    names = display_names([*a, *b])
    a_name, b_name = run_name(a), run_name(b)
    if a_name == b_name:
        a_name, b_name = f"A {a_name}", f"B {b_name}"
    tasks = sorted({r.task for r in (*a, *b)})
    models = sorted({r.model for r in (*a, *b)})
    for m in models:
        names.setdefault(m, m)
    model = models[0] if len(models) == 1 else " vs ".join(names[m] for m in (a[0].model, b[0].model))
    names.setdefault(model, model)
    pairing = pair_records(a, b, a_name, b_name, task=" vs ".join(tasks), model=model)
    if not pairing.pairs and not pairing.excluded:
        raise ResultsError(f"{run_a} and {run_b} share no sample id: nothing to pair")
    typer.echo(f"A = {a_name} ({a[0].run_id}); B = {b_name} ({b[0].run_id})", err=True)
    _print(compare_runs([pairing], seed=seed, n_boot=n_boot), fmt, names, [pairing])


def register(app: typer.Typer) -> None:
    app.command("compare-runners")(compare_runners_cmd)
