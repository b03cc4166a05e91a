"""The report's sections as escaped HTML strings, one function per view (numbers come from
:mod:`lara.results.leaderboard`, :mod:`lara.results.lara_table`, :mod:`lara.results.paired` and
:mod:`lara.report.views`). Every table row carries the record fields it stands for as ``data-*``
attributes, so the filter bar narrows every table, the LaRA view included."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any, Mapping, Sequence

from lara.report.diff import DiffResult
from lara.report.html import Cell, details, esc, num, pct, section, signed, table
from lara.report.paired_table import HEADER as PAIRED_HEADER
from lara.report.paired_table import cells as paired_cells
from lara.report.paired_table import caption as paired_caption
from lara.report.paired_table import group_rows, headline, title as paired_title
from lara.report.views import (
    GROUP, accuracy_by_context, accuracy_by_position, cost_rows, field_value, runner_name, status_rows,
)
from lara.results import lara_table
from lara.results.leaderboard import DEFAULT_KEYS, aggregate
from lara.results.paired import OVERALL, SliceStats, category_key, length_key
from lara.results.record import Record

_SHOW = Cell('<button type="button" data-show="1">samples</button>', raw=True)
MULTI = "\t"  # joins several values of one filter attribute (a gap row stands for two runners)


def nav_items(n_diffs: int) -> list[tuple[str, str]]:
    items = [("runs", "Runs"), ("leaderboard", "Leaderboard"), ("lara", "LC vs RAG"), ("context", "Accuracy vs context"),
             ("position", "Answer position"), ("cost", "Cost"), ("status", "Score status")]
    items += [(f"diff-{k}", f"Diff {k + 1}") for k in range(n_diffs)]
    return items + [("samples", "Samples")]


def _clip(text: Any, n: int = 160) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _img(path: str | None, alt: str) -> str:
    return f'<img class="plot" src="{esc(path)}" alt="{esc(alt)}">' if path else ""


def _attrs(keys: Sequence[str], values: Sequence[str]) -> dict[str, str]:
    return {k: v for k, v in zip(keys, values)}


def _key_cell(name: str, value: str) -> Cell:
    """A grouping value; lengths sort by their number (32k before 128k) when a header is clicked."""
    if name == "length":
        k = length_key(value)
        return Cell(value, k[1] if k[0] == 0 else None)
    return Cell(value, cls="model" if name == "model" else "")


def _sort_rows(rows: list, keys: Sequence[str]) -> list:
    """Leaderboard rows ordered with lengths by number and categories in LaRA's order."""
    def k(row: Any) -> tuple:
        return tuple(length_key(v) if name == "length" else category_key(v) if name == "category" else (0, 0, v)
                     for name, v in zip(keys, row.key))
    return sorted(rows, key=k)


def display_records(records: Sequence[Record], names: Mapping[str, str]) -> list[Record]:
    """Records whose ``model`` and ``model_id`` are the display name: the shared aggregations then
    group and print models the way every table of the page names them."""
    return [replace(r, model=field_value(r, "model", names), model_id=field_value(r, "model", names)) for r in records]


def headlines(paired: Sequence[SliceStats], names: Mapping[str, str]) -> str:
    lines = [headline(r, names) for r in paired if r.category == OVERALL]
    if not lines:
        return ""
    return '<ul id="headlines">' + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>"


def warnings_block(warnings: Sequence[str]) -> str:
    return "".join(f'<p class="warn">warning: {esc(w)}</p>' for w in warnings)


def runs_section(records: Sequence[Record], names: Mapping[str, str]) -> str:
    runs: dict[str, dict[str, Any]] = {}
    for r in records:
        info = runs.setdefault(r.run_id, {"r": r, "n": 0, "trunc": 0})
        info["n"] += 1
        info["trunc"] += r.truncated
    rows = []
    for rid, info in sorted(runs.items()):
        r = info["r"]
        model = field_value(r, "model", names)
        rows.append(([rid, r.task, runner_name(r), Cell(model, cls="model"), Cell(r.model, cls="model"),
                      r.score_name or "-", num(info["n"], "{:d}"), num(info["trunc"], "{:d}")],
                     {"task": r.task, "runner": runner_name(r), "model": model}))
    return section("runs", "Runs", table(["run", "task", "runner", "model", "model spec", "primary score", "samples",
                                          "truncated"], rows, filterable=True))


