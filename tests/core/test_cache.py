"""Cache keys cover what changes outputs and nothing else; hits are marked cached."""

from __future__ import annotations

import asyncio

from lara.testing.backends import RecordingBackend
from lara.cache import CachedBackend, ResponseCache, cache_key
from lara.types import GenerateConfig, Generation, Message, ModelInfo

INFO = ModelInfo(id="m", backend="b", endpoint="http://x")
MSGS = [Message("user", "hi")]


def test_cache_key_sensitivity():
    base = cache_key(INFO, MSGS, GenerateConfig())
    assert base == cache_key(INFO, list(MSGS), GenerateConfig(timeout_s=1.0))  # timeout is not semantic
    assert base != cache_key(INFO, MSGS, GenerateConfig(max_tokens=3))
    assert base != cache_key(INFO, MSGS, GenerateConfig(temperature=0.5))
    assert base != cache_key(INFO, [Message("user", "hi!")], GenerateConfig())
    assert base != cache_key(ModelInfo(id="m2", backend="b", endpoint="http://x"), MSGS, GenerateConfig())
    assert base != cache_key(ModelInfo(id="m", backend="b", endpoint="http://y"), MSGS, GenerateConfig())
    assert base != cache_key(INFO, MSGS, GenerateConfig(), namespace="judge")


class Counting(RecordingBackend):
    """The shared recording double, answering ``answer <n>`` for its n-th call."""

    def __init__(self) -> None:
        super().__init__(lambda messages, config: f"answer {len(self.calls)}", model_id=INFO.id)
        self.info = INFO

    @property
    def n_calls(self) -> int:
        return len(self.calls)


def test_cached_backend_hits(tmp_path):
    inner = Counting()
    cache = ResponseCache(tmp_path / "c.sqlite")
    b = CachedBackend(inner, cache)
    g1 = asyncio.run(b.generate(MSGS, GenerateConfig()))
    g2 = asyncio.run(b.generate(MSGS, GenerateConfig()))
    assert inner.n_calls == 1 and not g1.cached and g2.cached and g2.text == g1.text
    # persisted across instances
    b2 = CachedBackend(inner, ResponseCache(tmp_path / "c.sqlite"))
    assert asyncio.run(b2.generate(MSGS, GenerateConfig())).cached and inner.n_calls == 1
