"""``lara run``, ``lara resume`` and ``lara leaderboard``: the commands of the core workflow.

Every option is checked before the first model call (unknown names and parameters, formats,
styles, ``--limit``), so a typo costs one ``error:`` line, not a run. Each finished run prints a
digest (outcomes, truncation, calls, the distinct errors) and the command exits 3 when the share of
error records passes ``--max-error-rate``: scripts notice a dead endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, List, Optional, Sequence

import typer

from lara.errors import ConfigError

log = logging.getLogger(__name__)

STYLES = ("default", "lara")
EXIT_ERROR_RATE = 3


def parse_cache_option(value: str) -> int | str | None:
    from lara.backends.server_metrics import parse_cache_setting

    try:
        return parse_cache_setting(value)
    except ValueError:
        raise ConfigError(f"--prefix-cache-tokens: expected auto, 0 or a token count like 2M, got {value!r}") from None


def parse_resources(text: str | None) -> dict[str, float]:
    """``--ray-actor-resources`` JSON: an object of resource name -> non-negative amount."""
    import json

    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--ray-actor-resources: not JSON ({exc}); e.g. '{{\"num_cpus\":1,\"num_gpus\":1}}'") from None
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                                             for v in data.values()):
        raise ConfigError(f"--ray-actor-resources: expected an object of non-negative numbers, got {text!r}")
    return {str(k): float(v) for k, v in data.items()}


def split_csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def check_choice(option: str, value: str, allowed: Sequence[str]) -> str:
    from lara.vocabulary import did_you_mean

    if value not in allowed:
        raise ConfigError(f"{option}: unknown value {value!r}{did_you_mean(value, allowed)}; valid: {', '.join(allowed)}")
    return value


def check_view_options(fmt: str, style: str) -> None:
    from lara.results.leaderboard import FORMATS

    check_choice("--format", fmt, FORMATS)
    check_choice("--style", style, STYLES)


def params_per_runner(runners: list[str], params: dict[str, str]) -> list[dict[str, str]]:
    """``-R`` values go to the runners that declare them (``-R k=3`` with ``lc,rag`` sets RAG's k);
    a key no runner declares is an error. With one runner, its own check names the bad key."""
    if len(runners) < 2 or not params:
        return [dict(params) for _ in runners]
    from lara import registry
    from lara.config import load_preset
    from lara.params import declared_params

    out: list[dict[str, str]] = []
    used: set[str] = set()
    valid: set[str] = set()
    for r in runners:
        preset = load_preset("runners", r)
        name = preset["runner"] if preset else r
        if name not in registry.runners:
            out.append(dict(params))  # resolve_spec reports the unknown runner
            used |= set(params)
            continue
        declared, open_ = declared_params(registry.runners.get(name))
        valid |= set(declared)
        mine = {k: v for k, v in params.items() if open_ or k in declared}
        used |= set(mine)
        out.append(mine)
    unknown = sorted(set(params) - used)
    if unknown:
        from lara.vocabulary import did_you_mean

        raise ConfigError(f"--runner-param {unknown[0]!r} is not a parameter of any of {', '.join(runners)}"
                          f"{did_you_mean(unknown[0], valid)}; valid: {', '.join(sorted(valid))}")
    return out


def digest_lines(run_dir: Path, summary: dict[str, Any]) -> list[str]:
    """The end-of-run digest: counts per outcome, truncation, calls and the top distinct errors."""
    o = summary.get("outcomes", {})
    calls = summary.get("model_calls_this_invocation", 0)
    hits = summary.get("cache_hits_this_invocation", 0)
    lines = [
        f"{run_dir}: {summary['n_records']}/{summary['n_expected']} records · correct {o.get('correct', 0)} · "
        f"incorrect {o.get('incorrect', 0)} · unparsed {o.get('unparsed', 0)} · errors {o.get('error', 0)} · "
        f"skipped {o.get('skipped', 0)} · truncated {summary.get('truncated', 0)} · "
        f"{calls} model calls, {hits} cache hits this run"
    ]
    messages = summary.get("error_messages") or []
    if messages:
        lines.append(f"  errors ({o.get('error', 0)}, {summary.get('distinct_errors', len(messages))} distinct; "
                     f"retry them with --retry-errors):")
        lines += [f"    {count}× {msg}" for msg, count in messages]
    return lines


def error_rate(summary: dict[str, Any]) -> float:
    n = summary.get("n_records") or 0
    return (summary.get("errors") or 0) / n if n else 0.0


async def run_specs(specs: list[Any], options: Any, labels: list[str], progress_factory: Any) -> list[Any]:
    """Prepare every spec first (all errors surface before any call), then run them in turn."""
    from lara.engine import prepare, run_prepared

    prepared = [prepare(spec, options) for spec in specs]
    results = []
    try:
        for p, label in zip(prepared, labels):
            async with p.stack:
                results.append(await run_prepared(p, progress=progress_factory(label)))
    finally:
        for p in prepared:  # those not run (an earlier one failed) are closed too
            await p.aclose()
    return results


def print_leaderboard(records: list[Any], style: str, fmt: str, keys: tuple[str, ...] | None = None) -> None:
    from lara.errors import ResultsError
    from lara.results.leaderboard import DEFAULT_KEYS, aggregate, render, table_rows

    if not records:
        raise ResultsError("no result records found")
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


def run_cmd(
    task: str = typer.Option("synthetic", "--task", "-t", help="Task preset or registered task (see `lara tasks`)."),
    runner: str = typer.Option("lc,rag", "--runner", "-r", help="Comma-separated runner presets (see `lara runners`)."),
    model: str = typer.Option("local", "--model", "-m", help="local | mock | openai:<model> | replay:<predictions dir> (see `lara models`)."),
    base_url: Optional[List[str]] = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; repeat for replicas (document affinity + failover)."
    ),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run shard i of N (i/N, i from 0), split by document; own folder; combine with `lara merge`."),
    executor: str = typer.Option("local", "--executor", help="local | ray (Ray actors, see --ray-*) | ray-data (Ray Data batch inference with a vLLM engine; vllm:<model>)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="auto (the running cluster) or ray://host:10001; unset: a private local Ray."),
    ray_actors: int = typer.Option(2, "--ray-actors", help="Ray actors (each its own backend and --max-connections; ray-data: vLLM engine replicas)."),
    ray_actor_resources: Optional[str] = typer.Option(None, "--ray-actor-resources", help='Resources per actor as JSON, e.g. \'{"num_cpus":1,"num_gpus":1}\'.'),
    prefix_cache_tokens: str = typer.Option(
        "auto", "--prefix-cache-tokens",
        help="Server KV-cache size the warm-first order plans with: auto (vLLM's /metrics, else 500k), a size like 2M, or 0 (no bound).",
    ),
    max_connections: int = typer.Option(8, "--max-connections", help="Concurrent requests per endpoint."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Run only the first N samples (N >= 1)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Task data folder (sets the task's data_dir)."),
    allow_outside_data: bool = typer.Option(
        False, "--allow-outside-data", help="Let a JSONL task's document paths point outside the dataset folder."
    ),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="Override the task's scorer."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge model for judge scorers, e.g. openai:gpt-4o."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="Endpoint of the judge model."),
    task_param: Optional[List[str]] = typer.Option(None, "--task-param", "-T", help="Task parameter key=value (repeatable)."),
    runner_param: Optional[List[str]] = typer.Option(None, "--runner-param", "-R", help="Runner parameter key=value (repeatable)."),
    model_param: Optional[List[str]] = typer.Option(None, "--model-param", "-M", help="Backend parameter key=value (repeatable), e.g. -M answer=TEXT for --model mock."),
    scorer_param: Optional[List[str]] = typer.Option(None, "--scorer-param", "-S", help="Scorer parameter key=value (repeatable)."),
    unsafe_exec: bool = typer.Option(
        False, "--unsafe-exec", help="Run generated code WITHOUT the bubblewrap sandbox (plain subprocess). Dangerous."
    ),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Generation budget per call."),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Results root folder."),
    log_prompts: bool = typer.Option(False, "--log-prompts", help="Store full prompt text in records."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Re-run the samples whose latest record is an error (the file keeps the history)."),
    max_error_rate: float = typer.Option(0.5, "--max-error-rate", help="Exit with status 3 when more than this share of a run's records are errors."),
    style: str = typer.Option("default", "--style", help="Leaderboard style after the run: default | lara."),
    fmt: str = typer.Option("rich", "--format", help="Leaderboard format: rich | md | csv | json."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Build every prompt and print calls, tokens, cost and wall time per runner; call no model."
    ),
    max_cost: Optional[float] = typer.Option(
        None, "--max-cost", help="Stop dispatching when the run's actual spend (USD, price table) would pass this; "
        "the rest is recorded as skipped: budget and a rerun with a larger cap continues."
    ),
    max_input_tokens: Optional[str] = typer.Option(
        None, "--max-input-tokens", help="Like --max-cost, for input tokens (e.g. 2M)."
    ),
    price_table: Optional[Path] = typer.Option(
        None, "--price-table", help="YAML price table whose entries replace the shipped lara/data/prices.yaml by model name."
    ),
) -> None:
    """Run a task with one or more runners and print the leaderboard. Reruns resume (0 model calls)."""
    from lara.backends.retry import RetryPolicy
    from lara.config import parse_kv_text, resolve_spec
    from lara.engine import RunOptions
    from lara.progress import RichProgress
    from lara.sharding import parse_shard

    check_view_options(fmt, style)
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not 0.0 <= max_error_rate <= 1.0:
        raise ConfigError(f"--max-error-rate must be between 0 and 1, got {max_error_rate}")
    tparams = parse_kv_text(task_param, "--task-param")
    if data_dir is not None:
        tparams["data_dir"] = str(data_dir)
    if allow_outside_data:
        tparams["allow_outside_data"] = "true"
    mparams: dict[str, Any] = dict(parse_kv_text(model_param, "--model-param"))
    if base_url:
        mparams["base_url"] = base_url[0] if len(base_url) == 1 else list(base_url)
    sparams: dict[str, Any] = dict(parse_kv_text(scorer_param, "--scorer-param"))
    if unsafe_exec:
        typer.secho("WARNING: --unsafe-exec runs model-generated code outside the sandbox, with your user's rights.",
                    fg=typer.colors.RED, err=True)
        sparams["unsafe"] = True
    if judge:
        sparams["judge"] = judge
    if judge_base_url:
        sparams["judge_base_url"] = judge_base_url
    gen: dict[str, Any] = {}
    if max_tokens is not None:
        gen["max_tokens"] = max_tokens
    if temperature is not None:
        gen["temperature"] = temperature
    rparams = parse_kv_text(runner_param, "--runner-param")
    runners = split_csv(runner)
    if not runners:
        raise ConfigError("--runner needs at least one runner")
    specs = [resolve_spec(task, r, model, task_params=tparams, runner_params=rp, model_params=mparams,
                          scorer=scorer, scorer_params=sparams, generation=gen, limit=limit)
             for r, rp in zip(runners, params_per_runner(runners, rparams))]
    from lara.backends.base import parse_model
    from lara.pricing import load_prices

    prices = load_prices(price_table)
    budget = make_budget(max_cost, max_input_tokens, prices)
    if budget is not None and not dry_run:
        for s in specs:  # an unpriced model under --max-cost fails here, before anything runs
            backend_name, model_id = parse_model(s.model)
            budget.check_model(model_id or backend_name, backend_name)
    try:
        options = RunOptions(output_root=output, max_connections=max_connections, use_cache=not no_cache,
                             log_prompts=log_prompts, shard=parse_shard(shard) if shard else None, executor=executor,
                             prefix_cache_tokens=parse_cache_option(prefix_cache_tokens),
                             retry=RetryPolicy(), retry_errors=retry_errors, budget=budget, ray_address=ray_address,
                             ray_actors=ray_actors, ray_actor_resources=parse_resources(ray_actor_resources))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    labels = [f"{s.task_preset or s.task} · {s.runner_preset or s.runner} · {s.model}" for s in specs]
    if dry_run:
        print_estimates(specs, options, prices, labels, fmt)
        return
    try:
        results = asyncio.run(run_specs(specs, options, labels, RichProgress))
    except KeyboardInterrupt:
        typer.secho("interrupted: finished samples are saved; rerun the same command to resume", err=True)
        raise typer.Exit(130) from None
    if budget is not None:
        typer.echo(budget.describe(), err=True)
    finish(results, options, style, fmt, max_error_rate)


def make_budget(max_cost: float | None, max_input_tokens: str | None, prices: Any) -> Any:
    """The spending cap of ``--max-cost`` / ``--max-input-tokens`` (None when neither is given)."""
    if max_cost is None and max_input_tokens is None:
        return None
    from lara.config import parse_tokens
    from lara.engine.budget import Budget

    tokens = None
    if max_input_tokens is not None:
        try:
            tokens = parse_tokens(max_input_tokens)
        except ValueError as exc:
            raise ConfigError(f"--max-input-tokens: {exc}") from None
    return Budget(max_cost_usd=max_cost, max_input_tokens=tokens, prices=prices)


def print_estimates(specs: list[Any], options: Any, prices: Any, labels: list[str], fmt: str) -> None:
    """The dry run: one row per runner (``--format json`` prints the estimates as JSON)."""
    import json

    from lara.estimate import HEADER, estimate_specs, footer_lines, table_rows
    from lara.results.text_table import render_text

    estimates = asyncio.run(estimate_specs(specs, options, prices, labels))
    if fmt == "json":
        typer.echo(json.dumps([e.to_dict() for e in estimates], indent=2))
        return
    rows = table_rows(estimates)
    if fmt == "rich":
        from lara.commands._common import print_table

        print_table("lara dry run: what this command would send", HEADER, rows, left=("run", "tokenizer"))
    else:
        typer.echo(render_text(list(HEADER), rows, fmt))
    for line in footer_lines(estimates, prices, options.max_connections):
        typer.echo(line, err=True)


def finish(results: list[Any], options: Any, style: str, fmt: str, max_error_rate: float) -> None:
    """Digest per run, where things are, the leaderboard of these runs, and the exit status."""
    from lara.cache import default_cache_dir
    from lara.results.collect import collect

    worst = 0.0
    for r in results:
        for line in digest_lines(r.run_dir, dict(r.summary)):
            typer.echo(line, err=True)
        worst = max(worst, error_rate(dict(r.summary)))
    where = f"results under {options.output_root}/"
    where += f"; response cache {options.cache_path or default_cache_dir() / 'responses.sqlite'}" if options.use_cache else "; response cache off"
    typer.echo(where, err=True)
    records = collect([r.run_dir for r in results], combine=True).records
    if records:
        print_leaderboard(records, style=style, fmt=fmt)
    if worst > max_error_rate:
        typer.secho(f"error: {worst:.0%} of a run's records are errors (more than --max-error-rate "
                    f"{max_error_rate:.0%}); see the digest above", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_ERROR_RATE)


def resume_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder (holds run.json)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Re-run the samples whose latest record is an error."),
    max_connections: int = typer.Option(8, "--max-connections", help="Concurrent requests per endpoint."),
    max_error_rate: float = typer.Option(0.5, "--max-error-rate", help="Exit with status 3 above this share of error records."),
    allow_endpoint_change: bool = typer.Option(
        False, "--allow-endpoint-change", help="Resume even though run.json's endpoint or key variable differs from the run's origin."
    ),
    api_key_env: Optional[List[str]] = typer.Option(
        None, "--api-key-env", help="Read the API key from this variable (also allows a name that is not *_API_KEY)."
    ),
) -> None:
    """Continue an interrupted run from its run.json: completed samples are skipped.

    run.json is checked first: an edited endpoint or key variable is refused (see --allow-endpoint-change),
    and keys are read only from *_API_KEY variables or one named with --api-key-env."""
    from lara.commands._resume import describe, trusted_spec
    from lara.engine import RunOptions
    from lara.errors import ResultsError
    from lara.progress import RichProgress
    from lara.results.store import read_run_json

    info = read_run_json(run_dir)
    if not info:
        raise ResultsError(f"{run_dir} has no run.json (not a run folder)")
    spec = trusted_spec(run_dir, info, allow_endpoint_change=allow_endpoint_change, api_key_envs=api_key_env or ())
    typer.echo(describe(spec), err=True)
    shard = tuple(info["shard"]) if info.get("shard") else None
    options = RunOptions(output_root=run_dir.parent, shard=shard, retry_errors=retry_errors,  # type: ignore[arg-type]
                         max_connections=max_connections)
    results = asyncio.run(run_specs([spec], options, [spec.run_id()], RichProgress))
    finish(results, options, "default", "rich", max_error_rate)


def leaderboard_cmd(
    paths: List[Path] = typer.Argument(..., help="Results folders or run folders."),
    fmt: str = typer.Option("rich", "--format", help="rich | md | csv | json"),
    style: str = typer.Option("default", "--style", help="default | lara (the LaRA paper's table layout)."),
    by: Optional[str] = typer.Option(None, "--by", help="Comma-separated grouping keys (default model,runner,task,category,length)."),
    combine: bool = typer.Option(False, "--combine", help="Pool runs of the same task/runner/model that share samples (default: newest run per sample)."),
    sweeps: bool = typer.Option(False, "--sweeps", help="Include the run folders of sweeps (listed as one line each otherwise)."),
    best_per_budget: Optional[str] = typer.Option(
        None, "--best-per-budget", help="Comma-separated budgets (e.g. 16k,32k,128k): best sweep configuration per budget, P*(L_max)."
    ),
    paired: bool = typer.Option(
        False, "--paired", help="LC vs RAG on the same questions, per task and model: A−B with a paired bootstrap CI, "
        "McNemar/sign-flip p, Holm-adjusted verdict and the minimum detectable difference."),
) -> None:
    """Aggregate runs into a table: n, score, 95% CI, errors, skipped, unparsed, truncated.

    Each sample counts once: a run's latest record per sample, and the newest run when several runs
    of one task/runner/model overlap (a warning names them; --combine pools them on purpose)."""
    from lara.results.collect import collect
    from lara.results.leaderboard import check_keys

    check_view_options(fmt, style)
    keys = check_keys(split_csv(by)) if by is not None else None
    if best_per_budget:
        from lara.commands.scaling import best_per_budget_table, print_best
        from lara.config import parse_tokens

        recs = collect(paths, combine=combine, sweeps=True).records
        _, rows = best_per_budget_table([r.to_dict() for r in recs], [parse_tokens(b) for b in split_csv(best_per_budget)])
        print_best(rows, "json" if fmt == "json" else "rich")
        return
    got = collect(paths, combine=combine, sweeps=sweeps)
    for w in got.warnings:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    for sweep in got.sweeps:
        typer.echo(f"sweep {sweep} (left out; `lara leaderboard {sweep}` or --sweeps shows its configurations)", err=True)
    if paired:
        from lara.commands.compare import print_paired

        print_paired(got.records, fmt, combine=combine)
        return
    print_leaderboard(got.records, style=style, fmt=fmt, keys=keys)


def _estimate_command() -> Any:
    """``lara estimate``: ``lara run --dry-run`` under its own name (same options, built from
    run_cmd's signature so the two never drift apart)."""
    import inspect

    sig = inspect.signature(run_cmd)
    params = [p for name, p in sig.parameters.items() if name != "dry_run"]

    def estimate_cmd(**kwargs: Any) -> None:
        run_cmd(**kwargs, dry_run=True)

    estimate_cmd.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    estimate_cmd.__annotations__ = {k: v for k, v in run_cmd.__annotations__.items() if k != "dry_run"}
    estimate_cmd.__doc__ = ("Plan before paying: build every prompt of the run (no model is called) and print, per "
                            "runner, samples, model calls, input/output tokens, truncated/skipped samples, cost from the "
                            "price table and the estimated wall time. Same options as `lara run`.")
    return estimate_cmd


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("estimate")(_estimate_command())
    app.command("resume")(resume_cmd)
    app.command("leaderboard")(leaderboard_cmd)
