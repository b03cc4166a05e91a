"""The paired comparison table as text: the same cells for the terminal (``lara leaderboard --paired``,
``lara compare-runners``), markdown, CSV, JSON and the HTML report, so every surface reads alike."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Mapping, Sequence

from lara.errors import ConfigError
from lara.results.text_table import csv_text, markdown
from lara.results.paired import ALPHA, N_BOOT, POWER, SliceStats

HEADER = ("category", "length", "pairs", "excluded", "truncated", "A %", "B %", "A−B pts", "95% CI",
          "A only", "B only", "test", "p", "p Holm", "MDD pts", "verdict")
FORMATS = ("rich", "md", "csv", "json")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _signed(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.1f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def ci_text(r: SliceStats) -> str:
    return "–" if r.ci_low is None else f"{100 * r.ci_low:+.1f} … {100 * r.ci_high:+.1f}"  # type: ignore[operator]


def cells(r: SliceStats) -> list[str]:
    return [r.category, r.length, str(r.n), str(r.excluded), str(r.truncated), _pct(r.mean_a), _pct(r.mean_b),
            _signed(r.diff), ci_text(r), str(r.a_only), str(r.b_only), r.test, fmt_p(r.p), fmt_p(r.p_holm),
            "–" if r.mdd is None else f"{100 * r.mdd:.1f}", r.verdict]


def group_rows(rows: Sequence[SliceStats]) -> list[tuple[tuple[str, str, str, str], list[SliceStats]]]:
    """Rows by pairing (task, model, A, B), in the order given."""
    out: dict[tuple[str, str, str, str], list[SliceStats]] = {}
    for r in rows:
        out.setdefault((r.task, r.model, r.a_name, r.b_name), []).append(r)
    return list(out.items())


def title(key: tuple[str, str, str, str], names: Mapping[str, str] | None = None) -> str:
    task, model, a, b = key
    shown = (names or {}).get(model, model)
    return f"{task} · {shown}: A = {a}, B = {b}"


def caption(rows: Sequence[SliceStats]) -> str:
    tests = sum(1 for r in rows if r.p is not None)
    return (f"Means per question over the pairs both runs scored (excluded: error, unparsed or skipped on either "
            f"side). {N_BOOT} paired bootstrap resamples (seeded); McNemar exact for binary scores, sign-flip "
            f"permutation for graded; Holm over the {tests} tests shown, α = {ALPHA:g} (the verdict follows the "
            f"adjusted p; the interval is not adjusted); MDD = minimum detectable difference at {POWER:.0%} power "
            f"for that n.")


def headline(r: SliceStats, names: Mapping[str, str] | None = None) -> str:
    """One line for an overall row: the LC-vs-RAG answer for a task and model."""
    shown = (names or {}).get(r.model, r.model)
    if r.n == 0:
        return f"{r.task} · {shown}: {r.a_name} vs {r.b_name}: no question scored by both ({r.excluded} excluded)"
    winner = {"A better": f"{r.a_name} better", "B better": f"{r.b_name} better"}.get(r.verdict, r.verdict)
    return (f"{r.task} · {shown}: {winner} — {r.a_name} − {r.b_name} = {_signed(r.diff)} points per question "
            f"(95% CI {ci_text(r)}, {r.n} pairs, {r.test} p = {fmt_p(r.p)}, Holm {fmt_p(r.p_holm)}; "
            f"detectable ≥ {'–' if r.mdd is None else f'{100 * r.mdd:.1f}'} pts)")


def render(rows: Sequence[SliceStats], fmt: str, names: Mapping[str, str] | None = None) -> str:
    """``md`` (a heading per pairing), ``csv`` and ``json`` (flat, one line per slice)."""
    if fmt == "json":
        return json.dumps([{**asdict(r), "model_name": (names or {}).get(r.model, r.model)} for r in rows], indent=2)
    if fmt == "csv":
        return csv_text(["task", "model", "A", "B", *HEADER],
                        [[r.task, (names or {}).get(r.model, r.model), r.a_name, r.b_name, *cells(r)] for r in rows])
    if fmt == "md":
        parts = []
        for key, group in group_rows(rows):
            parts.append(f"### {title(key, names)}\n")
            parts.append(markdown(HEADER, [cells(r) for r in group]))
            parts.append("")
        parts.append(caption(rows))
        return "\n".join(parts) + "\n"
    raise ConfigError(f"--format: unknown value {fmt!r}; valid: {', '.join(FORMATS)}")


def print_rich(rows: Sequence[SliceStats], names: Mapping[str, str] | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from lara.commands._common import wide_console

    console = wide_console()
    for key, group in group_rows(rows):
        table = Table(title=escape(title(key, names)))
        for h in HEADER:
            table.add_column(h, justify="left" if h in ("category", "length", "test", "verdict") else "right")
        for r in group:
            c = cells(r)
            style = {"A better": "green", "B better": "red"}.get(r.verdict)
            c[-1] = f"[{style}]{escape(c[-1])}[/]" if style else escape(c[-1])
            table.add_row(*[escape(x) for x in c[:-1]], c[-1])
        console.print(table)
    console.print(escape(caption(rows)))
