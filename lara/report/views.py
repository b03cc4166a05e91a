"""Report views: plain-data aggregations of result records that the HTML page, the plots and the
terminal share, so every surface shows the same numbers.

Records are :class:`~lara.results.record.Record` objects and count by :attr:`Record.outcome` (the
one rule): means are over ``correct``/``incorrect`` records only, and unparsed, error and skipped
records are always counted next to them. Models are shown by one display name
(:func:`lara.report.names.display_names`) passed in as ``names``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from lara.results.record import Record

OUTCOMES = ("scored", "unparsed", "error", "skipped")  # scored = correct or incorrect
GROUP = ("model", "runner", "task")
FILTER_FIELDS = ("task", "category", "length", "model", "runner")


def runner_name(r: Record) -> str:
    """The preset label (``rag-lara``) when present, else the registered runner name."""
    return r.runner_label or r.runner or "-"


def scored(r: Record) -> bool:
    return r.outcome in ("correct", "incorrect")


def field_value(r: Record, key: str, names: Mapping[str, str] | None = None) -> str:
    """A record's value for a grouping/filter key as displayed (runner label, model display name)."""
    if key == "runner":
        return runner_name(r)
    if key == "model":
        return (names or {}).get(r.model, r.model or "-")
    v = getattr(r, key, None)
    return "-" if v is None or v == "" else str(v)


def group_key(r: Record, keys: Sequence[str] = GROUP, names: Mapping[str, str] | None = None) -> tuple[str, ...]:
    return tuple(field_value(r, k, names) for k in keys)


def series_name(r: Record, names: Mapping[str, str] | None = None) -> str:
    """One line in a plot: runner, plus the model's display name."""
    return f"{runner_name(r)} · {field_value(r, 'model', names)}"


@dataclass(frozen=True)
class CostRow:
    key: tuple[str, ...]
    n: int
    scored: int
    correct: float  # sum of scored values (partial credit counts fractionally)
    input_tokens: int
    calls: int

    @property
    def tokens_per_correct(self) -> float | None:
        return self.input_tokens / self.correct if self.correct else None

    @property
    def calls_per_correct(self) -> float | None:
        return self.calls / self.correct if self.correct else None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


def cost_rows(records: Iterable[Record], keys: Sequence[str] = GROUP,
              names: Mapping[str, str] | None = None) -> list[CostRow]:
    """Input tokens and model calls spent per correct answer: what a point of accuracy costs."""
    acc: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0, 0])
    for r in records:
        a = acc[group_key(r, keys, names)]
        a[0] += 1
        a[3] += r.input_tokens or 0
        a[4] += r.n_calls or 0
        if scored(r):
            a[1] += 1
            a[2] += float(r.score or 0.0)
    return [CostRow(k, int(a[0]), int(a[1]), a[2], int(a[3]), int(a[4])) for k, a in sorted(acc.items())]


@dataclass(frozen=True)
class StatusRow:
    key: tuple[str, ...]
    scorer: str
    primary: bool
    counts: dict[str, int]


