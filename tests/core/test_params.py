"""Declared component parameters: CLI text converted by type, unknown keys refused before any call."""

from __future__ import annotations

import pytest

from lara.config import resolve_spec
from lara.errors import ConfigError
from lara.params import check_params, convert_text, declared_params
from lara.registry import backends, runners, tasks


def test_conversion_follows_the_declared_type() -> None:
    assert convert_text("5", int) == 5 and convert_text("0.5", float) == 0.5
    assert convert_text("true", bool) is True and convert_text("off", bool) is False
    assert convert_text("2000,4000", list[int]) == [2000, 4000]
    assert convert_text("[1, 2]", tuple[int, ...]) == [1, 2]
    assert convert_text("null", int | None) is None
    assert convert_text("16k", int | str | None) == "16k" and convert_text("16", int | str | None) == 16
    assert convert_text("[BEGIN]\\nimport os", str) == "[BEGIN]\\nimport os"  # text stays text
    with pytest.raises(ValueError, match="integer"):
        convert_text("oops", int)


def test_inherited_and_extra_params_are_declared() -> None:
    it, open_ = declared_params(runners.get("iterdrag"))
    assert {"n", "k", "m", "retriever"} <= set(it) and not open_  # DragBase's via the MRO
    sr, open_ = declared_params(runners.get("self_route"))
    assert {"instruction", "k", "truncation"} <= set(sr) and not open_  # EXTRA_PARAMS
    assert "limits" not in declared_params(backends.get("mock"))[0]  # injected by lara


def test_unknown_or_bad_values_name_the_component() -> None:
    with pytest.raises(ConfigError, match="task 'synthetic' has no parameter 'length'.*did you mean 'lengths'"):
        check_params("task", "synthetic", tasks.get("synthetic"), {"length": "2000"}, convert=True)
    with pytest.raises(ConfigError, match="lengths='oops'"):
        resolve_spec("synthetic", "lc", "mock", task_params={"lengths": "oops"})
    with pytest.raises(ConfigError, match="backend 'mock' has no parameter 'anwser'"):
        resolve_spec("synthetic", "lc", "mock", model_params={"anwser": "x"})
    with pytest.raises(ConfigError, match="--limit"):
        resolve_spec("synthetic", "lc", "mock", limit=0)


def test_cli_text_and_typed_values_make_the_same_spec() -> None:
    a = resolve_spec("synthetic", "rag", "mock", task_params={"lengths": "1000,3000"}, runner_params={"k": "3"})
    b = resolve_spec("synthetic", "rag", "mock", task_params={"lengths": [1000, 3000]}, runner_params={"k": 3})
    assert a.spec_hash() == b.spec_hash() and a.runner_params["k"] == 3


def test_typed_values_for_an_open_backend_pass_through() -> None:
    """vllm forwards **engine_kwargs: a typed value (from Python, not the CLI) stays as it is."""
    spec = resolve_spec("synthetic", "lc", "vllm:m", model_params={"max_model_len": 4096, "enforce_eager": "true"})
    assert spec.model_params["max_model_len"] == 4096 and spec.model_params["enforce_eager"] is True
