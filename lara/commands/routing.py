"""Routing commands: outcome rows, fit and calibrate policies, ask a policy, evaluate policies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List, NoReturn, Optional

import typer


def _records(paths: list[Path]) -> list[dict]:
    from lara.commands._common import records_from

    return records_from(paths)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _fail(msg: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _print_rows(title: str, rows: list, tokens: bool, accuracy_label: str) -> None:
    from rich.table import Table

    from lara.commands._common import wide_console

    table = Table(title=title)
    cols = ["policy", accuracy_label, "winner chosen", "gap recovered", "LC share"]
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
    wide_console().print(table)


def _target(max_lc_share: float | None, max_lc_token_share: float | None, price: float | None,
            value: float | None) -> dict[str, Any] | None:
    given = [x is not None for x in (max_lc_share, max_lc_token_share, price)]
    if sum(given) > 1:
        raise typer.BadParameter("give one target: --max-lc-share, --max-lc-token-share or --price-per-1k")
    if max_lc_share is not None:
        return {"kind": "max_lc_share", "value": max_lc_share}
    if max_lc_token_share is not None:
        return {"kind": "max_lc_token_share", "value": max_lc_token_share}
    if price is not None:
        if value is None:
            raise typer.BadParameter("--price-per-1k needs --value-per-correct")
        return {"kind": "price", "price_per_1k": price, "value_per_correct": value}
    if value is not None:
        raise typer.BadParameter("--value-per-correct needs --price-per-1k")
    return None


MAX_LC_SHARE = typer.Option(None, "--max-lc-share", help="Target: at most this share of requests on LC (0-1).")
MAX_LC_TOKENS = typer.Option(None, "--max-lc-token-share", help="Target: at most this share of always-LC's input tokens (0-1).")
PRICE = typer.Option(None, "--price-per-1k", help="Target: price per 1k input tokens (with --value-per-correct).")
VALUE = typer.Option(None, "--value-per-correct", help="Value of a correct answer, in the price's unit.")


def register(app: typer.Typer) -> None:
    @app.command("outcomes")
    def outcomes(
        runs: List[Path] = typer.Argument(..., help="Run folders / samples.jsonl files with LC and RAG runs of the same questions."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the outcome rows (JSONL)."),
        rescore: Optional[str] = typer.Option(None, "--rescore", help="Re-score the stored answers with this deterministic scorer (e.g. lexical) first."),
    ) -> None:
        """One row per question answered both ways (model, length, type, category, question, both outcomes, both token counts)."""
        from lara.routing.outcomes import outcome_rows, rescore as rescore_records, write_rows

        recs = _records(runs)
        rows, counts = outcome_rows(rescore_records(recs, rescore) if rescore else recs)
        if not rows:
            _fail(f"no question has both an LC and a RAG record with a score ({counts.summary()})")
        n = write_rows(rows, out)
        typer.echo(f"wrote {n} rows to {out}: {counts.summary()}; models: {', '.join(sorted({r.model for r in rows}))}")

    @app.command("fit-router")
    def fit_router(
        results: List[Path] = typer.Argument(None, help="Run folders or samples.jsonl files with LC and RAG runs."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the policy JSON."),
        kind: str = typer.Option("question", "--kind", help="question (per-request router) | table (per model, length, category)."),
        paper_table: Optional[Path] = typer.Option(None, "--paper-table", help="Fit the paper_table policy from the LaRA paper table CSV instead of runs."),
        model_info: Optional[Path] = typer.Option(None, "--model-info", help="JSON {model: {group: open|proprietary, aliases: [...]}} (optional)."),
        name: str = typer.Option("fitted", "--name", help="Policy name stored in the JSON."),
        note: Optional[str] = typer.Option(None, "--note", help="Free text stored in the policy's source (e.g. the data)."),
    ) -> None:
        """Fit a routing policy from runs (how the shipped default is made: see its source field)."""
        from lara.routing import save_policy
        from lara.routing.fit import fit_paper_policy, fit_policy, read_paper_table

        if kind not in ("question", "table"):
            raise typer.BadParameter(f"unknown kind {kind!r}; valid: question, table")
        if paper_table is not None:
            data = fit_paper_policy(read_paper_table(paper_table), name=name)
        elif not results:
            raise typer.BadParameter("give run folders / samples.jsonl files, or --paper-table")
        elif kind == "table":
            try:
                data = fit_policy(_records(results), name=name)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
        else:
            from lara.routing.outcomes import outcome_rows
            from lara.routing.train import fit_prior, policy_document

            recs = _records(results)
            rows, counts = outcome_rows(recs)
            if len({r.model for r in rows}) < 2:
                _fail(f"a question policy needs paired runs of at least two models ({counts.summary()})")
            info = json.loads(model_info.read_text(encoding="utf-8")) if model_info else None
            fitted = fit_prior(rows, model_info=info)
            desc = ("Question-level LC vs RAG router: P(correct) of each from the request's features and a "
                    "per-model offset (training models' own, a probe-calibrated one, or the training models' mean).")
            scorers = sorted({str(s.get("scorer")) for r in recs for s in (r.get("scores") or {}).values()})
            source = {"fitted_from": counts.summary(), "models": sorted({r.model for r in rows}), "scorers": scorers}
            if note:
                source["note"] = note
            data = policy_document(fitted, name, desc, source)
        save_policy(data, out)
        typer.echo(f"wrote {out} ({name}@{data['version']}, kind {data['kind']})")

    @app.command("fit-category")
    def fit_category_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the classifier JSON."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="LaRA data (default: LARA_DATA_DIR)."),
    ) -> None:
        """Fit the question-category classifier on LaRA's questions (the shipped one is models/category.json)."""
        from lara.routing.category import fit_lara, save_classifier

        save_classifier(fit_lara(data_dir), out)
        typer.echo(f"wrote {out}")

    @app.command("calibrate")
    def calibrate_cmd(
        model: str = typer.Option(..., "--model", "-m", help="openai:<model> (with --base-url) or replay:<predictions dir>."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the calibrated policy JSON."),
        probe: int = typer.Option(96, "--probe", help="Probe questions (stratified over categories x lengths x context types)."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint of the model."),
        policy: str = typer.Option("default", "--policy", "-p", help="The question policy to calibrate (name or JSON path)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the probe draw."),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="LaRA data (default: LARA_DATA_DIR)."),
        task: str = typer.Option("lara", "--task", help="LaRA task preset the probe is drawn from (lara, lara-32k, lara-128k)."),
        runs: Path = typer.Option(Path("results"), "--runs", help="Results root for the probe's LC and RAG runs (resumable)."),
        scorer: str = typer.Option("lexical", "--scorer", help="Scorer of the probe answers."),
        judge: Optional[str] = typer.Option(None, "--judge", help="Judge model for judge scorers."),
        open_weights: Optional[bool] = typer.Option(None, "--open/--proprietary", help="The model's class, when known (its prior)."),
        max_lc_share: Optional[float] = MAX_LC_SHARE,
        max_lc_token_share: Optional[float] = MAX_LC_TOKENS,
        price: Optional[float] = PRICE,
        value: Optional[float] = VALUE,
        max_connections: int = typer.Option(8, "--max-connections"),
    ) -> None:
        """Run a stratified LC+RAG probe of a model on LaRA and write a policy calibrated to it."""
        from lara.routing import PolicyError, load_policy, save_policy
        from lara.routing.outcomes import rows_from_paths
        from lara.routing.probe import calibrate_policy, probe_samples, run_probe, task_samples
        from lara.routing.question import QuestionPolicy

        target = _target(max_lc_share, max_lc_token_share, price, value)
        try:
            pol = load_policy(policy)
        except PolicyError as exc:
            _fail(str(exc))
        if not isinstance(pol, QuestionPolicy):
            _fail(f"policy {policy!r} is of kind {pol.kind!r}; calibration needs a question policy")
        tparams = {"data_dir": str(data_dir)} if data_dir else {}
        if not data_dir and not os.environ.get("LARA_DATA_DIR") and model.startswith("replay:"):
            # recorded predictions sit in <lara>/predictions/<model>: their questions in <lara>/datasets
            os.environ["LARA_DATA_DIR"] = str(Path(model.split(":", 1)[1]).expanduser().resolve().parent.parent)
        try:
            samples = task_samples(model, task, tparams)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            _fail(str(exc))
        chosen = probe_samples(samples, probe, seed)
        mparams = {"base_url": base_url} if base_url else {}
        sparams = {"judge": judge} if judge else {}
        dirs = run_probe(model, chosen, runs, task=task, task_params=tparams, model_params=mparams, scorer=scorer,
                         scorer_params=sparams, max_connections=max_connections)
        ids = {s.id for s in chosen}
        rows, counts = rows_from_paths(dirs)
        rows = [r for r in rows if r.sample_id in ids]
        if not rows:
            _fail(f"no probe question was answered and scored both ways ({counts.summary()})")
        group = None if open_weights is None else ("open" if open_weights else "proprietary")
        cal = calibrate_policy(pol, rows, model, target, group=group)
        save_policy(cal, out)
        c = cal.params["calibrated"]
        pr = c["probe"]
        typer.echo(f"probe: {len(rows)} of {len(chosen)} questions answered both ways; LC {pr['lc_accuracy']:.3f}, "
                   f"RAG {pr['rag_accuracy']:.3f}, {pr['input_tokens']:,} input tokens")
        for s in ("long_context", "rag"):
            prior = pol.params["offsets"]["prior"]["mean"][s]
            typer.echo(f"offset {s}: " + ", ".join(f"{b} {prior[b]:+.2f}->{v:+.2f}" for b, v in c["offsets"][s].items()))
        typer.echo(f"wrote {out} ({cal.name}; target {cal.params['target']})")

    @app.command("route")
    def route(
        context_tokens: str = typer.Option(..., "--context-tokens", "-c", help="Context length: 30000, 32k, 1M."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model id (default: the policy's calibrated model, else unknown)."),
        question: Optional[str] = typer.Option(None, "--question", "-q", help="The question text (question policies)."),
        category: str = typer.Option("unknown", "--category", help="location | reasoning | comparison | hallucination | unknown (predicted from --question)."),
        policy: str = typer.Option("default", "--policy", "-p", help="Shipped policy name or a policy JSON path."),
        retrieval_scores: Optional[str] = typer.Option(None, "--retrieval-scores", help="Scores of the top chunks, best first: 12.1,9.8,9.7."),
        retriever: Optional[str] = typer.Option(None, "--retriever", help="bm25 | dense | hybrid (lara's: 3 BM25 then dense)."),
        budget: Optional[str] = typer.Option(None, "--budget", help="Per-question effective-context budget in tokens (budget policy)."),
        params_b: Optional[float] = typer.Option(None, "--params-b", help="Parameter count in billions (unseen models)."),
        window: Optional[str] = typer.Option(None, "--window", help="Context window in tokens."),
        open_weights: Optional[bool] = typer.Option(None, "--open/--proprietary", help="Open-weights or proprietary model."),
        context_type: Optional[str] = typer.Option(None, "--context-type", help="e.g. book, financial, paper."),
        max_lc_share: Optional[float] = MAX_LC_SHARE,
        max_lc_token_share: Optional[float] = MAX_LC_TOKENS,
        price: Optional[float] = PRICE,
        value: Optional[float] = VALUE,
        as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    ) -> None:
        """Print a policy's decision (strategy, parameters, expected accuracy and tokens, reason) for one request."""
        from lara.config import parse_tokens
        from lara.routing import RequestFeatures, load_policy
        from lara.routing.question import QuestionPolicy

        target = _target(max_lc_share, max_lc_token_share, price, value)
        try:
            pol = load_policy(policy)
            if target is not None:
                if not isinstance(pol, QuestionPolicy):
                    raise ValueError(f"cost targets need a question policy; {policy!r} is of kind {pol.kind!r}")
                pol = pol.with_target(model=model, **target)
            scores = tuple(float(v) for v in retrieval_scores.split(",")) if retrieval_scores else None
            who = model or (pol.params.get("calibrated") or {}).get("model") or "unknown"
            feats = RequestFeatures(
                model=who, context_tokens=parse_tokens(context_tokens), category=category,
                context_type=context_type, parameters_b=params_b,
                context_window=parse_tokens(window) if window else None,
                budget_tokens=parse_tokens(budget) if budget else None, open_weights=open_weights,
                question=question, retrieval_scores=scores, retriever=retriever,
            )
        except ValueError as exc:  # PolicyError and ConfigError are ValueErrors
            raise typer.BadParameter(str(exc)) from exc
        d = pol.decide(feats)
        if as_json:
            typer.echo(json.dumps(d.to_dict(), indent=1))
            return
        params = " ".join(f"{k}={v}" for k, v in d.params.items())
        typer.echo(f"{d.strategy} {params}".rstrip())
        for s in sorted(set(d.expected_scores) | set(d.expected_tokens)):
            acc = d.expected_scores.get(s)
            tok = d.expected_tokens.get(s)
            typer.echo(f"  {s}: expected accuracy {'-' if acc is None else f'{acc:.3f}'}, "
                       f"expected input tokens {'-' if tok is None else f'{tok:,}'}")
        typer.echo(f"reason: {d.reason}")
        typer.echo(f"policy: {d.policy_version}")

    @app.command("route-eval")
    def route_eval_cmd(
        results: List[Path] = typer.Argument(None, help="Run folders / samples.jsonl with LC and RAG runs of the same questions."),
        paper_table: Optional[Path] = typer.Option(None, "--paper-table", help="LaRA paper table CSV for the leave-one-model-out view (default: the figures in the shipped paper_table policy)."),
        policy: List[str] = typer.Option(["default", "paper_table", "rules"], "--policy", "-p", help="Policies to compare (names or JSON paths)."),
    ) -> None:
        """Compare routing policies with always-LC, always-RAG and the oracle (accuracy, tokens, gap recovered)."""
        from lara.routing import PolicyError, load_policy
        from lara.routing.evaluate import lomo_paper, paper_rows_from_policy, route_eval
        from lara.routing.fit import read_paper_table

        rows = read_paper_table(paper_table) if paper_table else paper_rows_from_policy(load_policy("paper_table"))
        src = str(paper_table) if paper_table else "figures in the shipped paper_table policy"
        lomo = lomo_paper(rows)
        _print_rows(f"LaRA paper table, leave-one-model-out (88 cells, {lomo[0].ties} ties; {src})", lomo,
                    tokens=False, accuracy_label="accuracy (LaRA: mean over context types)")
        typer.echo("winner chosen: share of cells/questions where LC and RAG differ whose better strategy was chosen (ties left out); "
                   "gap recovered = (acc - best constant) / (oracle - best constant); "
                   "PGR = (acc - worse constant) / (better constant - worse constant)")
        if not results:
            return
        try:
            pols = {p: load_policy(p) for p in policy}
        except PolicyError as exc:
            raise typer.BadParameter(str(exc)) from exc
        evals, counts = route_eval(_records(results), pols)
        if not evals:
            _fail(f"no question has both a scored LC and a scored RAG record ({counts})")
        _print_rows(f"Runs: {counts['paired']} paired questions ({counts['ties']} ties, {counts['decisive']} decisive; "
                    f"{counts['unpaired_or_unscored']} unpaired or unscored left out)", evals, tokens=True,
                    accuracy_label="accuracy (per-question mean)")
