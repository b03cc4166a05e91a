"""The mock backend: fixed answers with escapes, per-sample answers from a file, latency."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lara.backends.base import build_backend
from lara.backends.mock import expand_escapes
from lara.errors import DataError
from lara.protocols import REQUEST, RequestContext
from lara.types import GenerateConfig, Message

MSGS = [Message("user", "one two three")]


def ask(backend, sample_id=None):
    async def go():
        token = REQUEST.set(RequestContext(sample_id=sample_id))
        try:
            return await backend.generate(MSGS, GenerateConfig())
        finally:
            REQUEST.reset(token)

    return asyncio.run(go())


def test_fixed_answer_expands_escapes() -> None:
    assert expand_escapes(r"[BEGIN]\nimport os\n\tx\\n[DONE]") == "[BEGIN]\nimport os\n\tx\\n[DONE]"
    g = ask(build_backend("mock", {"answer": r"a\nb"}))
    assert g.text == "a\nb" and g.input_tokens == 3 and g.output_tokens == 2


def test_answers_per_sample_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "answers.jsonl"
    f.write_text("\n".join(json.dumps({"sample_id": s, "answer": a}) for s, a in [("s1", "yes"), ("s2", "no")]))
    b = build_backend("mock", {"answers": str(f)})
    assert ask(b, "s1").text == "yes" and ask(b, "s2").text == "no"
    with pytest.raises(Exception) as err:  # a sample without an answer fails (an error record in a run)
        ask(b, "s3")
    assert "s3" in str(err.value)
    fallback = build_backend("mock", {"answers": str(f), "answer": "default"})
    assert ask(fallback, "s3").text == "default"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        build_backend("mock", {"answers": str(bad)})


def test_latency_is_slept() -> None:
    import time

    t0 = time.perf_counter()
    ask(build_backend("mock", {"answer": "x", "latency_s": 0.2}))
    assert time.perf_counter() - t0 >= 0.2
