"""The spending cap of a run: ``--max-cost USD`` and ``--max-input-tokens N``.

The dispatcher asks :meth:`Budget.gate` before starting each sample. The running total is actual
usage only: what earlier invocations of the run recorded (so a rerun with a larger cap continues
where the last one stopped) plus the samples finished in this one; cache hits cost nothing. A
sample starts only if the total plus the mean cost of a finished sample, for it and for every
sample still in flight, stays within the cap; otherwise the dispatcher waits for in-flight samples
(their actual usage replaces the guess) and, when nothing is in flight and the next sample would
still pass the cap, stops. The first sample of an invocation runs alone, to measure a sample's
cost. Samples not started are recorded as ``skipped: budget``, and the next run retries them
(:func:`budget_skipped_ids`). The total can pass the cap only by what in-flight samples cost beyond
that mean. One ``Budget`` may be shared by the runs of one command, which then share the cap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lara.errors import ConfigError
from lara.pricing import FREE_BACKENDS, PriceTable, billed_tokens

SKIP_REASON = "budget"


@dataclass
class Budget:
    """Caps and the running totals (mutable: one meter per command, shared by its runs)."""

    max_cost_usd: float | None = None
    max_input_tokens: int | None = None
    prices: PriceTable | None = None
    spent_usd: float = 0.0
    spent_input_tokens: int = 0
    finished: int = 0  # samples finished in this invocation (their usage is the per-sample guess)
    finished_usd: float = 0.0
    finished_tokens: int = 0
    skipped: int = 0
    _counted: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.max_cost_usd is not None and not self.max_cost_usd > 0:
            raise ConfigError(f"--max-cost must be a positive number of dollars, got {self.max_cost_usd}")
        if self.max_input_tokens is not None and self.max_input_tokens <= 0:
            raise ConfigError(f"--max-input-tokens must be positive, got {self.max_input_tokens}")
        if self.max_cost_usd is not None and self.prices is None:
            from lara.pricing import load_prices

            self.prices = load_prices()

    @property
    def active(self) -> bool:
        return self.max_cost_usd is not None or self.max_input_tokens is not None

    def check_model(self, model_id: str, backend: str) -> None:
        """A cost cap needs the model's price (local backends cost nothing): fail before any call."""
        if self.max_cost_usd is None or backend in FREE_BACKENDS:
            return
        assert self.prices is not None
        if self.prices.lookup(model_id) is None:
            raise ConfigError(f"--max-cost: no price for model {model_id!r} in {self.prices.source}; add it with "
                              "--price-table FILE or cap tokens with --max-input-tokens")

    def usage(self, record: Any) -> tuple[float, int]:
        """(dollars, input tokens) a record's live model calls cost."""
        inp, _ = billed_tokens(record)
        cost = 0.0
        if self.max_cost_usd is not None and self.prices is not None:
            cost = self.prices.record_cost(record) or 0.0
        return cost, inp

    def add_prior(self, samples_path: Path) -> None:
        """Usage recorded by earlier invocations of a run (every line: retried attempts were paid too)."""
        key = str(Path(samples_path).resolve())
        if key in self._counted or not Path(samples_path).is_file():
            return
        self._counted.add(key)
        with open(samples_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                cost, tokens = self.usage(d)
                self.spent_usd += cost
                self.spent_input_tokens += tokens

    def add(self, record: Any) -> None:
        cost, tokens = self.usage(record)
        self.spent_usd += cost
        self.spent_input_tokens += tokens
        if record.skipped != SKIP_REASON:
            self.finished += 1
            self.finished_usd += cost
            self.finished_tokens += tokens

    def fits(self, n_samples: int) -> bool:
        """Would the total stay within the caps after ``n_samples`` more samples of mean cost?"""
        mean_usd = self.finished_usd / self.finished if self.finished else 0.0
        mean_tok = self.finished_tokens / self.finished if self.finished else 0.0
        if self.max_cost_usd is not None and self.spent_usd + n_samples * mean_usd > self.max_cost_usd:
            return False
        if self.max_input_tokens is not None and self.spent_input_tokens + n_samples * mean_tok > self.max_input_tokens:
            return False
        return True

    def gate(self, in_flight: int) -> str:
        """``go``, ``wait`` (for an in-flight sample to finish) or ``stop`` for the next sample."""
        if not self.fits(0):
            return "stop" if in_flight == 0 else "wait"
        if self.finished == 0:
            return "go" if in_flight == 0 else "wait"  # the first sample measures the cost of one
        if self.fits(in_flight + 1):
            return "go"
        return "stop" if in_flight == 0 else "wait"

    def describe(self) -> str:
        parts = []
        if self.max_cost_usd is not None:
            parts.append(f"${self.spent_usd:,.4f} of --max-cost ${self.max_cost_usd:,.2f}")
        if self.max_input_tokens is not None:
            parts.append(f"{self.spent_input_tokens:,} of --max-input-tokens {self.max_input_tokens:,} input tokens")
        text = "budget: spent " + " and ".join(parts)
        if self.skipped:
            text += (f"; {self.skipped} samples not started (recorded as skipped: budget); rerun with a larger "
                     "cap to continue")
        return text


def budget_skipped_ids(samples_path: Path) -> set[str]:
    """Sample ids whose latest record is ``skipped: budget``: every rerun starts them again.
    Cheap when there are none (one substring test over the file's bytes)."""
    path = Path(samples_path)
    if not path.is_file():
        return set()
    data = path.read_bytes()
    if b'"budget"' not in data:
        return set()
    latest: dict[str, bool] = {}
    for line in data.splitlines():
        try:
            d = json.loads(line)
            latest[str(d["sample_id"])] = d.get("skipped") == SKIP_REASON
        except (ValueError, KeyError, TypeError):
            continue
    return {sid for sid, skipped in latest.items() if skipped}
