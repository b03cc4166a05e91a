"""``lara report``: one self-contained static page (inline CSS/JS, PNG plots next to it) from any
set of run folders, so a reader can study a comparison without the terminal or a server."""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lara import __version__
from lara.report import sections
from lara.report.diff import DiffResult, natural_key, correctness, diff_records, load_run
from lara.report.html import esc, script_json
from lara.report.template import CSS, JS
from lara.report.views import FILTER_FIELDS, distinct, runner_name

log = logging.getLogger(__name__)

MAX_TEXT = 8000  # characters of one answer/question kept in the page (the JSONL keeps everything)


@dataclass(frozen=True)
class ReportResult:
    index: Path
    plots: dict[str, list[Path]]
    n_records: int
    n_runs: int
    diffs: int


def load_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Records of every run below the given folders/files; a run listed twice is read once."""
    from lara.results.store import read_records

    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"no such results folder or file: {p}")
        for r in read_records(p):
            key = (str(r.get("run_id")), str(r.get("sample_id")))
            if key not in seen:
                seen.add(key)
                out.append(r)
    return out


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


def _short_model(r: Mapping[str, Any]) -> str:
    return str(r.get("model_id") or r.get("model") or "-")


def sample_payload(i: int, r: Mapping[str, Any], threshold: float) -> dict[str, Any]:
    """The per-sample fields the drill-down shows (prompts and raw step outputs stay in the JSONL)."""
    prim = (r.get("scores") or {}).get(r.get("score_name") or "", {}) or {}
    retrieved = [
        {"query": _clip(s.get("query"), 300), "ids": [str(x.get("chunk_id")) for x in s.get("retrieved") or []]}
        for s in r.get("steps") or [] if s.get("retrieved")
    ]
    err = r.get("error") or None
    trunc = r.get("truncation") or None
    return {
        "i": i,
        "run": str(r.get("run_id") or "-"),
        "run_short": f"{runner_name(r)} · {_short_model(r)}",
        "task": str(r.get("task") or "-"),
        "category": str(r.get("category") if r.get("category") is not None else "-"),
        "length": str(r.get("length") if r.get("length") is not None else "-"),
        "ctype": r.get("context_type"),
        "model": str(r.get("model") or "-"),
        "model_short": _short_model(r),
        "runner": runner_name(r),
        "id": str(r.get("sample_id")),
        "q": _clip(r.get("question")) or "",
        "a": _clip(r.get("answer")),
        "refs": [_clip(x, 2000) for x in r.get("references") or []],
        "ret": retrieved,
        "score": _finite(r.get("score")),
        "sname": r.get("score_name"),
        "label": correctness(r, threshold),
        "expl": _clip(prim.get("explanation"), 2000),
        "scores": {
            str(k): {"value": _finite(v.get("value")), "status": v.get("status"), "explanation": _clip(v.get("explanation"), 2000)}
            for k, v in (r.get("scores") or {}).items() if isinstance(v, Mapping)
        },
        "err": f"{err.get('type')}: {_clip(err.get('message'), 2000)} (kind {err.get('kind')}, retries {err.get('retries')})" if err else None,
        "in_tok": int(r.get("input_tokens") or 0),
        "calls": int(r.get("n_calls") or 0),
        "eff": int(r.get("effective_context_tokens") or 0),
        "trunc": (f"{trunc.get('policy')}: kept {trunc.get('kept_tokens')} of {trunc.get('original_tokens')} tokens"
                  if trunc and trunc.get("dropped_tokens") else None),
    }


def auto_diff_pairs(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Run pairs worth diffing: tasks with exactly two runs (e.g. LC and RAG on one model)."""
    from lara.results.lara_table import record_mode
    from lara.results.record import Record

    runs: dict[str, dict[str, int]] = defaultdict(dict)
    for r in records:
        rid, task = str(r.get("run_id")), str(r.get("task"))
        runs[task].setdefault(rid, {"LC": 0, "RAG": 1}.get(record_mode(Record.coerce(r)) or "", 2))  # LC is A when present
    pairs = []
    for _, ids in sorted(runs.items()):
        if len(ids) == 2:
            a, b = sorted(ids, key=lambda rid: (ids[rid], rid))
            pairs.append((a, b))
    return pairs


