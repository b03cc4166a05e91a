"""The report's sections as escaped HTML strings, one function per view (numbers come from
:mod:`lara.results.leaderboard`, :mod:`lara.results.lara_table` and :mod:`lara.report.views`)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from lara.report.diff import DiffResult
from lara.report.html import Cell, esc, num, pct, section, signed, table
from lara.report.views import GROUP, accuracy_by_context, accuracy_by_position, cost_rows, runner_name, status_rows
from lara.results import lara_table
from lara.results.leaderboard import DEFAULT_KEYS, aggregate

_SHOW = Cell('<button type="button" data-show="1">samples</button>', raw=True)


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


def runs_section(records: Sequence[Mapping[str, Any]]) -> str:
    runs: dict[str, dict[str, Any]] = {}
    for r in records:
        info = runs.setdefault(str(r.get("run_id")), {"r": r, "n": 0})
        info["n"] += 1
    rows = []
    for rid, info in sorted(runs.items()):
        r = info["r"]
        rows.append(([rid, str(r.get("task")), runner_name(r), Cell(str(r.get("model")), cls="model"),
                      str(r.get("score_name") or "-"), num(info["n"], "{:d}")],
                     {"task": str(r.get("task")), "runner": runner_name(r), "model": str(r.get("model"))}))
    return section("runs", "Runs", table(["run", "task", "runner", "model", "primary score", "samples"], rows, filterable=True))


def leaderboard_section(records: Sequence[Mapping[str, Any]]) -> str:
    """Overall per model × runner × task, then the full breakdown by category and length."""
    head = ["n", "score %", "95% CI", "scored", "errors", "skipped", "unparsed", "in tok/sample", ""]

    def rows_for(keys: Sequence[str]) -> list:
        out = []
        for row in aggregate(records, keys):
            ci = "–" if row.ci_low is None else f"{100 * row.ci_low:.1f}–{100 * row.ci_high:.1f}"
            cells = [*(Cell(k, cls="model" if name == "model" else "") for name, k in zip(keys, row.key)),
                     num(row.n, "{:d}"), pct(row.mean), Cell(ci, row.ci_low, "num"), num(row.scored, "{:d}"),
                     num(row.errors, "{:d}"), num(row.skipped, "{:d}"), num(row.unparsed, "{:d}"),
                     num(row.input_tokens / row.n if row.n else None, "{:.0f}"), _SHOW]
            out.append((cells, _attrs(keys, row.key)))
        return out

    overall = table([*GROUP, *head], rows_for(GROUP), filterable=True, table_id="overall-table")
    full = table([*DEFAULT_KEYS, *head], rows_for(DEFAULT_KEYS), filterable=True, table_id="leaderboard-table")
    note = ("Click a header to sort, use the filter bar to narrow, 'samples' to list the questions behind a row. "
            "Score = mean primary score over scored samples; 95% percentile-bootstrap interval.")
    return section("leaderboard", "Leaderboard", f"<h3>Overall</h3>{overall}<h3>By category and length</h3>{full}", note)


def lara_section(records: Sequence[Mapping[str, Any]], plot: str | None) -> str:
    rows = lara_table.aggregate(records)
    if not rows:
        return section("lara", "LC vs RAG (LaRA view)", "<p class='note'>No records with an LC and a RAG runner on "
                       "LaRA categories (location, reasoning, comparison, hallucination).</p>")
    header = list(lara_table.HEADER)
    body = []
    for cells in lara_table.table_cells(rows):
        gap = cells[2] == "LC-RAG"
        out: list[Cell | str] = [Cell(cells[0], cls="model"), cells[1], cells[2]]
        for c in cells[3:8]:
            v = None if c in ("–", "") else float(c)
            out.append(signed(v) if gap else num(v, "{:.2f}"))
        out += [num(int(c), "{:d}") if c else "" for c in cells[8:]]
        body.append((out, {"model": cells[0], "length": cells[1], **({"class": "gap"} if gap else {})}))
    parts = [table(header, body, sortable=False, filterable=True)]
    avg = lara_table.average_gaps(rows)
    if len({r.model for r in rows}) > 1 and avg:
        cols = [*lara_table.TASKS, "overall"]
        parts.append("<h3>Average LC − RAG gap over models</h3>" + table(
            ["length", *cols], [([length, *(signed(g.get(c)) for c in cols)], {"length": length}) for length, g in sorted(avg.items())],
            sortable=False, filterable=True))
    parts.append(_img(plot, "LC vs RAG accuracy by category and length"))
    note = ("The LaRA paper's aggregation: accuracy per context type, unweighted mean over book / financial / paper, ×100; "
            "overall = mean of the categories. LC−RAG rows: positive means long context wins.")
    return section("lara", "LC vs RAG gap by category and length (LaRA view)", "".join(parts), note)


def _points_table(points: list, x_name: str) -> str:
    rows = [([p.facet or "-", p.series, Cell(p.label, p.x), num(p.n, "{:d}"), num(p.scored, "{:d}"), pct(p.mean)],
             {}) for p in points]
    return table(["task / facet", "runner · model", x_name, "n", "scored", "accuracy %"], rows)


def context_section(records: Sequence[Mapping[str, Any]], plot: str | None) -> str:
    points = accuracy_by_context(records)
    body = _img(plot, "accuracy vs effective context length") + _points_table(points, "effective context tokens")
    note = ("Effective context = input tokens of all model calls up to the final answer (Yue et al.), binned by powers "
            "of two. Sweeps over budgets show as one point per budget.")
    return section("context", "Accuracy vs effective context length", body, note)


def position_section(records: Sequence[Mapping[str, Any]], plot: str | None) -> str:
    points = accuracy_by_position(records)
    if not points:
        return section("position", "Lost in the middle", "<p class='note'>No records carry an answer position "
                       "(metadata.context_order or metadata.depth).</p>")
    body = _img(plot, "accuracy by answer position") + _points_table(points, "answer position")
    note = ("LaRA location/reasoning/hallucination questions name the document segment the answer was written from "
            "(metadata.context_order); the synthetic task records the needle depth (metadata.depth).")
    return section("position", "Lost in the middle: accuracy by answer position", body, note)


def cost_section(records: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for c in cost_rows(records):
        rows.append(([*(Cell(k, cls="model" if n == "model" else "") for n, k in zip(GROUP, c.key)), num(c.n, "{:d}"),
                      num(c.correct, "{:.1f}"), pct(c.accuracy), num(c.input_tokens, "{:,}"), num(c.calls, "{:,}"),
                      num(c.tokens_per_correct, "{:,.0f}"), num(c.calls_per_correct, "{:.2f}"),
                      num(c.input_tokens / c.n if c.n else None, "{:,.0f}")], _attrs(GROUP, c.key)))
    head = [*GROUP, "n", "correct", "accuracy %", "input tokens", "calls", "input tokens / correct", "calls / correct",
            "input tokens / sample"]
    note = "Correct = sum of primary scores over scored samples (partial credit counts fractionally)."
    return section("cost", "Cost: input tokens and calls per correct answer", table(head, rows, filterable=True), note)


def status_section(records: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for s in status_rows(records):
        name = s.scorer + (" (primary)" if s.primary else "")
        rows.append(([*(Cell(k, cls="model" if n == "model" else "") for n, k in zip(GROUP, s.key)), name,
                      *(num(s.counts[o], "{:d}") for o in ("ok", "unparsed", "error", "skipped")),
                      num(sum(s.counts.values()), "{:d}")], _attrs(GROUP, s.key)))
    head = [*GROUP, "scorer", "ok", "unparsed", "error", "skipped", "total"]
    note = ("Unparsed = the judge answered but its verdict could not be read (never counted as wrong); "
            "error = model call or scorer failed; skipped = e.g. the truncation policy skipped the sample.")
    return section("status", "Judge / score status", table(head, rows, filterable=True), note)


def diff_section(k: int, d: DiffResult, index: Mapping[tuple[str, str], int]) -> str:
    counts = Counter((x.a_label, x.b_label) for x in d.rows)
    summary = ", ".join(f"A {a} / B {b}: {n}" for (a, b), n in sorted(counts.items())) or "none"
    rows = []
    for x in d.rows:
        ia = index.get((str(x.a.get("run_id")), x.sample_id))
        ib = index.get((str(x.b.get("run_id")), x.sample_id))
        attrs = {"category": x.category, "length": x.length}
        if ia is not None and ib is not None:
            attrs["drill"] = f"{ia},{ib}"
            attrs["class"] = "clickable"
        rows.append(([x.category, x.length, x.sample_id, Cell(x.a_label, cls=f"lab-{x.a_label}"),
                      Cell(x.b_label, cls=f"lab-{x.b_label}"), Cell(x.question, cls="wrap"),
                      Cell(_clip(x.a.get("answer")), cls="wrap"), Cell(_clip(x.b.get("answer")), cls="wrap")],
                     attrs))
    head = ["category", "length", "sample", "A", "B", "question", "A answer", "B answer"]
    intro = (f"<p><strong>A</strong> = {esc(d.a_name)}<br><strong>B</strong> = {esc(d.b_name)}</p>"
             f"<p class='counts'>{len(d.rows)} disagreements among {d.common} shared samples ({esc(summary)}); "
             f"only in A: {d.only_in_a}, only in B: {d.only_in_b}. Click a row to compare both answers.</p>")
    return section(f"diff-{k}", f"Disagreements {k + 1}: same question, different correctness",
                   intro + table(head, rows, filterable=True))


def samples_section() -> str:
    body = ('<p id="samples-count" class="counts"></p>'
            '<div class="scroll"><table id="samples-table"><thead><tr><th>runner · model</th><th>category</th><th>length</th>'
            '<th>sample</th><th>question</th><th>answer</th><th>score</th><th>outcome</th></tr></thead><tbody></tbody>'
            '</table></div><button id="samples-more" type="button" hidden>show more</button>')
    note = "Every sample of the runs above (filters apply). Click a row for question, answer, reference, retrieved chunks, score and explanation."
    return section("samples", "Samples (drill-down)", body, note)
