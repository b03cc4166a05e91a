"""The leaderboard's cost column: live calls priced from the price table, batch prices for the
openai-batch backend, cache hits free, '-' for a model the table does not know."""

from __future__ import annotations

import pytest

from lara.pricing import default_table
from lara.results.leaderboard import aggregate, render
from lara.results.record import build_record
from lara.types import RunOutput, Sample, Score, Step


def rec(sid: str, backend: str, model_id: str, cached: bool = False):
    step = Step(kind="generate", input_tokens=20_000, output_tokens=200, cached=cached)
    return build_record(run_id=f"r-{backend}", spec_hash="h", task="t", task_version="1",
                        sample=Sample(id=sid, question="q", references=("a",), metadata={"category": "location"}),
                        runner="lc", runner_params={}, model=f"{backend}:{model_id}", backend=backend,
                        model_id=model_id, generation={}, output=RunOutput(answer="a", steps=(step,)),
                        scores=[Score("exact", 1.0, "ok", "", "exact")], primary="exact", error=None, started_at="",
                        latency_s=0.0)


def test_cost_column_applies_batch_prices_and_skips_cache_hits() -> None:
    price = default_table().lookup("gpt-4o-mini")
    records = [rec("a", "openai", "gpt-4o-mini"), rec("b", "openai", "gpt-4o-mini", cached=True),
               rec("a", "openai-batch", "gpt-4o-mini"), rec("b", "openai-batch", "gpt-4o-mini"),
               rec("a", "openai", "house-model")]
    rows = {r.key[0]: r for r in aggregate(records, ("model",))}
    assert rows["openai:gpt-4o-mini"].cost_usd == pytest.approx(price.cost(20_000, 200))
    assert rows["openai-batch:gpt-4o-mini"].cost_usd == pytest.approx(2 * price.cost(20_000, 200, batch=True))
    assert rows["openai-batch:gpt-4o-mini"].cost_usd == pytest.approx(rows["openai:gpt-4o-mini"].cost_usd)
    assert rows["openai:house-model"].cost_usd is None
    text = render(list(rows.values()), ("model",), "csv")
    assert text.splitlines()[0].endswith("cost $") and ",-" in text.splitlines()[-1]
