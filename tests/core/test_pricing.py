"""Price table: lookup by name, alias and dated snapshot; cost arithmetic; batch prices for
openai-batch records; errors that name the file; the o200k tokenizer equals tiktoken's."""

from __future__ import annotations

import hashlib

import pytest

from lara.errors import ConfigError
from lara.pricing import billed_tokens, default_table, load_prices, read_table, tokenizer_for_model
from lara.results.record import build_record
from lara.types import RunOutput, Sample, Score, Step


def test_lookup_exact_alias_and_longest_prefix() -> None:
    t = default_table()
    assert t.date and t.lookup("openai:gpt-4o").model == "gpt-4o"
    assert t.lookup("gpt-4o-2024-08-06").model == "gpt-4o"
    assert t.lookup("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"  # never the shorter gpt-4o
    assert t.lookup("claude-3-5-sonnet-20241022").model == "claude-3-5-sonnet"
    assert t.lookup("qwen2.5-7b-instruct") is None
    assert tokenizer_for_model("openai:gpt-4o") == "o200k" and tokenizer_for_model("gpt-4-turbo") == "cl100k"


def test_cost_arithmetic_batch_and_cached_input() -> None:
    p = default_table().lookup("gpt-4o")
    per = p.per_tokens
    assert p.cost(1_000_000, 0) == pytest.approx(p.input * 1_000_000 / per)
    assert p.cost(2_000, 1_000) == pytest.approx((2_000 * p.input + 1_000 * p.output) / per)
    assert p.cost(2_000, 1_000, batch=True) == pytest.approx((2_000 * p.batch_input + 1_000 * p.batch_output) / per)
    assert p.cost(2_000, 0, cached_input_tokens=500) == pytest.approx((1_500 * p.input + 500 * p.cached_input) / per)


def _record(backend: str, model_id: str, steps: list[Step]) -> object:
    sample = Sample(id="s1", question="q?", references=("a",))
    out = RunOutput(answer="a", steps=tuple(steps))
    return build_record(run_id="r", spec_hash="h", task="t", task_version="1", sample=sample, runner="lc",
                        runner_params={}, model=f"x:{model_id}", backend=backend, model_id=model_id, generation={},
                        output=out, scores=[Score("exact", 1.0, "ok", "", "exact")], primary="exact", error=None,
                        started_at="", latency_s=0.0)


def test_record_cost_batch_discount_cache_hits_free_and_local_backends() -> None:
    t = default_table()
    live = Step(kind="generate", input_tokens=10_000, output_tokens=100)
    hit = Step(kind="generate", input_tokens=50_000, output_tokens=100, cached=True)
    online = t.record_cost(_record("openai", "gpt-4o-mini", [live, hit]))
    batch = t.record_cost(_record("openai-batch", "gpt-4o-mini", [live, hit]))
    p = t.lookup("gpt-4o-mini")
    assert online == pytest.approx(p.cost(10_000, 100))  # the cached call is not billed
    assert batch == pytest.approx(p.cost(10_000, 100, batch=True)) and batch < online
    assert t.record_cost(_record("mock", "mock", [live])) == 0.0
    assert t.record_cost(_record("openai", "my-finetune", [live])) is None
    assert billed_tokens(_record("openai", "gpt-4o", [live, hit])) == (10_000, 100)


def test_override_table_replaces_by_name_and_bad_tables_name_the_file(tmp_path) -> None:
    f = tmp_path / "prices.yaml"
    f.write_text("date: '2030-01-01'\nmodels:\n  gpt-4o: {input: 1.0, output: 2.0, tokenizer: o200k}\n"
                 "  my-model: {input: 0.5, output: 0.5}\n", encoding="utf-8")
    t = load_prices(f)
    assert t.lookup("gpt-4o").input == 1.0 and t.lookup("my-model").output == 0.5
    assert t.lookup("gpt-4o-mini").model == "gpt-4o-mini"  # shipped entries stay
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  m: {input: -1, output: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml: model 'm': input must be a non-negative number"):
        read_table(bad)
    bad.write_text("models:\n  m: {input: 1, outptu: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key"):
        read_table(bad)
    bad.write_text("models: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml:"):
        read_table(bad)
    with pytest.raises(ConfigError, match="no such file"):
        read_table(tmp_path / "missing.yaml")


def test_o200k_offline_matches_tiktoken(tmp_path, monkeypatch) -> None:
    """bpe-openai's o200k ranks are the file tiktoken pins (sha256); seeded into a private tiktoken
    cache, tiktoken's own encoder gives the same ids as lara's offline o200k."""
    tiktoken = pytest.importorskip("tiktoken")
    from lara.tokenizers_cl100k import O200K_SHA256, _ranks_blob
    from lara.tokens import get_tokenizer

    blob = _ranks_blob("o200k_base")
    assert hashlib.sha256(blob).hexdigest() == O200K_SHA256
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(blob)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    ref = tiktoken.get_encoding("o200k_base")
    ours = get_tokenizer("o200k")
    text = ("Read the book below and answer a question.\n\nÉtude n°7 — “quoted” 12,345.67 tokens;\tCamelCase "
            "and UPPER words, 日本語のテキスト, emoji 🙂.\n\nQuestion: What is it?\n\n Be concise.") * 20
    assert ours.encode(text) == ref.encode_ordinary(text)
    assert ours.count(text) == len(ref.encode_ordinary(text))
    assert ours.decode(ours.encode(text)) == text
