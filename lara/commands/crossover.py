"""``lara crossover``: LC and RAG at growing context lengths, and the length where RAG overtakes LC.

Runs the task once per runner with every length (the synthetic task plants the same kinds of facts
in haystacks of each size, so LC and RAG answer the same questions over the same text), then prints
per category the accuracy curves with 95% intervals and the crossover length by the paired exact
McNemar test (:mod:`lara.results.crossover`), and writes a PNG. Reruns resume (0 model calls);
``lara report`` shows the same section for any results folder.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, List, Optional

import typer

from lara.errors import ConfigError


def parse_lengths(text: str, task: str) -> list[Any]:
    """``2k,8k,32k`` -> [2000, 8000, 32000] for the synthetic task (haystack words); other tasks
    (e.g. LaRA: 32k,128k) get the labels as they are."""
    from lara.config import parse_tokens

    items = [x.strip() for x in text.split(",") if x.strip()]
    if len(items) < 2:
        raise ConfigError(f"--lengths needs at least two lengths, got {text!r}")
    if task != "synthetic":
        return items
    try:
        values = [parse_tokens(x) for x in items]
    except ValueError as exc:
        raise ConfigError(f"--lengths: {exc}") from None
    if any(v < 50 for v in values) or len(set(values)) != len(values):
        raise ConfigError(f"--lengths must be distinct sizes of at least 50 words, got {text!r}")
    return sorted(values)


def crossover_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model to measure, e.g. openai:gpt-4o-mini (see `lara models`)."),
    lengths: str = typer.Option("2k,4k,8k,16k,32k", "--lengths", help="Comma-separated context lengths "
                                "(synthetic task: haystack words, ~1.17 cl100k tokens each)."),
    task: str = typer.Option("synthetic", "--task", "-t", help="Task preset with a `lengths` parameter (synthetic, lara)."),
    runner: str = typer.Option("lc,rag", "--runner", "-r", help="Two runner presets: the long-context one and the RAG one."),
    base_url: Optional[List[str]] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (repeat for replicas)."),
    model_param: Optional[List[str]] = typer.Option(None, "--model-param", "-M", help="Backend parameter key=value (repeatable)."),
    task_param: Optional[List[str]] = typer.Option(None, "--task-param", "-T", help="Task parameter key=value (repeatable)."),
    n_docs: int = typer.Option(10, "--n-docs", help="Synthetic task: haystacks per length (4 questions each)."),
    seed: int = typer.Option(0, "--seed", help="Synthetic task: seed of the haystacks and facts."),
    max_connections: int = typer.Option(8, "--max-connections", help="Concurrent requests per endpoint."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Generation budget per call."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the paired test."),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Results root folder."),
    plot_path: Optional[Path] = typer.Option(None, "--plot", help="PNG path (default <output>/crossover-<model>.png)."),
    fmt: str = typer.Option("rich", "--format", help="rich | md | csv | json"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
) -> None:
    """Run LC and RAG at each length and report, per category, accuracy curves with 95% intervals and
    the crossover length: the shortest length from which RAG is significantly better (paired test)."""
    from lara.backends.retry import RetryPolicy
    from lara.commands.run import check_choice, digest_lines, run_specs, split_csv
    from lara.config import parse_kv_text, resolve_spec
    from lara.engine import RunOptions
    from lara.progress import RichProgress
    from lara.results import crossover as X
    from lara.results.collect import collect
    from lara.results.leaderboard import FORMATS

    check_choice("--format", fmt, FORMATS)
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
    runners = split_csv(runner)
    if len(runners) != 2:
        raise ConfigError(f"--runner needs exactly two runners (LC and RAG), got {runner!r}")
    tparams: dict[str, Any] = dict(parse_kv_text(task_param, "--task-param"))
    from lara.config import load_preset

    preset = load_preset("tasks", task) or {}
    task_name = str(preset.get("task") or task)
    tparams["lengths"] = parse_lengths(lengths, task_name)
    if task_name == "synthetic":
        if n_docs < 1:
            raise ConfigError(f"--n-docs must be at least 1, got {n_docs}")
        tparams.setdefault("n_docs", n_docs)
        tparams.setdefault("seed", seed)
    mparams: dict[str, Any] = dict(parse_kv_text(model_param, "--model-param"))
    if base_url:
        mparams["base_url"] = base_url[0] if len(base_url) == 1 else list(base_url)
    gen = {"max_tokens": max_tokens} if max_tokens is not None else {}
    specs = [resolve_spec(task, r, model, task_params=tparams, model_params=mparams, generation=gen) for r in runners]
    strategies = _strategies(specs)
    if sorted(strategies) != ["long_context", "rag"]:
        raise ConfigError(f"--runner needs one long-context and one RAG runner; {runner!r} are {', '.join(strategies)}")
    options = RunOptions(output_root=output, max_connections=max_connections, use_cache=not no_cache, retry=RetryPolicy())
    labels = [f"{s.task_preset or s.task} · {s.runner_preset or s.runner} · {s.model}" for s in specs]
    results = asyncio.run(run_specs(specs, options, labels, RichProgress))
    for r in results:
        for line in digest_lines(r.run_dir, dict(r.summary)):
            typer.echo(line, err=True)
    records = collect([r.run_dir for r in results], combine=True).records
    cs = X.curves(records, alpha=alpha)
    if not cs:
        raise ConfigError("no paired LC/RAG answers at two or more lengths (see the digest above)")
    if fmt == "json":
        typer.echo(json.dumps([{"model": c.model, "task": c.task, "category": c.category, "lc_runner": c.lc_runner,
                                "rag_runner": c.rag_runner, "crossover": c.crossover, "alpha": c.alpha,
                                "points": [{**p.__dict__, "lc_acc": p.lc_acc, "rag_acc": p.rag_acc,
                                            "rag_better": p.rag_better(c.alpha)} for p in c.points]}
                               for c in cs], indent=2))
    elif fmt == "rich":
        from lara.commands._common import print_table

        print_table("LC vs RAG by context length (accuracy %, 95% Wilson CI, exact McNemar)", X.HEADER,
                    X.table_rows(cs), left=("model", "task", "category", "length"))
    else:
        from lara.results.text_table import render_text

        typer.echo(render_text(X.HEADER, X.table_rows(cs), fmt))
    for line in X.summary_lines(cs):
        typer.echo(line, err=fmt == "json")
    path = plot_path or output / f"crossover-{re.sub(r'[^A-Za-z0-9._-]+', '-', model)}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        X.plot(cs, path)
        typer.echo(f"plot: {path}", err=True)
    except ImportError:
        typer.echo("plot skipped: matplotlib is not installed (pip install 'lara[analysis]')", err=True)


def _strategies(specs: list[Any]) -> list[str]:
    from lara import registry
    from lara.protocols import runner_strategy

    return [runner_strategy(registry.runners.get(s.runner)) for s in specs]


def register(app: typer.Typer) -> None:
    app.command("crossover")(crossover_cmd)