def leaderboard_section(records: Sequence[Record], names: Mapping[str, str]) -> str:
    """Overall per model × runner × task, then the full breakdown by category and length."""
    head = ["n", "score %", "95% CI", "scored", "errors", "skipped", "unparsed", "truncated", "in tok/sample", ""]
    shown = display_records(records, names)

    def rows_for(keys: Sequence[str]) -> list:
        out = []
        for row in _sort_rows(aggregate(shown, keys), keys):
            ci = "–" if row.ci_low is None else f"{100 * row.ci_low:.1f}–{100 * row.ci_high:.1f}"  # type: ignore[operator]
            cells = [*(_key_cell(name, k) for name, k in zip(keys, row.key)),
                     num(row.n, "{:d}"), pct(row.mean), Cell(ci, row.ci_low, "num"), num(row.scored, "{:d}"),
                     num(row.errors, "{:d}"), num(row.skipped, "{:d}"), num(row.unparsed, "{:d}"),
                     num(row.truncated, "{:d}"), num(row.input_tokens / row.n if row.n else None, "{:.0f}"), _SHOW]
            out.append((cells, _attrs(keys, row.key)))
        return out

    overall = table([*GROUP, *head], rows_for(GROUP), filterable=True, table_id="overall-table")
    full = table([*DEFAULT_KEYS, *head], rows_for(DEFAULT_KEYS), filterable=True, table_id="leaderboard-table")
    note = ("Click a header to sort, use the filter bar to narrow, 'samples' to list the questions behind a row. "
            "Score = mean primary score per question over scored samples; 95% percentile-bootstrap interval. "
            "Truncated = samples whose context was cut to fit the model (skipped ones are under 'skipped').")
    return section("leaderboard", "Leaderboard", f"<h3>Overall</h3>{overall}<h3>By category and length</h3>{full}", note)


def paired_tables(paired: Sequence[SliceStats], names: Mapping[str, str]) -> str:
    """The paired LC − RAG table per (task, model), rows filterable like every other table."""
    parts = []
    for k, (key, rows) in enumerate(group_rows(paired)):
        task, model, a, b = key
        body = []
        for r in rows:
            c = paired_cells(r)
            attrs = {"task": task, "model": names.get(model, model), "runner": f"{a}{MULTI}{b}"}
            if r.category != OVERALL:
                attrs["category"] = r.category
            if r.length not in ("", "all"):
                attrs["length"] = r.length
            klass = {"A better": "lab-correct", "B better": "lab-incorrect"}.get(r.verdict, "")
            cells: list[Cell | str] = [*c[:2], *(Cell(x, cls="num") for x in c[2:-1]), Cell(c[-1], cls=klass)]
            if r.category == OVERALL:
                attrs["class"] = "overall"
            body.append((cells, attrs))
        parts.append(f"<h3>{esc(paired_title(key, names))}</h3>" + table(list(PAIRED_HEADER), body, sortable=False,
                                                                            filterable=True, table_id=f"paired-{k}"))
    return "".join(parts) + f"<p class='note'>{esc(paired_caption(paired))}</p>"


def _lara_rows(records: Sequence[Record], names: Mapping[str, str]) -> list:
    """LaRA-table rows per task (so the task filter applies), model and length."""
    runners: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    by_task: dict[str, list[Record]] = defaultdict(list)
    for r in display_records(records, names):
        mode = lara_table.record_mode(r)
        if mode:
            by_task[r.task].append(r)
            runners[(r.task, r.model, r.length or "", mode)].add(runner_name(r))
    body = []
    cats = [*lara_table.TASKS, "overall"]
    for task, recs in sorted(by_task.items()):
        rows = lara_table.aggregate(recs)
        for cells in lara_table.table_cells(rows):
            model, length, mode = cells[0], cells[1], cells[2]
            gap = mode == "LC-RAG"
            labels = (runners[(task, model, length, "LC")] | runners[(task, model, length, "RAG")]) if gap \
                else runners[(task, model, length, mode)]
            out: list[Cell | str] = [task, Cell(model, cls="model"), _key_cell("length", length), mode]
            for c in cells[3:3 + len(cats)]:
                v = None if c in ("–", "") else float(c)
                out.append(signed(v) if gap else num(v, "{:.2f}"))
            out += [num(int(c), "{:d}") if c else "" for c in cells[3 + len(cats):]]
            attrs = {"task": task, "model": model, "length": length, "runner": MULTI.join(sorted(labels))}
            if gap:
                attrs["class"] = "gap"
            body.append((out, attrs))
    return body


