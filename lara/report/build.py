"""``lara report``: one self-contained static page (inline CSS/JS, PNG plots next to it) from any
set of run folders, so a reader can study a comparison without the terminal or a server.

Records come through :func:`lara.results.collect.collect` (a run's latest record per sample; the
newest run per sample when runs of one task/runner/model overlap, unless ``combine``), so the page
counts exactly what ``lara leaderboard`` counts.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from lara import __version__
from lara.report import sections
from lara.report.diff import DiffResult, correctness, diff_records, load_run, natural_key
from lara.report.html import esc, script_json
from lara.report.names import display_names
from lara.report.template import CSS, JS
from lara.report.views import FILTER_FIELDS, distinct, field_value, runner_name
from lara.results.paired import SliceStats, compare_runs, strategy_pairings
from lara.results.record import Record

log = logging.getLogger(__name__)

MAX_TEXT = 8000  # characters of one answer/question kept in the page (the JSONL keeps everything)


@dataclass(frozen=True)
class ReportResult:
    index: Path
    plots: dict[str, list[Path]]
    n_records: int
    n_runs: int
    diffs: int
    headlines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _clip(text: Any, limit: int = MAX_TEXT) -> str | None:
    if text is None:
        return None
    s = str(text)
    return s if len(s) <= limit else s[:limit] + f"\n… [{len(s) - limit} more characters in samples.jsonl]"


def _finite(x: Any) -> float | None:
    """Scores as JSON numbers; NaN/inf (not valid JSON) and non-numbers become null."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def sample_payload(i: int, r: Record, threshold: float, names: Mapping[str, str]) -> dict[str, Any]:
    """The per-sample fields the drill-down shows (prompts and raw step outputs stay in the JSONL)."""
    prim = (r.scores or {}).get(r.score_name or "", {}) or {}
    retrieved = [
        {"query": _clip(s.get("query"), 300), "ids": [str(x.get("chunk_id")) for x in s.get("retrieved") or []]}
        for s in r.steps if s.get("retrieved")
    ]
    err = r.error or None
    trunc = r.truncation or None
    model = field_value(r, "model", names)
    return {
        "i": i,
        "run": r.run_id or "-",
        "run_short": f"{runner_name(r)} · {model}",
        "task": field_value(r, "task"),
        "category": field_value(r, "category"),
        "length": field_value(r, "length"),
        "ctype": r.context_type,
        "model": model,
        "model_spec": r.model or "-",
        "runner": runner_name(r),
        "id": r.sample_id,
        "q": _clip(r.question) or "",
        "a": _clip(r.answer),
        "refs": [_clip(x, 2000) for x in r.references],
        "ret": retrieved,
        "score": _finite(r.score),
        "sname": r.score_name,
        "label": correctness(r, threshold),
        "expl": _clip(prim.get("explanation"), 2000),
        "scores": {
            str(k): {"value": _finite(v.get("value")), "status": v.get("status"), "explanation": _clip(v.get("explanation"), 2000)}
            for k, v in (r.scores or {}).items() if isinstance(v, Mapping)
        },
        "err": f"{err.get('type')}: {_clip(err.get('message'), 2000)} (kind {err.get('kind')}, retries {err.get('retries')})" if err else None,
        "in_tok": r.input_tokens,
        "calls": r.n_calls,
        "eff": r.effective_context_tokens,
        "trunc": (f"{trunc.get('policy')}: kept {trunc.get('kept_tokens')} of {trunc.get('original_tokens')} tokens"
                  if trunc and trunc.get("dropped_tokens") else None),
    }


def _groups(records: Sequence[Record]) -> dict[tuple[str, str, str], list[Record]]:
    """Records per run group (task, model, runner label): what collect keeps one record per sample of."""
    out: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        out[(r.task, r.model, runner_name(r))].append(r)
    return out


def auto_diffs(records: Sequence[Record], threshold: float = 0.5) -> list[DiffResult]:
    """Diffs worth reading: every LC-vs-RAG pairing (same task and model; LC is A), and for a task
    without one but with exactly two run groups, those two."""
    groups = _groups(records)
    out = []
    paired_tasks = set()
    for p in strategy_pairings(records):
        paired_tasks.add(p.task)
        out.append(diff_records(groups[(p.task, p.model, p.a_name)], groups[(p.task, p.model, p.b_name)],
                                threshold))
    by_task: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in groups:
        by_task[key[0]].append(key)
    for task, keys in sorted(by_task.items()):
        if task not in paired_tasks and len(keys) == 2:
            a, b = sorted(keys, key=lambda k: (k[2], k[1]))
            out.append(diff_records(groups[a], groups[b], threshold))
    return out


