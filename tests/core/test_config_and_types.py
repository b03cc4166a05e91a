"""Records, spec hashing, presets and secrets scrubbing."""

from __future__ import annotations

import json

import pytest

from lara.config import RunSpec, canonical_json, load_preset, parse_kv, parse_tokens, resolve_spec, PresetError
from lara.types import Chunk, Document, GenerateConfig, RunOutput, Score, Step, TruncationReport, to_dict


def test_records_round_trip_through_json():
    out = RunOutput(
        answer="x",
        steps=(Step(kind="generate", input_tokens=3, output_tokens=1, cached=True),),
        effective_context_tokens=3,
        truncation=TruncationReport("middle", 10, 5, 5),
    )
    d = json.loads(json.dumps(to_dict(out)))
    assert d["steps"][0]["input_tokens"] == 3
    assert d["truncation"]["dropped_tokens"] == 5
    chunk = Chunk("d:0", "d", 0, "abc", 0, 3)
    assert Chunk(**json.loads(json.dumps(to_dict(chunk)))) == chunk
    s = Score("m", 1.0, "ok", "why", "m", {"a": 1})
    assert Score(**to_dict(s)) == s


def test_records_are_frozen():
    with pytest.raises(Exception):
        Document("a", "t").text = "u"  # type: ignore[misc]


def test_spec_hash_is_stable_and_ignores_non_semantic_fields():
    a = RunSpec(task="synthetic", task_params={"b": 1, "a": 2}, model_params={"base_url": "u"})
    b = RunSpec(task="synthetic", task_params={"a": 2, "b": 1},
                model_params={"base_url": "u", "max_connections": 64, "api_key": "sk-secret"},
                generation=GenerateConfig(timeout_s=5))
    assert a.spec_hash() == b.spec_hash()
    c = RunSpec(task="synthetic", task_params={"a": 3, "b": 1}, model_params={"base_url": "u"})
    assert c.spec_hash() != a.spec_hash()
    assert RunSpec(generation=GenerateConfig(max_tokens=7)).spec_hash() != RunSpec().spec_hash()
    # A spec hash must not change between sessions: pin the canonical form, not the digest.
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_secrets_never_reach_run_json():
    spec = RunSpec(model="openai:x", model_params={"api_key": "sk-123", "nested": {"token": "t"}, "base_url": "u"})
    text = json.dumps(spec.to_json())
    assert "sk-123" not in text and '"t"' not in text
    assert RunSpec.from_json(spec.to_json()).spec_hash() == spec.spec_hash()


def test_presets_resolve_and_overrides_win():
    spec = resolve_spec("synthetic", "lc", "local", task_params={"n_docs": 1}, generation={"max_tokens": 9})
    assert spec.task == "synthetic" and spec.runner == "long_context"
    assert spec.task_params["n_docs"] == 1 and spec.task_params["lengths"] == [1000, 3000]
    assert spec.generation.max_tokens == 9
    assert spec.run_id().startswith("synthetic__lc__local__")


def test_unknown_names_list_valid_ones():
    with pytest.raises(KeyError, match="valid: .*synthetic"):
        resolve_spec("nope", "lc")
    with pytest.raises(KeyError, match="valid:"):
        resolve_spec("synthetic", "nope")


def test_malformed_preset_names_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "tasks").mkdir()
    bad = tmp_path / "tasks" / "bad.yaml"
    bad.write_text("task: synthetic\nparams: [1, 2\n")
    monkeypatch.setenv("LARA_PRESET_PATH", str(tmp_path))
    with pytest.raises(PresetError, match=r"bad.yaml:\d+"):
        load_preset("tasks", "bad")
    (tmp_path / "tasks" / "nokey.yaml").write_text("params: {}\n")
    with pytest.raises(PresetError, match="missing key 'task'"):
        load_preset("tasks", "nokey")


def test_parse_helpers():
    assert parse_kv(["a=1", "b=x", "c=[1, 2]", "d=true"]) == {"a": 1, "b": "x", "c": [1, 2], "d": True}
    assert parse_tokens("32k") == 32000 and parse_tokens("1M") == 1_000_000 and parse_tokens("500") == 500
    with pytest.raises(ValueError):
        parse_kv(["novalue"])
