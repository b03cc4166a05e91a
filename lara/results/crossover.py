"""Crossover curves: LC and RAG accuracy against context length, and where RAG overtakes LC.

For each (model, task, LC runner, RAG runner) the records are paired by sample id (both runs
answered the same question over the same haystack), per category and for all categories together.
At each length: each runner's accuracy with a 95% Wilson interval, the discordant pairs
(``lc_only``: LC right and RAG wrong; ``rag_only``: the reverse) and the exact two-sided McNemar
p-value on them. The *crossover length* is the shortest length from which RAG is significantly
better (``rag_only > lc_only`` and p < alpha) at that length and at every longer one; None when
RAG never gets there. Only correct/incorrect outcomes pair (errors, skips and unparsed answers
are left out and counted).

The test is :func:`lara.results.paired.mcnemar_exact`, per length and unadjusted: requiring
significance at a length and at every longer one is already an intersection of tests. (The
``leaderboard --paired`` table is where Holm-adjusted verdicts over many slices live.)
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from lara.results.paired import mcnemar_exact  # the project's one exact McNemar (re-exported here)
from lara.results.record import Record

ALL = "all"
ALPHA = 0.05


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible at 0 and n, unlike the normal one)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Point:
    """One length of one curve."""

    length: str
    size: int  # haystack size used to order lengths (target words, else the bucket's number)
    pairs: int
    lc_correct: int
    rag_correct: int
    lc_only: int
    rag_only: int
    p_value: float
    lc_tokens: float | None  # mean input tokens of the LC prompts at this length
    unpaired: int  # records without a scored partner (errors, skipped, unparsed, missing)

    @property
    def lc_acc(self) -> float | None:
        return self.lc_correct / self.pairs if self.pairs else None

    @property
    def rag_acc(self) -> float | None:
        return self.rag_correct / self.pairs if self.pairs else None

    def rag_better(self, alpha: float = ALPHA) -> bool:
        return self.rag_only > self.lc_only and self.p_value < alpha


@dataclass(frozen=True)
class Curve:
    model: str
    task: str
    lc_runner: str
    rag_runner: str
    category: str
    points: tuple[Point, ...]
    alpha: float = ALPHA

    @property
    def crossover(self) -> str | None:
        """The shortest length from which RAG is significantly better at every longer length."""
        found = None
        for p in reversed(self.points):
            if not p.rag_better(self.alpha):
                break
            found = p.length
        return found


def _size(r: Record) -> int:
    meta = r.metadata or {}
    if isinstance(meta.get("target_words"), int):
        return int(meta["target_words"])
    m = re.fullmatch(r"([0-9.]+)\s*([kKmM]?)", str(r.length or ""))
    if not m:
        return 0
    return int(float(m.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[m.group(2).lower()])


def curves(records: Iterable[Record | Mapping[str, Any]], alpha: float = ALPHA) -> list[Curve]:
    """Every LC-vs-RAG crossover curve the records hold (groups with at least two lengths)."""
    by_group: dict[tuple[str, str], dict[str, dict[str, Record]]] = defaultdict(lambda: defaultdict(dict))
    for r in map(Record.coerce, records):
        if r.strategy in ("long_context", "rag"):
            by_group[(r.model, r.task)][f"{r.strategy}\t{r.runner_label or r.runner}"][r.sample_id] = r
    out: list[Curve] = []
    for (model, task), runs in sorted(by_group.items()):
        lcs = sorted(k for k in runs if k.startswith("long_context\t"))
        rags = sorted(k for k in runs if k.startswith("rag\t"))
        for lc_key in lcs:
            for rag_key in rags:
                out += _pair_curves(model, task, lc_key.split("\t")[1], rag_key.split("\t")[1],
                                    runs[lc_key], runs[rag_key], alpha)
    return out


def _pair_curves(model: str, task: str, lc_name: str, rag_name: str, lc: Mapping[str, Record],
                 rag: Mapping[str, Record], alpha: float) -> list[Curve]:
    cells: dict[tuple[str, str], list[tuple[Record, Record | None]]] = defaultdict(list)
    sizes: dict[str, int] = {}
    for sid, a in lc.items():
        b = rag.get(sid)
        label = str(a.length or "-")
        sizes[label] = max(sizes.get(label, 0), _size(a))
        for cat in (str(a.category or "-"), ALL):
            cells[(cat, label)].append((a, b))
    if len(sizes) < 2:
        return []
    curves_: list[Curve] = []
    for cat in sorted({c for c, _ in cells}, key=lambda c: (c == ALL, c)):
        points = []
        for label in sorted(sizes, key=lambda x: sizes[x]):
            pairs = cells.get((cat, label), [])
            if not pairs:
                continue
            scored = [(a, b) for a, b in pairs if b is not None and a.outcome in ("correct", "incorrect")
                      and b.outcome in ("correct", "incorrect")]
            lc_ok = [a.outcome == "correct" for a, _ in scored]
            rag_ok = [b.outcome == "correct" for _, b in scored]  # type: ignore[union-attr]
            lc_only = sum(x and not y for x, y in zip(lc_ok, rag_ok))
            rag_only = sum(y and not x for x, y in zip(lc_ok, rag_ok))
            tokens = [a.input_tokens for a, _ in pairs if a.input_tokens]
            points.append(Point(label, sizes[label], len(scored), sum(lc_ok), sum(rag_ok), lc_only, rag_only,
                                mcnemar_exact(lc_only, rag_only), sum(tokens) / len(tokens) if tokens else None,
                                len(pairs) - len(scored)))
        curves_.append(Curve(model, task, lc_name, rag_name, cat, tuple(points), alpha))
    return curves_


HEADER = ("model", "task", "category", "length", "LC prompt tokens", "pairs", "LC %", "LC 95% CI", "RAG %",
          "RAG 95% CI", "LC only", "RAG only", "McNemar p", "RAG better", "crossover")


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}"


def table_rows(cs: Sequence[Curve]) -> list[list[str]]:
    rows = []
    for c in cs:
        for p in c.points:
            lo, hi = wilson(p.lc_correct, p.pairs)
            rlo, rhi = wilson(p.rag_correct, p.pairs)
            rows.append([c.model, c.task, c.category, p.length,
                         "-" if p.lc_tokens is None else f"{p.lc_tokens:,.0f}", str(p.pairs), _pct(p.lc_acc),
                         f"{_pct(lo)}–{_pct(hi)}", _pct(p.rag_acc), f"{_pct(rlo)}–{_pct(rhi)}", str(p.lc_only),
                         str(p.rag_only), f"{p.p_value:.3g}", "yes" if p.rag_better(c.alpha) else "no",
                         c.crossover or "none"])
    return rows


def summary_lines(cs: Sequence[Curve]) -> list[str]:
    """One line per curve: where RAG overtakes LC."""
    out = []
    for c in cs:
        where = (f"RAG significantly better from {c.crossover} on" if c.crossover
                 else "no length from which RAG is significantly better")
        out.append(f"crossover {c.model} · {c.task} · {c.lc_runner} vs {c.rag_runner} · {c.category}: {c.crossover or 'none'} "
                   f"({where}; exact McNemar, alpha {c.alpha:g})")
    return out


def plot(cs: Sequence[Curve], path: Any) -> Any:
    """One panel per category: LC and RAG accuracy with 95% intervals, crossover marked (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not cs:
        raise ValueError("no crossover curves to plot")
    n = len(cs)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, c in zip(axes.flat, cs):
        xs = list(range(len(c.points)))
        for name, acc, ok, color in (("LC", "lc_acc", "lc_correct", "tab:blue"), ("RAG", "rag_acc", "rag_correct", "tab:orange")):
            ys = [getattr(p, acc) for p in c.points]
            ci = [wilson(getattr(p, ok), p.pairs) for p in c.points]
            ax.plot(xs, [100 * (y if y is not None else float("nan")) for y in ys], marker="o", color=color,
                    label=f"{name} ({c.lc_runner if name == 'LC' else c.rag_runner})")
            ax.fill_between(xs, [100 * lo for lo, _ in ci], [100 * hi for _, hi in ci], color=color, alpha=0.15)
        if c.crossover:
            ax.axvline([p.length for p in c.points].index(c.crossover), color="gray", linestyle="--",
                       label=f"crossover {c.crossover}")
        ax.set_xticks(xs, [p.length for p in c.points])
        ax.set_ylim(-5, 105)
        ax.set_title(f"{c.category} · {c.model}", fontsize=9)
        ax.set_xlabel("context length")
        ax.set_ylabel("accuracy %")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def html_section(cs: Sequence[Curve], plot_src: str | None = None) -> str:
    """The report's crossover section (escaped HTML, built with lara.report.html's helpers)."""
    from lara.report.html import esc, section, table

    if not cs:
        body = ("<p class='note'>No LC and RAG runs of one model and task at two or more lengths "
                "(run <code>lara crossover</code>).</p>")
    else:
        rows = [(r, {"model": r[0], "task": r[1], "category": r[2]}) for r in table_rows(cs)]
        img = f'<img class="plot" src="{esc(plot_src)}" alt="crossover curves">' if plot_src else ""
        lines = "".join(f"<li>{esc(x)}</li>" for x in summary_lines(cs))
        body = f"<ul>{lines}</ul>{img}{table(list(HEADER), rows, filterable=True, table_id='crossover-table')}"
    note = ("Accuracy of LC and RAG on the same questions at growing context lengths; 95% Wilson intervals; "
            "crossover = the shortest length from which RAG is significantly better (exact McNemar on paired "
            "answers) at every longer length.")
    return section("crossover", "LC vs RAG crossover", body, note)


def add_to_report(out: Any, records: Sequence[Record | Mapping[str, Any]], plots: bool = True) -> bool:
    """Add the crossover section (and its PNG) to a written ``lara report`` page; False when the
    records hold no crossover curve. lara.report has no section hook yet, so the section is placed
    before the per-sample drill-down of ``out/index.html`` (and in its navigation)."""
    from pathlib import Path

    cs = curves(records)
    if not cs:
        return False
    out = Path(out)
    index = out / "index.html"
    page = index.read_text(encoding="utf-8")
    src = None
    if plots:
        try:
            (out / "assets").mkdir(parents=True, exist_ok=True)
            plot(cs, out / "assets" / "crossover.png")
            src = "assets/crossover.png"
        except ImportError:
            src = None
    html = html_section(cs, src)
    anchor = '<section id="samples"'
    page = page.replace(anchor, html + anchor, 1) if anchor in page else page.replace("</main>", html + "</main>", 1)
    link = '<a href="#samples">'
    page = page.replace(link, '<a href="#crossover">Crossover</a>' + link, 1)
    index.write_text(page, encoding="utf-8")
    return True
