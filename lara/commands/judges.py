"""CLI for judges: `lara score` (re-score a saved run, through the engine's scoring path), `lara
compare` (pairwise A vs B with a judge), `lara judge-eval` (agreement with PandaLM's human labels).
Thin: parse, call lara.judging. (`lara compare-runners` — paired statistics of two runs' scores —
is in lara/commands/compare.py.)"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@contextmanager
def _progress(label: str, total: int) -> Iterator[Any]:
    from rich.progress import Progress

    with Progress(transient=True) as p:
        task = p.add_task(label, total=total)
        yield lambda: p.advance(task)


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}" if pct else f"{x:.4f}"


def _usage_line(usage: dict[str, int]) -> str:
    return (f"judge usage: {usage.get('calls', 0)} calls, {usage.get('cached', 0)} cached, "
            f"{usage.get('errors', 0)} failed, {usage.get('input_tokens', 0)} input tokens, "
            f"{usage.get('output_tokens', 0)} output tokens")


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from lara.commands._common import print_table

    print_table(title, header, rows)


def _judge_params(items: Optional[List[str]]) -> dict[str, Any]:
    from lara.config import parse_kv

    try:
        return parse_kv(items)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--judge-param")


def _make_judge(judge: str, base_url: Optional[str], params: dict[str, Any]) -> Any:
    from lara.backends.base import EndpointLimits
    from lara.scoring.judge import Judge

    return Judge.from_model(judge, base_url=base_url, params=params, limits=EndpointLimits())


def score_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder (holds samples.jsonl) or a samples.jsonl file."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge model, e.g. openai:gpt-4o or local. Required for judge scorers."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint of the judge."),
    judge_param: Optional[List[str]] = typer.Option(None, "--judge-param", "-J", help="Judge backend parameter key=value (repeatable), e.g. max_retries=2."),
    scorer: str = typer.Option("lara_judge", "--scorer", help="lara_judge | graded_judge | lexical (any registered scorer)."),
    concurrency: int = typer.Option(8, "--concurrency", help="Samples judged at once (the endpoint limit also applies)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default samples.scored-<scorer>-<judge>.jsonl beside the input)."),
) -> None:
    """Re-score a saved run without calling the evaluated model.

    Writes a NEW file with scores[<scorer>] and the primary score fields updated; samples.jsonl is
    never modified. Rerunning resumes: samples already scored (ok or unparsed) are not judged again.
    """
    from lara.backends.base import EndpointLimits
    from lara.judging.records import read_records, samples_path
    from lara.judging.rescore import make_scorer, rescore_run

    src = samples_path(run_dir)
    if not src.exists():
        raise typer.BadParameter(f"{src} does not exist", param_hint="RUN_DIR")
    try:
        sc = make_scorer(scorer, judge=judge, judge_base_url=judge_base_url,
                         judge_params=_judge_params(judge_param), limits=EndpointLimits())
    except (KeyError, ValueError, TypeError) as exc:
        _fail(str(exc))
    n = len(read_records(src))  # the latest record per sample is what gets scored
    with _progress(f"scoring with {scorer}", n) as tick:
        res = asyncio.run(rescore_run(src, sc, judge=judge if getattr(sc, "needs_judge", False) else None,
                                      out=out, concurrency=concurrency, progress=tick))
    c = res.counts
    typer.echo(f"wrote {res.path}")
    typer.echo(f"{sum(c.values())} samples: judged {c.get('ok', 0)}, unparsed {c.get('unparsed', 0)}, "
               f"error {c.get('error', 0)}, skipped {c.get('skipped', 0)} "
               f"(scored now {res.scored_now}, reused {res.reused}); mean {scorer} {_fmt(res.mean)}")
    if res.usage:
        typer.echo(_usage_line(res.usage))


def compare_cmd(
    run_a: Path = typer.Argument(..., help="Run A (e.g. the long-context run)."),
    run_b: Path = typer.Argument(..., help="Run B (e.g. the RAG run)."),
    judge: str = typer.Option(..., "--judge", help="Judge model, e.g. openai:gpt-4o."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint of the judge."),
    judge_param: Optional[List[str]] = typer.Option(None, "--judge-param", "-J", help="Judge backend parameter key=value (repeatable), e.g. max_retries=2."),
    fmt: str = typer.Option("pandalm", "--format", help="pandalm (1/2/Tie) | mtbench ([[A]]/[[B]]/[[C]])."),
    reference: bool = typer.Option(False, "--reference", help="mtbench only: reference-guided prompt with the ground truth."),
    by: str = typer.Option("category", "--by", help="Record field to group by."),
    concurrency: int = typer.Option(8, "--concurrency"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write every pair's verdicts (both orders) as JSONL."),
) -> None:
    """Judge run A's answers against run B's for the same sample ids, both orders each.

    Win rate = (wins + ties/2) / judged, 95% percentile bootstrap interval; unparsed and failed
    pairs are counted apart and never as losses. Conflict = the two orders disagreed (→ tie).
    """
    from lara.judging.compare import compare_runs
    from lara.judging.pairwise import FORMATS
    from lara.judging.records import read_records, samples_path, write_jsonl_atomic

    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    for p in (run_a, run_b):
        if not samples_path(p).exists():
            raise typer.BadParameter(f"{samples_path(p)} does not exist")
    try:
        j = _make_judge(judge, judge_base_url, _judge_params(judge_param))
    except (KeyError, ValueError, TypeError) as exc:
        _fail(str(exc))
    n = len(read_records(run_a))
    with _progress("comparing", n) as tick:
        res = asyncio.run(compare_runs(run_a, run_b, j, fmt=fmt, use_reference=reference, by=by,
                                       concurrency=concurrency, progress=tick))
    rows = [[r.category, str(r.n), str(r.wins), str(r.ties), str(r.losses), _fmt(r.win_rate, True),
             f"[{_fmt(r.ci_low, True)}, {_fmt(r.ci_high, True)}]", _fmt(r.conflict_rate, True),
             str(r.unparsed), str(r.errors)] for r in res.rows]
    _table(f"A={run_a.name} vs B={run_b.name} (judge {judge}, {fmt}, both orders)",
           [by, "judged", "A wins", "ties", "B wins", "A win rate %", "95% CI", "conflict %", "unparsed", "error"], rows)
    if res.only_in_one or res.missing_answer:
        typer.echo(f"not compared: {res.only_in_one} sample ids in only one run, {res.missing_answer} without an answer")
    typer.echo(_usage_line(res.usage))
    if out:
        write_jsonl_atomic(out, res.pairs)
        typer.echo(f"wrote {out}")


def judge_eval_cmd(
    data: Path = typer.Option(..., "--data", help="PandaLM testset-v1.json (released verdict files beside it become reference rows)."),
    judge: Optional[List[str]] = typer.Option(None, "--judge", help="Judge model(s) to evaluate (repeatable)."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint of the judge."),
    judge_param: Optional[List[str]] = typer.Option(None, "--judge-param", "-J", help="Judge backend parameter key=value (repeatable), e.g. max_retries=2."),
    fmt: str = typer.Option("pandalm", "--format", help="pandalm | mtbench prompt for the judges given."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N items (all rows use the same items)."),
    unparsed: str = typer.Option("tie", "--unparsed", help="tie (PandaLM's rule) | miss | drop: how unparsed verdicts count."),
    concurrency: int = typer.Option(8, "--concurrency"),
) -> None:
    """Agreement with the 3-annotator majority label: accuracy, macro-F1, Cohen's kappa, conflict rate."""
    from lara.judging.agreement import UNPARSED_POLICIES
    from lara.judging.pandalm_eval import judge_row, judge_testset, load_testset, reference_rows

    if not data.exists():
        raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
    if unparsed not in UNPARSED_POLICIES:
        raise typer.BadParameter(f"choose one of {', '.join(UNPARSED_POLICIES)}", param_hint="--unparsed")
    try:
        items = load_testset(data)[:limit]
        rows = reference_rows(data, unparsed=unparsed, limit=limit)
    except ValueError as exc:
        _fail(str(exc))
    for model in judge or []:
        try:
            j = _make_judge(model, judge_base_url, _judge_params(judge_param))
        except (KeyError, ValueError, TypeError) as exc:
            _fail(str(exc))
        with _progress(f"judging with {model}", len(items)) as tick:
            verdicts = asyncio.run(judge_testset(j, items, fmt=fmt, concurrency=concurrency, progress=tick))
        rows.append(judge_row(model, items, verdicts, unparsed=unparsed, usage=j.usage.as_dict()))
    body = [[r.name, str(r.agreement.n), _fmt(r.agreement.accuracy), _fmt(r.agreement.macro_f1),
             _fmt(r.agreement.kappa), _fmt(r.agreement.conflict_rate), str(r.agreement.unparsed)] for r in rows]
    _table(f"judge agreement with the human majority ({len(items)} items, unparsed→{unparsed})",
           ["judge", "n", "accuracy", "macro-F1", "kappa", "conflict rate", "unparsed"], body)
    for r in rows:
        if r.usage:
            typer.echo(f"{r.name}: {_usage_line(r.usage)}")


def register(app: typer.Typer) -> None:
    app.command("score")(score_cmd)
    app.command("compare")(compare_cmd)
    app.command("judge-eval")(judge_eval_cmd)
