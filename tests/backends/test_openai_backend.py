"""The OpenAI-compatible backend against a real loopback HTTP server, over both transports.

Every test runs once with the lean aiohttp transport and once through the real openai client: the
two must behave the same (retries, timeouts, error kinds, usage, key hygiene).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time

import pytest

from lara.backends.base import BackendError, EndpointLimits, build_backend
from lara.backends.openai_compat import parse_retry_after
from lara.testing.openai_server import Fault, LoopbackServer
from lara.types import GenerateConfig, Message

FAST = {"backoff_base_s": 0.01, "max_backoff_s": 0.05, "tokenizer": "words"}
MSGS = [Message("system", "You are a helpful assistant"), Message("user", "What is two plus two ?")]


@pytest.fixture(autouse=True, params=["aiohttp", "openai"])
def transport(request, monkeypatch):
    monkeypatch.setitem(FAST, "transport", request.param)
    return request.param


def make(srv: LoopbackServer, limits: EndpointLimits | None = None, **params):
    return build_backend("openai:test-model", {"base_url": srv.base_url, **FAST, **params}, limits)


def gen(backend, messages=MSGS, config: GenerateConfig | None = None):
    return asyncio.run(backend.generate(messages, config or GenerateConfig()))


def test_success_reports_usage_finish_reason_and_latency():
    with LoopbackServer(responder=lambda msgs, req: "four, obviously", latency_s=0.05) as srv:
        backend = make(srv)
        g = gen(backend)
        sent = srv.requests[0]
    assert g.text == "four, obviously"
    expected_prompt = sum(len(m.content.split()) for m in MSGS)
    assert (g.input_tokens, g.output_tokens) == (expected_prompt, 2)
    assert g.finish_reason == "stop" and g.model == "test-model" and not g.cached
    assert g.latency_s >= 0.05
    assert sent["model"] == "test-model" and sent["temperature"] == 0.0 and sent["seed"] == 0
    assert [m["content"] for m in sent["messages"]] == [m.content for m in MSGS]
    assert backend.info.backend == "openai" and backend.info.endpoint == srv.base_url


def test_stop_sequences_and_length_finish_reason_pass_through():
    with LoopbackServer(responder=lambda msgs, req: "Follow up: who? Intermediate answer: x") as srv:
        g = gen(make(srv), config=GenerateConfig(stop=("Intermediate answer:",)))
        g2 = gen(make(srv), config=GenerateConfig(max_tokens=2))
        sent = srv.requests[0]
    assert sent["stop"] == ["Intermediate answer:"]
    assert g.text.strip() == "Follow up: who?" and g.finish_reason == "stop"
    assert g2.finish_reason == "length" and g2.output_tokens == 2


@pytest.mark.parametrize("style", ["structured_outputs", "guided_regex"])
def test_guided_regex_sent_only_when_enabled(style):
    regex = r"(Follow up|So the final answer is): .*"
    with LoopbackServer() as srv:
        gen(make(srv, guided_decoding=True, guided_style=style), config=GenerateConfig(guided_regex=regex))
        gen(make(srv), config=GenerateConfig(guided_regex=regex))
        on, off = srv.requests
    expected = {"regex": regex} if style == "structured_outputs" else regex
    assert on[style] == expected
    assert "structured_outputs" not in off and "guided_regex" not in off
    assert make(srv, guided_decoding=True).supports_guided and not make(srv).supports_guided


def test_429_retry_after_is_honoured():
    with LoopbackServer(faults=[Fault.rate_limit(retry_after=0.4)]) as srv:
        g = gen(make(srv))
        waited = srv.arrivals[1] - srv.arrivals[0]
    assert g.text.startswith("echo:")
    assert srv.request_count == 2 and srv.faults_served == ["status"]
    assert waited >= 0.4


def test_retry_after_http_date_and_503():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after(date, now=now) <= 30
    assert parse_retry_after("2.5") == 2.5 and parse_retry_after("nonsense") is None
    with LoopbackServer(faults=[Fault.server_error(503, retry_after=0.3)]) as srv:
        gen(make(srv))
        assert srv.arrivals[1] - srv.arrivals[0] >= 0.3


def test_500_then_success():
    with LoopbackServer(faults=[Fault.server_error(), Fault.server_error(502)]) as srv:
        g = gen(make(srv))
        assert srv.request_count == 3
    assert g.text.startswith("echo:")


def test_timeout_then_success():
    with LoopbackServer(faults=[Fault.hang(5.0)]) as srv:
        t0 = time.perf_counter()
        g = gen(make(srv, timeout_s=0.3))
        elapsed = time.perf_counter() - t0
        assert srv.request_count == 2
    assert g.text.startswith("echo:")
    assert 0.3 <= elapsed < 3.0


@pytest.mark.parametrize("fault", [Fault.garbage(), Fault.garbage(text_plain=True), Fault.no_choices()])
def test_bad_body_is_not_retried(fault):
    with LoopbackServer(faults=[Fault.server_error(), fault]) as srv:
        with pytest.raises(BackendError) as err:
            gen(make(srv))
        assert srv.request_count == 2  # one retry for the 500, none for the bad body
    assert err.value.kind == "bad_response" and err.value.retries == 1


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_fail_immediately(status):
    with LoopbackServer(faults=[Fault.http(status)]) as srv:
        with pytest.raises(BackendError) as err:
            gen(make(srv))
        assert srv.request_count == 1
    assert err.value.retries == 0 and err.value.kind == f"http_{status}"


def test_retry_exhaustion_counts_retries():
    with LoopbackServer(faults=lambda i, body: Fault.server_error()) as srv:
        with pytest.raises(BackendError) as err:
            gen(make(srv, max_retries=3))
        assert srv.request_count == 4
    assert err.value.retries == 3 and err.value.kind == "server_error"
    assert "gave up after 3 retries" in str(err.value)


def test_concurrency_limit_is_never_exceeded():
    limits = EndpointLimits(default=100)
    with LoopbackServer(latency_s=0.05) as srv:
        backend = make(srv, limits, max_connections=4)

        async def many():
            msgs = [[Message("user", f"question {i}")] for i in range(50)]
            return await asyncio.gather(*(backend.generate(m, GenerateConfig()) for m in msgs))

        results = asyncio.run(many())
        assert srv.request_count == 50
        assert srv.max_in_flight == 4
    assert [r.text for r in results] == [f"echo: question {i}" for i in range(50)]
    # a second backend (e.g. a judge) on the same endpoint shares the first one's limit
    judge = make(srv, limits, max_connections=64)
    assert limits.limit(judge.endpoint) == 4


def test_api_key_never_leaks(monkeypatch, caplog):
    secret = "sk-test-SECRET-0123456789abcdef"
    monkeypatch.setenv("LARA_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with LoopbackServer(faults=[Fault.rate_limit(0.01), Fault.http(401)]) as srv:
        backend = make(srv, api_key_env="LARA_TEST_KEY")
        with pytest.raises(BackendError) as err:
            gen(backend)
    for text in (repr(backend), str(backend.info), str(vars(backend)), caplog.text, str(err.value)):
        assert secret not in text


def test_missing_key_and_bad_params_are_clear(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ValueError, match="NO_SUCH_KEY_VAR"):
        build_backend("openai:gpt-4o-mini", {"api_key_env": "NO_SUCH_KEY_VAR"})
    # loopback servers get a dummy key
    assert build_backend("openai:m", {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "NO_SUCH_KEY_VAR"})
    with pytest.raises(TypeError, match="unknown parameter"):
        build_backend("openai:m", {"base_url": "http://127.0.0.1:9/v1", "temprature": 1})
    with pytest.raises(TypeError, match="api_key_env"):
        build_backend("openai:m", {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-x"})
    with pytest.raises(ValueError, match="transport"):
        build_backend("openai:m", {"base_url": "http://127.0.0.1:9/v1", "transport": "curl"})


def test_usage_missing_falls_back_to_tokenizer():
    with LoopbackServer(responder=lambda msgs, req: "a b c") as srv:
        backend = make(srv)
        msgs = [Message("user", "one two three four")]
        g = gen(backend, msgs)
    assert g.input_tokens == 4 and g.output_tokens == 3  # from the server's usage
    assert backend.count_tokens("one two three four") == 4  # words tokenizer when no usage


def test_server_in_separate_process_reports_stats_over_http():
    with LoopbackServer(separate_process=True, faults={1: Fault.server_error()}) as srv:
        backend = make(srv)
        gen(backend)
        gen(backend)
        stats = srv.stats()
    assert stats["request_count"] == 3 and stats["faults_served"] == ["status"]
    assert stats["max_in_flight"] == 1 and stats["in_flight"] == 0


def test_auto_transport_prefers_aiohttp_and_falls_back(monkeypatch):
    import importlib.util

    url = {"base_url": "http://127.0.0.1:9/v1"}
    assert build_backend("openai:m", url).transport == "aiohttp"  # the default is "auto"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aiohttp" else real(name, *a))
    assert build_backend("openai:m", {**url, "transport": "auto"}).transport == "openai"
