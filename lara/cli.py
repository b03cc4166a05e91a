"""The ``lara`` command line. Thin: parse options, build RunSpecs, call the library.

Commands of other areas live in ``lara/commands/<area>.py`` (each exposes ``register(app)``) and are
added here, so this file stays small.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    help=(
        "lara: measure when long context beats RAG (and iterative RAG beats both).\n\n"
        "Quickstart (offline): `lara run` runs the synthetic task with the long-context and RAG "
        "runners on the embedded SmolLM2 model and prints a leaderboard."
    ),
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("lara")


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # some libraries (bm25s) force DEBUG on their logger
        handler.setLevel(level)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command()
def run(
    task: str = typer.Option("synthetic", "--task", "-t", help="Task preset or registered task (see `lara tasks`)."),
    runner: str = typer.Option("lc,rag", "--runner", "-r", help="Comma-separated runner presets (see `lara runners`)."),
    model: str = typer.Option("local", "--model", "-m", help="local | openai:<model> | replay:<predictions dir> (see `lara models`)."),
    base_url: Optional[List[str]] = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; repeat for replicas (document affinity + failover)."
    ),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run shard i of N (i/N, i from 0), split by document; own folder; combine with `lara merge`."),
    executor: str = typer.Option("local", "--executor", help="local | ray (Ray actors; joins a cluster or starts a local Ray)."),
    prefix_cache_tokens: Optional[str] = typer.Option(
        None, "--prefix-cache-tokens", help="Server prefix-cache size (e.g. 2M): bounds the distinct documents in flight."
    ),
    max_connections: int = typer.Option(8, "--max-connections", help="Concurrent requests per endpoint."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Run only the first N samples."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Task data folder (sets the task's data_dir)."),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="Override the task's scorer."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge model for judge scorers, e.g. openai:gpt-4o."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="Endpoint of the judge model."),
    task_param: Optional[List[str]] = typer.Option(None, "--task-param", "-T", help="Task parameter key=value (repeatable)."),
    runner_param: Optional[List[str]] = typer.Option(None, "--runner-param", "-R", help="Runner parameter key=value (repeatable)."),
    model_param: Optional[List[str]] = typer.Option(None, "--model-param", "-M", help="Backend parameter key=value (repeatable)."),
    scorer_param: Optional[List[str]] = typer.Option(None, "--scorer-param", "-S", help="Scorer parameter key=value (repeatable)."),
    unsafe_exec: bool = typer.Option(
        False, "--unsafe-exec", help="Run generated code WITHOUT the bubblewrap sandbox (plain subprocess). Dangerous."
    ),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Generation budget per call."),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Results root folder."),
    log_prompts: bool = typer.Option(False, "--log-prompts", help="Store full prompt text in records."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
    style: str = typer.Option("default", "--style", help="Leaderboard style after the run: default | lara."),
    fmt: str = typer.Option("rich", "--format", help="Leaderboard format: rich | md | csv | json."),
) -> None:
    """Run a task with one or more runners and print the leaderboard. Reruns resume."""
    from lara.config import parse_kv, resolve_spec
    from lara.engine import run as run_engine
    from lara.progress import RichProgress

    try:
        tparams = parse_kv(task_param)
        if data_dir is not None:
            tparams["data_dir"] = str(data_dir)
        mparams = parse_kv(model_param)
        if base_url:
            mparams["base_url"] = base_url[0] if len(base_url) == 1 else list(base_url)
        from lara.config import parse_tokens
        from lara.sharding import parse_shard

        shard_t = parse_shard(shard) if shard else None
        pct = parse_tokens(prefix_cache_tokens) if prefix_cache_tokens else None
        if executor not in ("local", "ray"):
            raise ValueError(f"unknown executor {executor!r}; valid: local, ray")
        sparams = parse_kv(scorer_param)
        if unsafe_exec:
            typer.secho(
                "WARNING: --unsafe-exec runs model-generated code outside the sandbox, with your user's rights.",
                fg=typer.colors.RED, err=True,
            )
            sparams["unsafe"] = True
        if judge:
            sparams["judge"] = judge
        if judge_base_url:
            sparams["judge_base_url"] = judge_base_url
        gen = {}
        if max_tokens is not None:
            gen["max_tokens"] = max_tokens
        if temperature is not None:
            gen["temperature"] = temperature
        specs = [
            resolve_spec(task, r, model, task_params=tparams, runner_params=parse_kv(runner_param),
                         model_params=mparams, scorer=scorer, scorer_params=sparams, generation=gen, limit=limit)
            for r in _split(runner)
        ]
    except (KeyError, ValueError, TypeError) as exc:
        _fail(str(exc))
    run_dirs = []
    for spec in specs:
        label = f"{spec.task_preset or spec.task} · {spec.runner_preset or spec.runner} · {spec.model}"
        try:
            result = run_engine(
                spec, output_root=output, max_connections=max_connections, log_prompts=log_prompts,
                progress=RichProgress(label), use_cache=not no_cache,
                shard=shard_t, executor=executor, prefix_cache_tokens=pct,
            )
        except KeyboardInterrupt:
            _fail("interrupted: finished samples are saved; rerun the same command to resume", 130)
        except (KeyError, ValueError, TypeError, FileNotFoundError) as exc:
            _fail(f"{label}: {exc}")
        s = result.summary
        typer.echo(
            f"{result.run_dir}: {s['n_records']}/{s['n_expected']} records, {s['errors']} errors, "
            f"{s['skipped']} skipped, {s.get('model_calls_this_invocation', 0)} model calls",
            err=True,
        )
        run_dirs.append(result.run_dir)
    _print_leaderboard(run_dirs, style=style, fmt=fmt)


@app.command()
def resume(run_dir: Path = typer.Argument(..., help="A run folder (holds run.json).")) -> None:
    """Continue an interrupted run from its run.json: completed samples are skipped."""
    from lara.config import RunSpec
    from lara.engine import run as run_engine
    from lara.progress import RichProgress
    from lara.results.store import read_run_json

    info = read_run_json(run_dir)
    if not info:
        _fail(f"{run_dir} has no run.json")
    spec = RunSpec.from_json(info["spec"])
    shard = tuple(info["shard"]) if info.get("shard") else None
    result = run_engine(spec, output_root=run_dir.parent, progress=RichProgress(spec.run_id()), shard=shard)
    _print_leaderboard([result.run_dir], style="default", fmt="rich")


def _print_leaderboard(paths: list[Path], style: str, fmt: str, keys: tuple[str, ...] | None = None) -> None:
    from lara.results.leaderboard import DEFAULT_KEYS, aggregate, render, table_rows
    from lara.results.store import read_records

    records = [r for p in paths for r in read_records(p)]
    if not records:
        _fail("no result records found")
    if style == "lara":
        from lara.results import lara_table

        typer.echo(lara_table.render_markdown(lara_table.aggregate(records)))
        return
    keys = keys or DEFAULT_KEYS
    rows = aggregate(records, keys)
    if fmt == "rich":
        from lara.commands._common import print_table

        header, body = table_rows(rows, keys)
        print_table("lara leaderboard (score in %, 95% bootstrap CI)", header, body, left=keys)
    else:
        typer.echo(render(rows, keys, fmt))


@app.command()
def leaderboard(
    paths: List[Path] = typer.Argument(..., help="Results folders or run folders."),
    fmt: str = typer.Option("rich", "--format", help="rich | md | csv | json"),
    style: str = typer.Option("default", "--style", help="default | lara (the LaRA paper's table layout)."),
    by: Optional[str] = typer.Option(None, "--by", help="Comma-separated grouping keys (default model,runner,task,category,length)."),
    best_per_budget: Optional[str] = typer.Option(
        None, "--best-per-budget", help="Comma-separated budgets (e.g. 16k,32k,128k): best sweep configuration per budget, P*(L_max)."
    ),
) -> None:
    """Aggregate runs into a table: n, score, 95% CI, errors, skipped, unparsed."""
    if best_per_budget:
        from lara.commands.scaling import print_best, best_per_budget_table
        from lara.config import parse_tokens
        from lara.results.store import read_records

        records = [r for p in paths for r in read_records(p)]
        _, rows = best_per_budget_table(records, [parse_tokens(b) for b in _split(best_per_budget)])
        print_best(rows, "json" if fmt == "json" else "rich")
        return
    try:
        _print_leaderboard(list(paths), style=style, fmt=fmt, keys=tuple(_split(by)) if by else None)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))


def _listing(kind: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from lara import registry
    from lara.config import list_presets, load_preset

    from rich.markup import escape

    reg = getattr(registry, kind)
    table = Table(title=f"{kind}: presets and registered names")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("description")
    for name, path in list_presets(kind).items() if kind != "backends" else []:
        p = load_preset(kind, name) or {}
        table.add_row(name, f"preset → {p.get(kind[:-1])}", escape(str(p.get("description", ""))))
    for name, doc in reg.describe():
        table.add_row(name, "registered", escape(doc))
    Console().print(table)


@app.command()
def tasks() -> None:
    """List task presets and registered tasks."""
    _listing("tasks")


@app.command()
def runners() -> None:
    """List runner presets and registered runners."""
    _listing("runners")


@app.command()
def models() -> None:
    """List model backends (use as --model <backend>[:<model id>]) and the embedded local models."""
    _listing("backends")
    from rich.console import Console
    from rich.table import Table

    from lara.backends.local import list_models

    table = Table(title="embedded local models (--model local)")
    for col in ("model", "context window", "package", "installed", "converted cache"):
        table.add_column(col)
    for m in list_models():
        table.add_row(str(m.get("id") or m.get("model")), str(m.get("context_window")), str(m.get("package")),
                      str(m.get("installed")), str(m.get("cached")))
    Console().print(table)


def _register_commands() -> None:
    import lara.commands as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"lara.commands.{mod.name}").register(app)


def main() -> None:
    _register_commands()
    app(prog_name="lara")


if __name__ == "__main__":
    main()
    sys.exit(0)
