"""Paper figures with matplotlib (Agg, no pyplot global state): LC vs RAG by category and length,
accuracy vs effective context length, and lost-in-the-middle (accuracy by answer position).

Each ``plot_*`` returns None when the records hold nothing to draw, so callers can skip a figure
instead of writing an empty one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from lara.report.views import PointRow, accuracy_by_context, accuracy_by_position, fmt_tokens, lara_records
from lara.results import lara_table
from lara.results.paired import length_key
from lara.results.record import Record

log = logging.getLogger(__name__)

PLOTS = ("lc_vs_rag", "accuracy_vs_context", "lost_in_the_middle")
_MODE_COLOURS = {"LC": "#3b6fb6", "RAG": "#e07b39"}


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


def plot_lc_vs_rag(records: Sequence[Record], model_names: Mapping[str, str] | None = None) -> Any | None:
    """Grouped bars: LC and RAG accuracy (%) per LaRA task category, one panel per model × length,
    LC − RAG gap written above each pair (the LaRA paper's main comparison)."""
    rows = lara_table.aggregate(lara_records(records, model_names))
    panels: dict[tuple[str, str], dict[str, lara_table.TableRow]] = defaultdict(dict)
    for r in rows:
        panels[(r.model, r.length)][r.mode] = r
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        return None
    nrows, ncols = _grid(len(panels))
    fig = _figure(5.2 * ncols, 3.6 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cats = [*lara_table.TASKS, "overall"]
    for ax, ((model, length), modes) in zip(axes.flat, sorted(panels.items(), key=lambda kv: (length_key(kv[0][1]), kv[0][0]))):
        present = [m for m in ("LC", "RAG") if m in modes]
        width = 0.8 / max(1, len(present))
        for j, mode in enumerate(present):
            vals = [modes[mode].task(c) for c in cats]
            xs = [i + (j - (len(present) - 1) / 2) * width for i in range(len(cats))]
            ax.bar(xs, [v or 0 for v in vals], width, label=mode, color=_MODE_COLOURS[mode])
        if len(present) == 2:
            for i, c in enumerate(cats):
                a, b = modes["LC"].task(c), modes["RAG"].task(c)
                if a is not None and b is not None:
                    ax.annotate(f"{a - b:+.1f}", (i, max(a, b) + 1.5), ha="center", fontsize=7)
        ax.set_xticks(range(len(cats)), cats, fontsize=8, rotation=15)
        ax.set_ylim(0, 105)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{model} · {length}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return fig


def _plot_points(points: list[PointRow], xlabel: str, title: str, log_x: bool, tick_labels: bool) -> Any | None:
    points = [p for p in points if p.mean is not None]
    if not points:
        return None
    facets = sorted({p.facet for p in points})
    nrows, ncols = _grid(len(facets))
    fig = _figure(5.0 * ncols, 3.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, facet in zip(axes.flat, facets):
        series: dict[str, list[PointRow]] = defaultdict(list)
        for p in points:
            if p.facet == facet:
                series[p.series].append(p)
        ticks: dict[float, str] = {}
        for name, pts in sorted(series.items()):
            pts.sort(key=lambda p: p.x)
            ax.plot([p.x for p in pts], [100 * p.mean if p.mean is not None else float("nan") for p in pts], marker="o", label=name)
            ticks.update({p.x: p.label for p in pts})
        if log_x:
            ax.set_xscale("log", base=2)
        if tick_labels:
            xs = sorted(ticks)
            ax.set_xticks(xs, [fmt_tokens(x) if log_x else ticks[x] for x in xs], fontsize=7)
        ax.set_ylim(-2, 102)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{title}: {facet}" if facet else title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(facets):]:
        ax.set_visible(False)
    return fig


def plot_accuracy_vs_context(records: Sequence[Record], model_names: Mapping[str, str] | None = None) -> Any | None:
    """Accuracy per runner against effective context tokens (bin upper edges, log2 axis)."""
    return _plot_points(accuracy_by_context(records, model_names), "effective context tokens (bin upper edge)",
                        "accuracy vs context", log_x=True, tick_labels=True)


def plot_lost_in_the_middle(records: Sequence[Record], model_names: Mapping[str, str] | None = None) -> Any | None:
    """Accuracy by answer position (LaRA ``context_order`` segment, synthetic ``depth``)."""
    return _plot_points(accuracy_by_position(records, model_names), "answer position", "by position",
                        log_x=False, tick_labels=True)


_BUILDERS = {
    "lc_vs_rag": plot_lc_vs_rag,
    "accuracy_vs_context": plot_accuracy_vs_context,
    "lost_in_the_middle": plot_lost_in_the_middle,
}


def write_plots(
    records: Sequence[Record], out_dir: Path, formats: Sequence[str] = ("png",),
    names: Sequence[str] = PLOTS, model_names: Mapping[str, str] | None = None,
) -> dict[str, list[Path]]:
    """Write every figure that has data as ``<out_dir>/<name>.<fmt>``; returns name -> paths.
    Models are labelled by their display names (:func:`lara.report.names.display_names` unless
    ``model_names`` is given)."""
    from lara.report.names import display_names

    records = [Record.coerce(r) for r in records]
    model_names = display_names(records) if model_names is None else model_names
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad:
        raise ValueError(f"unknown plot format(s) {bad}; valid: png, svg, pdf")
    written: dict[str, list[Path]] = {}
    for name in names:
        if name not in _BUILDERS:
            raise ValueError(f"unknown plot {name!r}; valid: {', '.join(PLOTS)}")
        fig = _BUILDERS[name](records, model_names)
        if fig is None:
            log.info("plot %s: no data in these records, skipped", name)
            continue
        paths = []
        for fmt in formats:
            p = out_dir / f"{name}.{fmt}"
            fig.savefig(p, format=fmt, metadata={"Software": None} if fmt == "png" else None)
            paths.append(p)
        written[name] = paths
    return written