def lara_section(records: Sequence[Record], plot: str | None, names: Mapping[str, str],
                 paired: Sequence[SliceStats] = ()) -> str:
    body = _lara_rows(records, names)
    if not body and not paired:
        return section("lara", "LC vs RAG", "<p class='note'>No task has both a long-context and a RAG run of one "
                       "model: nothing to compare.</p>")
    parts = []
    if paired:
        parts.append("<h3 class='sub'>Paired: the same questions, per-question means</h3>"
                     "<p class='note'>Mean over the questions both runs scored (each question counts once, "
                     "whatever its context type). A−B in percentage points; the verdict is Holm-adjusted "
                     "across every row below.</p>")
        parts.append(paired_tables(paired, names))
    if body:
        header = ["task", "model", "length", "mode", *lara_table.HEADER[3:]]
        col_attrs = [{}, {}, {}, {}, *({"category": c} for c in lara_table.TASKS), *([{}] * (len(header) - 8))]
        parts.append("<h3 class='sub'>LaRA's table: mean over context types</h3>"
                     "<p class='note'>The LaRA paper's aggregation: accuracy per context type, then the unweighted "
                     "mean over book / financial / paper ×100; overall = mean of the four categories. It weighs a "
                     "context type with few questions as much as one with many, so its overall differs from the "
                     "per-question mean above. LC−RAG rows: positive means long context wins.</p>")
        parts.append(table(header, body, sortable=False, filterable=True, table_id="lara-table", col_attrs=col_attrs))
        avg = lara_table.average_gaps(lara_table.aggregate(display_records(records, names)))
        if len({field_value(r, "model", names) for r in records if lara_table.record_mode(r)}) > 1 and avg:
            cols = [*lara_table.TASKS, "overall"]
            parts.append("<h3>Average LC − RAG gap over models (LaRA's mean)</h3>" + table(
                ["length", *cols],
                [([_key_cell("length", length), *(signed(g.get(c)) for c in cols)], {"length": length})
                 for length, g in sorted(avg.items(), key=lambda kv: length_key(kv[0]))],
                sortable=False, filterable=True, col_attrs=[{}, *({"category": c} for c in lara_table.TASKS), {}]))
    parts.append(_img(plot, "LC vs RAG accuracy by category and length"))
    return section("lara", "LC vs RAG by category and length", "".join(parts))


def _points_table(points: list, x_name: str) -> str:
    rows = [([p.facet or "-", p.series, Cell(p.label, p.x), num(p.n, "{:d}"), num(p.scored, "{:d}"), pct(p.mean)],
             dict(p.attrs)) for p in points]
    table_html = table(["task / facet", "runner · model", x_name, "n", "scored", "accuracy %"], rows, filterable=True)
    return details(f"table of the {len(points)} points", table_html)


def context_section(records: Sequence[Record], plot: str | None, names: Mapping[str, str]) -> str:
    points = accuracy_by_context(records, names)
    body = _img(plot, "accuracy vs effective context length") + _points_table(points, "effective context tokens")
    note = ("Effective context = input tokens of all model calls up to the final answer (Yue et al.), binned by powers "
            "of two. Sweeps over budgets show as one point per budget. The figure shows every run; the filters "
            "apply to the table.")
    return section("context", "Accuracy vs effective context length", body, note)


def position_section(records: Sequence[Record], plot: str | None, names: Mapping[str, str]) -> str:
    points = accuracy_by_position(records, names)
    if not points:
        return section("position", "Lost in the middle", "<p class='note'>No records carry an answer position "
                       "(metadata.context_order or metadata.depth).</p>")
    body = _img(plot, "accuracy by answer position") + _points_table(points, "answer position")
    note = ("LaRA location/reasoning/hallucination questions name the document segment the answer was written from "
            "(metadata.context_order); the synthetic task records the needle depth (metadata.depth).")
    return section("position", "Lost in the middle: accuracy by answer position", body, note)


