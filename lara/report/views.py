"""Report views: plain-data aggregations of result records that the HTML page, the plots and the
terminal share, so every surface shows the same numbers.

Outcomes follow :func:`lara.results.lara_table.record_outcome` (ok / unparsed / error / skipped);
means are over ``ok`` records only and the other outcomes are always counted next to them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from lara.results.record import Record


def record_outcome(r: Any) -> str:
    """ok (scored: correct or incorrect) / unparsed / error / skipped, by :attr:`Record.outcome`."""
    o = Record.coerce(r).outcome
    return "ok" if o in ("correct", "incorrect") else o

OUTCOMES = ("ok", "unparsed", "error", "skipped")
GROUP = ("model", "runner", "task")
FILTER_FIELDS = ("task", "category", "length", "model", "runner")


def runner_name(r: Mapping[str, Any]) -> str:
    """The preset label (``rag-lara``) when present, else the registered runner name."""
    return str(r.get("runner_label") or r.get("runner") or "-")


def group_key(r: Mapping[str, Any], keys: Sequence[str] = GROUP) -> tuple[str, ...]:
    return tuple(runner_name(r) if k == "runner" else str(r.get(k) if r.get(k) is not None else "-") for k in keys)


def series_name(r: Mapping[str, Any]) -> str:
    """One line in a plot: runner, plus the model id when several models are compared."""
    return f"{runner_name(r)} · {r.get('model_id') or r.get('model') or '-'}"


@dataclass(frozen=True)
class CostRow:
    key: tuple[str, ...]
    n: int
    scored: int
    correct: float  # sum of ok score values (partial credit counts fractionally)
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


def cost_rows(records: Iterable[Mapping[str, Any]], keys: Sequence[str] = GROUP) -> list[CostRow]:
    """Input tokens and model calls spent per correct answer: what a point of accuracy costs."""
    acc: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0, 0])
    for r in records:
        a = acc[group_key(r, keys)]
        a[0] += 1
        a[3] += int(r.get("input_tokens") or 0)
        a[4] += int(r.get("n_calls") or 0)
        if record_outcome(r) == "ok":
            a[1] += 1
            a[2] += float(r.get("score") or 0.0)
    return [CostRow(k, int(a[0]), int(a[1]), a[2], int(a[3]), int(a[4])) for k, a in sorted(acc.items())]


@dataclass(frozen=True)
class StatusRow:
    key: tuple[str, ...]
    scorer: str
    primary: bool
    counts: dict[str, int]


def status_rows(records: Iterable[Mapping[str, Any]], keys: Sequence[str] = GROUP) -> list[StatusRow]:
    """Outcome counts per group and scorer: the primary score as the leaderboard counts it (errors
    and skipped samples included), secondary scores (e.g. a second judge) by their own status."""
    records = list(records)
    names: dict[tuple[str, ...], str] = {}
    for r in records:  # a failed sample has no score_name: count it under its run's primary scorer
        if r.get("score_name"):
            names.setdefault(group_key(r, keys), str(r["score_name"]))
    acc: dict[tuple[tuple[str, ...], str, bool], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for r in records:
        k = group_key(r, keys)
        primary = str(r.get("score_name") or names.get(k, "-"))
        acc[(k, primary, True)][record_outcome(r)] += 1
        for name, s in (r.get("scores") or {}).items():
            if name == primary or not isinstance(s, Mapping):
                continue
            status = s.get("status") if s.get("status") in OUTCOMES else "error"
            acc[(k, str(name), False)][status] += 1
    return [StatusRow(k, name, prim, counts) for (k, name, prim), counts in sorted(acc.items(), key=lambda t: (t[0][0], not t[0][2], t[0][1]))]


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
    """One point of a curve: accuracy of a series at an x position (a context bin or a position)."""

    series: str
    x: float
    label: str
    n: int
    scored: int
    mean: float | None
    facet: str = ""


def _points(items: Iterable[tuple[str, str, float, str, Mapping[str, Any]]]) -> list[PointRow]:
    acc: dict[tuple[str, str, float, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for facet, series, x, label, r in items:
        a = acc[(facet, series, x, label)]
        a[0] += 1
        if record_outcome(r) == "ok":
            a[1] += 1
            a[2] += float(r.get("score") or 0.0)
    return [
        PointRow(series, x, label, int(a[0]), int(a[1]), (a[2] / a[1]) if a[1] else None, facet)
        for (facet, series, x, label), a in sorted(acc.items())
    ]


def accuracy_by_context(records: Iterable[Mapping[str, Any]]) -> list[PointRow]:
    """Accuracy per runner over power-of-two bins of effective context tokens (sweeps and mixed
    document lengths alike); x is the bin's upper edge."""
    def items():
        for r in records:
            lo, hi = context_bin(int(r.get("effective_context_tokens") or 0))
            if hi:
                yield r.get("task") or "", series_name(r), float(hi), f"{fmt_tokens(lo)}–{fmt_tokens(hi)}", r
    return _points(items())


def answer_position(r: Mapping[str, Any]) -> tuple[float, str] | None:
    """Where the answer sits in the context: LaRA's ``context_order`` (segment index; "full" and
    comparison questions have none) or the synthetic task's relative ``depth``."""
    meta = r.get("metadata") or {}
    order = meta.get("context_order")
    if isinstance(order, int) and not isinstance(order, bool):
        return float(order), f"segment {order}"
    depth = meta.get("depth")
    if isinstance(depth, (int, float)) and not isinstance(depth, bool):
        return float(depth), f"depth {depth:g}"
    return None


def accuracy_by_position(records: Iterable[Mapping[str, Any]]) -> list[PointRow]:
    """Lost in the middle: accuracy per runner by answer position, one facet per task/category."""
    def items():
        for r in records:
            pos = answer_position(r)
            if pos is not None:
                facet = f"{r.get('task') or '-'} / {r.get('category') or '-'}"
                yield facet, series_name(r), pos[0], pos[1], r
    return _points(items())


def distinct(records: Iterable[Mapping[str, Any]], field: str) -> list[str]:
    vals = {runner_name(r) if field == "runner" else r.get(field) for r in records}
    return sorted(str(v) for v in vals if v is not None)
