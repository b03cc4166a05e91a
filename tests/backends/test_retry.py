"""One retry policy around any backend: backoff, Retry-After, failover at once, total deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from lara.backends.retry import RetryingBackend, RetryPolicy
from lara.errors import BackendError, ConfigError
from lara.protocols import Failure
from lara.testing.backends import RecordingBackend
from lara.types import GenerateConfig, Message

MSGS = [Message("user", "hi")]


class Flaky(RecordingBackend):
    """Fails its first ``n`` attempts with ``exc``; classifies with ``failure``."""

    def __init__(self, n: int, failure: Failure, exc: Exception | None = None) -> None:
        super().__init__("ok")
        self.n, self.failure, self.exc, self.attempts = n, failure, exc or ConnectionError("down"), 0

    async def generate(self, messages, config):
        self.attempts += 1
        if self.attempts <= self.n:
            raise self.exc
        return await super().generate(messages, config)

    def classify(self, exc: BaseException) -> Failure:
        return self.failure


def go(backend):
    return asyncio.run(backend.generate(MSGS, GenerateConfig()))


FAST = RetryPolicy(max_retries=3, backoff_base_s=0.01, max_backoff_s=0.02)


def test_retryable_until_success_and_counted() -> None:
    inner = Flaky(2, Failure("connection", "retryable"))
    rb = RetryingBackend(inner, FAST)
    assert go(rb).text == "ok" and inner.attempts == 3 and rb.retries == 2


def test_fatal_is_not_retried_and_gives_up_after_max() -> None:
    inner = Flaky(5, Failure("http_400", "fatal"))
    with pytest.raises(BackendError) as err:
        go(RetryingBackend(inner, FAST))
    assert inner.attempts == 1 and err.value.retries == 0 and err.value.kind == "http_400"
    inner = Flaky(10, Failure("server_error", "retryable"))
    with pytest.raises(BackendError, match="gave up after 3 retries") as err:
        go(RetryingBackend(inner, FAST))
    assert inner.attempts == 4 and err.value.retries == 3


def test_retry_after_is_a_floor_and_failover_is_immediate() -> None:
    t0 = time.perf_counter()
    go(RetryingBackend(Flaky(1, Failure("rate_limit", "rate_limited", 0.3)), FAST))
    assert time.perf_counter() - t0 >= 0.3
    slow = RetryPolicy(max_retries=3, backoff_base_s=5.0, max_backoff_s=5.0)
    t0 = time.perf_counter()
    go(RetryingBackend(Flaky(2, Failure("connection", "failover")), slow))
    assert time.perf_counter() - t0 < 1.0  # no backoff between replicas


def test_total_deadline_stops_retrying() -> None:
    policy = RetryPolicy(max_retries=50, backoff_base_s=0.2, max_backoff_s=0.2, deadline_s=0.5)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="deadline"):
        go(RetryingBackend(Flaky(100, Failure("rate_limit", "rate_limited", 0.2)), policy))
    assert time.perf_counter() - t0 < 1.5


def test_policy_from_params_and_validation() -> None:
    p = RetryPolicy.from_params({"max_retries": 1, "base_url": "x"})
    assert p.max_retries == 1 and p.backoff_base_s == RetryPolicy().backoff_base_s
    with pytest.raises(ConfigError):
        RetryPolicy(deadline_s=0)