def status_rows(records: Iterable[Record], keys: Sequence[str] = GROUP,
                names: Mapping[str, str] | None = None) -> list[StatusRow]:
    """Outcome counts per group and scorer: the primary score as the leaderboard counts it
    (:attr:`Record.outcome`: errors and skipped samples included), secondary scores (e.g. a second
    judge) by their own status."""
    records = list(records)
    primary_of: dict[tuple[str, ...], str] = {}
    for r in records:  # a failed sample has no score_name: count it under its run's primary scorer
        if r.score_name:
            primary_of.setdefault(group_key(r, keys, names), r.score_name)
    acc: dict[tuple[tuple[str, ...], str, bool], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for r in records:
        k = group_key(r, keys, names)
        primary = r.score_name or primary_of.get(k, "-")
        acc[(k, primary, True)]["scored" if scored(r) else r.outcome] += 1
        for name, s in (r.scores or {}).items():
            if name == primary or not isinstance(s, Mapping):
                continue
            status = str(s.get("status"))
            acc[(k, str(name), False)][{"ok": "scored"}.get(status, status) if status in ("ok", *OUTCOMES) else "error"] += 1
    return [StatusRow(k, name, prim, counts)
            for (k, name, prim), counts in sorted(acc.items(), key=lambda t: (t[0][0], not t[0][2], t[0][1]))]


def context_bin(tokens: int) -> tuple[int, int]:
    """Power-of-two bucket (lo, hi] of a token count; 0 tokens fall in (0, 0]."""
    if tokens <= 0:
        return (0, 0)
    hi = 1 << max(9, math.ceil(math.log2(tokens)))
    return (hi // 2 if hi > 512 else 0, hi)


def fmt_tokens(n: float) -> str:
    """Compact token count; powers-of-two bin edges read like context sizes (32768 -> 32k)."""
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{int(n) >> 20}M"
    if n >= 1024 and n % 1024 == 0:
        return f"{int(n) >> 10}k"
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1000:
        return f"{n / 1000:g}k"
    return f"{n:g}"


@dataclass(frozen=True)
class PointRow:
    """One point of a curve: accuracy of a series at an x position (a context bin or a position).
    ``attrs`` are the record fields the points share (task, runner, model...), for the filters."""

    series: str
    x: float
    label: str
    n: int
    scored: int
    mean: float | None
    facet: str = ""
    attrs: tuple[tuple[str, str], ...] = ()


def _points(items: Iterable[tuple[str, str, float, str, Record]], names: Mapping[str, str] | None) -> list[PointRow]:
    acc: dict[tuple[str, str, float, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    attrs: dict[tuple[str, str, float, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for facet, series, x, label, r in items:
        key = (facet, series, x, label)
        a = acc[key]
        a[0] += 1
        if scored(r):
            a[1] += 1
            a[2] += float(r.score or 0.0)
        for f in FILTER_FIELDS:
            attrs[key][f].add(field_value(r, f, names))
    return [
        PointRow(series, x, label, int(a[0]), int(a[1]), (a[2] / a[1]) if a[1] else None, facet,
                 tuple((f, "\t".join(sorted(v))) for f, v in attrs[key].items()))
        for (facet, series, x, label), a in sorted(acc.items())
    ]


def accuracy_by_context(records: Iterable[Record], names: Mapping[str, str] | None = None) -> list[PointRow]:
    """Accuracy per runner over power-of-two bins of effective context tokens (sweeps and mixed
    document lengths alike); x is the bin's upper edge."""
    def items() -> Iterable[tuple[str, str, float, str, Record]]:
        for r in records:
            lo, hi = context_bin(r.effective_context_tokens or 0)
            if hi:
                yield r.task or "", series_name(r, names), float(hi), f"{fmt_tokens(lo)}–{fmt_tokens(hi)}", r
    return _points(items(), names)


def answer_position(r: Record) -> tuple[float, str] | None:
    """Where the answer sits in the context: LaRA's ``context_order`` (segment index; "full" and
    comparison questions have none) or the synthetic task's relative ``depth``."""
    meta = r.metadata or {}
    order = meta.get("context_order")
    if isinstance(order, int) and not isinstance(order, bool):
        return float(order), f"segment {order}"
    depth = meta.get("depth")
    if isinstance(depth, (int, float)) and not isinstance(depth, bool):
        return float(depth), f"depth {depth:g}"
    return None


def accuracy_by_position(records: Iterable[Record], names: Mapping[str, str] | None = None) -> list[PointRow]:
    """Lost in the middle: accuracy per runner by answer position, one facet per task/category."""
    def items() -> Iterable[tuple[str, str, float, str, Record]]:
        for r in records:
            pos = answer_position(r)
            if pos is not None:
                facet = f"{r.task or '-'} / {r.category or '-'}"
                yield facet, series_name(r, names), pos[0], pos[1], r
    return _points(items(), names)


def distinct(records: Iterable[Record], key: str, names: Mapping[str, str] | None = None) -> list[str]:
    """Values of a filter field, lengths by their number (32k before 128k), others alphabetically."""
    from lara.results.paired import length_key

    vals = {field_value(r, key, names) for r in records} - {"-"}
    return sorted(vals, key=length_key) if key == "length" else sorted(vals)


def lara_records(records: Iterable[Record], names: Mapping[str, str] | None = None) -> list[Record]:
    """Records for :mod:`lara.results.lara_table` (which keys models by ``model_id``), with the model's
    display name as ``model_id`` so the LaRA view names a model like every other table."""
    from dataclasses import replace

    return [replace(r, model_id=field_value(r, "model", names)) for r in records]