def _filters_bar(records: Sequence[Mapping[str, Any]]) -> str:
    parts = ['<div id="filters"><strong>Filter</strong>']
    for f in FILTER_FIELDS:
        opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in distinct(records, f))
        parts.append(f'<label>{esc(f)}<select data-filter="{esc(f)}"><option value="">all</option>{opts}</select></label>')
    parts.append('<label>outcome<select id="f-outcome"><option value="">all</option>'
                 + "".join(f'<option value="{o}">{o}</option>' for o in ("correct", "wrong", "unparsed", "error", "skipped"))
                 + '</select></label><label>text<input id="f-text" type="search" placeholder="question, answer, id"></label>'
                 '<button id="f-reset" type="button">reset</button></div>')
    return "".join(parts)


def render_page(
    records: Sequence[Mapping[str, Any]],
    plots: Mapping[str, str],
    diffs: Sequence[DiffResult],
    title: str = "lara report",
    threshold: float = 0.5,
) -> str:
    """The whole page as a string; ``plots`` maps plot name -> relative image path."""
    records = sorted(records, key=lambda r: (str(r.get("run_id")), natural_key(str(r.get("sample_id")))))
    index = {(str(r.get("run_id")), str(r.get("sample_id"))): i for i, r in enumerate(records)}
    samples = [sample_payload(i, r, threshold) for i, r in enumerate(records)]
    body = [
        sections.runs_section(records),
        sections.leaderboard_section(records),
        sections.lara_section(records, plots.get("lc_vs_rag")),
        sections.context_section(records, plots.get("accuracy_vs_context")),
        sections.position_section(records, plots.get("lost_in_the_middle")),
        sections.cost_section(records),
        sections.status_section(records),
        *(sections.diff_section(k, d, index) for k, d in enumerate(diffs)),
        sections.samples_section(),
    ]
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in sections.nav_items(len(diffs)))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_runs = len({r.get("run_id") for r in records})
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{len(records)} samples from {n_runs} runs · generated {esc(now)} by lara "
        f"{esc(__version__)} · correct means primary score ≥ {threshold:g}; means exclude unparsed, error and skipped "
        "samples, which are counted separately.</p></header>"
        f"<nav>{nav}</nav>{_filters_bar(records)}<main>{''.join(body)}</main>"
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
) -> ReportResult:
    """Write ``out/index.html`` and ``out/assets/*.png``; returns what was written."""
    records = load_records(paths)
    diffs: list[DiffResult] = []
    if diff_pair is not None:
        a, b = load_run(diff_pair[0]), load_run(diff_pair[1])
        have = {r.get("run_id") for r in records}
        records += [r for r in a + b if r.get("run_id") not in have]
        diffs.append(diff_records(a, b, threshold))
    if not records:
        raise ValueError("no result records found in " + ", ".join(map(str, paths)))
    if diff_pair is None:
        by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            by_run[str(r.get("run_id"))].append(r)
        diffs = [diff_records(by_run[x], by_run[y], threshold) for x, y in auto_diff_pairs(records)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    if plots:
        from lara.report.plots import write_plots

        written = write_plots(records, out / "assets", formats=("png",))
    rel = {name: p[0].relative_to(out).as_posix() for name, p in written.items()}
    index = out / "index.html"
    index.write_text(render_page(records, rel, diffs, title=title, threshold=threshold), encoding="utf-8")
    log.info("report: %s (%d records)", index, len(records))
    return ReportResult(index, written, len(records), len({r.get("run_id") for r in records}), len(diffs))