def cost_section(records: Sequence[Record], names: Mapping[str, str]) -> str:
    rows: list[tuple[Sequence[Cell | str], Mapping[str, str]]] = []
    for c in cost_rows(records, names=names):
        rows.append(([*(_key_cell(n, k) for n, k in zip(GROUP, c.key)), num(c.n, "{:d}"),
                      num(c.correct, "{:.1f}"), pct(c.accuracy), num(c.input_tokens, "{:,}"), num(c.calls, "{:,}"),
                      num(c.tokens_per_correct, "{:,.0f}"), num(c.calls_per_correct, "{:.2f}"),
                      num(c.input_tokens / c.n if c.n else None, "{:,.0f}")], _attrs(GROUP, c.key)))
    head = [*GROUP, "n", "correct", "accuracy %", "input tokens", "calls", "input tokens / correct", "calls / correct",
            "input tokens / sample"]
    note = "Correct = sum of primary scores over scored samples (partial credit counts fractionally)."
    return section("cost", "Cost: input tokens and calls per correct answer", table(head, rows, filterable=True), note)


def status_section(records: Sequence[Record], names: Mapping[str, str]) -> str:
    rows: list[tuple[Sequence[Cell | str], Mapping[str, str]]] = []
    for s in status_rows(records, names=names):
        name = s.scorer + (" (primary)" if s.primary else "")
        rows.append(([*(_key_cell(n, k) for n, k in zip(GROUP, s.key)), name,
                      *(num(s.counts[o], "{:d}") for o in ("scored", "unparsed", "error", "skipped")),
                      num(sum(s.counts.values()), "{:d}")], _attrs(GROUP, s.key)))
    head = [*GROUP, "scorer", "scored", "unparsed", "error", "skipped", "total"]
    note = ("Scored = correct or incorrect. Unparsed = the judge answered but its verdict could not be read (never "
            "counted as wrong); error = model call or scorer failed; skipped = e.g. the truncation policy skipped "
            "the sample.")
    return section("status", "Judge / score status", table(head, rows, filterable=True), note)


def diff_section(k: int, d: DiffResult, index: Mapping[tuple[str, str], int], names: Mapping[str, str]) -> str:
    counts = Counter((x.a_label, x.b_label) for x in d.rows)
    summary = ", ".join(f"A {a} / B {b}: {n}" for (a, b), n in sorted(counts.items())) or "none"
    rows: list[tuple[Sequence[Cell | str], Mapping[str, str]]] = []
    for x in d.rows:
        ia = index.get((x.a.run_id, x.sample_id))
        ib = index.get((x.b.run_id, x.sample_id))
        models = sorted({field_value(x.a, "model", names), field_value(x.b, "model", names)})
        attrs = {"category": x.category, "length": x.length, "task": x.a.task, "model": MULTI.join(models),
                 "runner": MULTI.join(sorted({runner_name(x.a), runner_name(x.b)}))}
        if ia is not None and ib is not None:
            attrs["drill"] = f"{ia},{ib}"
            attrs["class"] = "clickable"
        rows.append(([x.category, _key_cell("length", x.length), x.sample_id, Cell(x.a_label, cls=f"lab-{x.a_label}"),
                      Cell(x.b_label, cls=f"lab-{x.b_label}"), Cell(x.question, cls="wrap"),
                      Cell(_clip(x.a.answer), cls="wrap"), Cell(_clip(x.b.answer), cls="wrap")],
                     attrs))
    head = ["category", "length", "sample", "A", "B", "question", "A answer", "B answer"]
    a_model = field_value(d.rows[0].a, "model", names) if d.rows else ""
    intro = (f"<p><strong>A</strong> = {esc(d.a_name)}<br><strong>B</strong> = {esc(d.b_name)}"
             f"{' · ' + esc(a_model) if a_model else ''}</p>"
             f"<p class='counts'>{len(d.rows)} disagreements among {d.common} shared samples ({esc(summary)}); "
             f"only in A: {d.only_in_a}, only in B: {d.only_in_b}. Click a row to compare both answers.</p>")
    body = details(f"show the {len(d.rows)} disagreements", table(head, rows, filterable=True), cls="diff")
    return section(f"diff-{k}", f"Disagreements {k + 1}: {d.a_name} vs {d.b_name}, same question, different outcome",
                   intro + body)


def samples_section() -> str:
    body = ('<p id="samples-count" class="counts"></p>'
            '<div class="scroll"><table id="samples-table"><thead><tr><th>runner · model</th><th>category</th><th>length</th>'
            '<th>sample</th><th>question</th><th>answer</th><th>score</th><th>outcome</th></tr></thead><tbody></tbody>'
            '</table></div><button id="samples-more" type="button" hidden>show more</button>')
    note = "Every sample of the runs above (filters apply). Click a row for question, answer, reference, retrieved chunks, score and explanation."
    return section("samples", "Samples (drill-down)", body, note)