def _filters_bar(records: Sequence[Record], names: Mapping[str, str]) -> str:
    parts = ['<div id="filters"><strong>Filter</strong>']
    for f in FILTER_FIELDS:
        opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in distinct(records, f, names))
        parts.append(f'<label>{esc(f)}<select data-filter="{esc(f)}"><option value="">all</option>{opts}</select></label>')
    parts.append('<label>outcome<select id="f-outcome"><option value="">all</option>'
                 + "".join(f'<option value="{o}">{o}</option>' for o in ("correct", "incorrect", "unparsed", "error", "skipped"))
                 + '</select></label><label>text<input id="f-text" type="search" placeholder="question, answer, id"></label>'
                 '<button id="f-reset" type="button">reset</button></div>')
    return "".join(parts)


def render_page(
    records: Sequence[Record],
    plots: Mapping[str, str],
    diffs: Sequence[DiffResult],
    title: str = "lara report",
    threshold: float = 0.5,
    paired: Sequence[SliceStats] = (),
    warnings: Sequence[str] = (),
) -> str:
    """The whole page as a string; ``plots`` maps plot name -> relative image path."""
    records = sorted(records, key=lambda r: (r.run_id, natural_key(r.sample_id)))
    names = display_names(records)
    index = {(r.run_id, r.sample_id): i for i, r in enumerate(records)}
    samples = [sample_payload(i, r, threshold, names) for i, r in enumerate(records)]
    body = [
        sections.runs_section(records, names),
        sections.leaderboard_section(records, names),
        sections.lara_section(records, plots.get("lc_vs_rag"), names, paired),
        sections.context_section(records, plots.get("accuracy_vs_context"), names),
        sections.position_section(records, plots.get("lost_in_the_middle"), names),
        sections.cost_section(records, names),
        sections.status_section(records, names),
        *(sections.diff_section(k, d, index, names) for k, d in enumerate(diffs)),
        sections.samples_section(),
    ]
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in sections.nav_items(len(diffs)))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_runs = len({r.run_id for r in records})
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{len(records)} samples from {n_runs} runs · generated {esc(now)} by lara "
        f"{esc(__version__)} · correct means primary score ≥ {threshold:g}; means exclude unparsed, error and skipped "
        "samples, which are counted separately.</p>"
        f"{sections.headlines(paired, names)}{sections.warnings_block(warnings)}</header>"
        f"<nav>{nav}</nav>{_filters_bar(records, names)}<main>{''.join(body)}</main>"
        '<dialog id="drill"><div class="head"><strong class="title">Sample detail</strong>'
        '<button id="drill-close" type="button">close</button></div><div class="body"></div></dialog>'
        f'<script type="application/json" id="lara-data">{script_json({"samples": samples})}</script>'
        f"<script>{JS}</script></body></html>\n"
    )


def build_report(
    paths: Sequence[Path],
    out: Path,
    diff_pair: tuple[Path, Path] | None = None,
    title: str = "lara report",
    threshold: float = 0.5,
    plots: bool = True,
    combine: bool = False,
    sweeps: bool = False,
    seed: int = 0,
) -> ReportResult:
    """Write ``out/index.html`` and ``out/assets/*.png``; returns what was written."""
    from lara.errors import ResultsError
    from lara.results.collect import collect

    got = collect(paths, combine=combine, sweeps=sweeps)
    records = list(got.records)
    warnings = list(got.warnings)
    warnings += [f"sweep {s} left out (pass it, or --sweeps, to include its runs)" for s in got.sweeps]
    # pairs need one record per sample: with --combine they come from the newest run per sample
    pairable = collect(paths, sweeps=sweeps).records if combine else records
    if combine:
        warnings.append("--combine pools repeated runs in the tables; the paired statistics and diffs use one "
                        "record per sample (the newest run's)")
    diffs: list[DiffResult] = []
    if diff_pair is not None:
        a, b = load_run(diff_pair[0]), load_run(diff_pair[1])
        have = set(_groups(records))
        extra = [r for r in (*a, *b) if (r.task, r.model, runner_name(r)) not in have]
        records += extra
        pairable = [*pairable, *extra]
        diffs.append(diff_records(a, b, threshold))
    if not records:
        raise ResultsError("no result records found in " + ", ".join(map(str, paths)))
    if diff_pair is None:
        diffs = auto_diffs(pairable, threshold)
    paired = compare_runs(strategy_pairings(pairable), seed=seed)
    names = display_names(records)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    if plots:
        from lara.report.plots import write_plots

        written = write_plots(records, out / "assets", formats=("png",), model_names=names)
    rel = {name: p[0].relative_to(out).as_posix() for name, p in written.items()}
    index = out / "index.html"
    from lara.secrets import redact_text

    page = render_page(records, rel, diffs, title=title, threshold=threshold, paired=paired, warnings=warnings)
    # records are redacted when written; a run written before that, or by another tool, is covered here
    index.write_text(redact_text(page), encoding="utf-8")
    log.info("report: %s (%d records)", index, len(records))
    from lara.report.paired_table import headline

    heads = [headline(r, names) for r in paired if r.category == "overall"]
    return ReportResult(index, written, len(records), len({r.run_id for r in records}), len(diffs), heads, warnings)
