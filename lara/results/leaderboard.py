"""Aggregate any set of result records into a leaderboard with explicit counts and 95% CIs.

Means are over samples whose outcome is ``correct`` or ``incorrect`` (:attr:`Record.outcome`, the
one rule); errors, skipped (e.g. truncation policy ``skip``) and unparsed records are excluded from
the denominator and shown as counts, so a reader always sees what a number rests on. Truncated LC
samples are counted too. Intervals are percentile bootstraps (seeded). The cost column prices the
live (uncached) calls with :mod:`lara.pricing` (batch prices for the ``openai-batch`` backend).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

from lara.errors import ConfigError
from lara.results.record import Record
from lara.results.text_table import render_text
from lara.vocabulary import did_you_mean

DEFAULT_KEYS = ("model", "runner", "task", "category", "length")
#: Keys a leaderboard may group by (``--by``): record fields, ``runner`` meaning the runner label.
GROUP_KEYS = ("model", "model_id", "runner", "strategy", "task", "category", "context_type", "length",
              "retriever", "backend", "run_id", "spec_hash")
FORMATS = ("rich", "md", "csv", "json")


def check_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """``--by`` keys from the fixed list, with a did-you-mean for a typo."""
    for k in keys:
        if k not in GROUP_KEYS:
            raise ConfigError(f"unknown group-by key {k!r}{did_you_mean(k, GROUP_KEYS)}; valid: {', '.join(GROUP_KEYS)}")
    if not keys:
        raise ConfigError("--by needs at least one key")
    return tuple(keys)


@dataclass(frozen=True)
class Row:
    key: tuple[str, ...]
    n: int
    scored: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    errors: int
    skipped: int
    unparsed: int
    input_tokens: int
    calls: int
    truncated: int = 0
    cost_usd: float | None = None  # API cost of the group's live calls (price table; None: unpriced model)


def record_key(r: Record, keys: Sequence[str]) -> tuple[str, ...]:
    out = []
    for k in keys:
        v = (r.runner_label or r.runner) if k == "runner" else getattr(r, k, None)
        out.append("-" if v is None else str(v))
    return tuple(out)


def bootstrap_ci(values: Sequence[float], n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    if np.all((arr == 0) | (arr == 1)):  # Bernoulli: resampled sums are binomial, same distribution
        means = rng.binomial(len(arr), arr.mean(), size=n_boot) / len(arr)
    else:
        idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
        means = arr[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def aggregate(
    records: Iterable[Record | dict[str, Any]], keys: Sequence[str] = DEFAULT_KEYS, n_boot: int = 1000,
    prices: Any = None,
) -> list[Row]:
    """Rows per group; ``prices`` (a :class:`lara.pricing.PriceTable`, default the shipped one)
    gives the cost column: batch prices for ``openai-batch`` records, cache hits free."""
    if prices is None:
        from lara.pricing import default_table

        prices = default_table()
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in map(Record.coerce, records):
        g = groups.setdefault(
            record_key(r, keys),
            {"values": [], "n": 0, "error": 0, "skipped": 0, "unparsed": 0, "tok": 0, "calls": 0, "trunc": 0,
             "cost": 0.0},
        )
        cost = prices.record_cost(r)
        g["cost"] = None if cost is None or g["cost"] is None else g["cost"] + cost
        g["n"] += 1
        g["tok"] += r.input_tokens or 0
        g["calls"] += r.n_calls or 0
        g["trunc"] += r.truncated
        outcome = r.outcome
        if outcome in ("correct", "incorrect"):
            g["values"].append(float(r.score))  # type: ignore[arg-type]
        else:
            g[outcome] += 1
    rows = []
    for i, (key, g) in enumerate(sorted(groups.items(), key=lambda kv: sort_key(kv[0], keys))):
        vals = g["values"]
        mean = sum(vals) / len(vals) if vals else None
        lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=i) if vals else (None, None)
        rows.append(Row(key, g["n"], len(vals), mean, lo, hi, g["error"], g["skipped"], g["unparsed"],
                        g["tok"], g["calls"], g["trunc"], g["cost"]))
    return rows


def sort_key(key: tuple[str, ...], keys: Sequence[str]) -> tuple[Any, ...]:
    """Rows sort by their keys, lengths by number (32k before 128k), categories in LaRA's order."""
    from lara.results.paired import category_key, length_key

    return tuple(length_key(v) if k == "length" else category_key(v) if k == "category" else (0, v)
                 for k, v in zip(keys, key))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table_rows(rows: list[Row], keys: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    header = [*keys, "n", "score", "95% CI", "errors", "skipped", "unparsed", "truncated", "in tok/sample", "cost $"]
    body = []
    for r in rows:
        ci = "-" if r.ci_low is None else f"{_pct(r.ci_low)}–{_pct(r.ci_high)}"
        tok = f"{r.input_tokens / r.n:.0f}" if r.n else "-"
        cost = "-" if r.cost_usd is None else f"{r.cost_usd:.4f}"
        body.append([*r.key, str(r.n), _pct(r.mean), ci, str(r.errors), str(r.skipped), str(r.unparsed),
                     str(r.truncated), tok, cost])
    return header, body


def render(rows: list[Row], keys: Sequence[str], fmt: str = "md") -> str:
    """Render as ``md``, ``csv`` or ``json`` (the terminal table is built by the CLI with rich)."""
    if fmt == "json":
        return json.dumps([{**dict(zip(keys, r.key)), **{k: v for k, v in asdict(r).items() if k != "key"}} for r in rows], indent=2)
    header, body = table_rows(rows, keys)
    if fmt in ("csv", "md"):
        return render_text(header, body, fmt)
    raise ConfigError(f"unknown format {fmt!r}{did_you_mean(fmt, FORMATS)}; valid: {', '.join(FORMATS)}")
