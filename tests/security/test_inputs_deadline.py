"""Issue 16 item 9: one total deadline per request and a cap on the reply size, on both transports."""

from __future__ import annotations

import asyncio
import time

import pytest

from lara.backends.base import BackendError, build_backend
from lara.testing.openai_server import Fault, LoopbackServer
from lara.types import GenerateConfig, Message

MSGS = [Message("user", "What is two plus two ?")]
MB = 1024 * 1024


def backend(srv: LoopbackServer, transport: str, **params):
    return build_backend("openai:m", {"base_url": srv.base_url, "transport": transport, "max_retries": 0,
                                      "tokenizer": "words", **params})


def call(b, config: GenerateConfig | None = None):
    async def go():
        try:
            return await b.generate(MSGS, config or GenerateConfig())
        finally:
            await b.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("transport", ["aiohttp", "openai"])
def test_trickling_server_cannot_outlive_the_deadline(transport):
    """The attack: 200 OK, then one byte per second (the whole body would take minutes). With a
    per-read timeout every byte resets the clock; the total deadline ends it at timeout_s."""
    with LoopbackServer(faults=lambda i, body: Fault.trickle(bytes_per_s=1.0, seconds=60)) as srv:
        t0 = time.monotonic()
        with pytest.raises(BackendError) as err:
            call(backend(srv, transport, timeout_s=3))
        elapsed = time.monotonic() - t0
    assert err.value.kind == "timeout" and "deadline of 3s" in str(err.value)
    assert 2.5 < elapsed < 8, elapsed


@pytest.mark.parametrize("transport", ["aiohttp", "openai"])
def test_generation_config_timeout_is_a_total_deadline_too(transport):
    with LoopbackServer(faults=lambda i, body: Fault.trickle(bytes_per_s=2.0, seconds=60)) as srv:
        t0 = time.monotonic()
        with pytest.raises(BackendError):
            call(backend(srv, transport, timeout_s=60), GenerateConfig(timeout_s=1.5))
        assert time.monotonic() - t0 < 6


@pytest.mark.parametrize("transport", ["aiohttp", "openai"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_reply_is_refused_not_read(transport, chunked):
    """17 MB against the default 16 MB cap: an error of its own kind, not retried."""
    with LoopbackServer(faults=[Fault.huge(17 * MB, chunked=chunked)]) as srv:
        with pytest.raises(BackendError) as err:
            call(backend(srv, transport, max_retries=3))
        assert srv.request_count == 1  # not retried: the server would send it again
    assert err.value.kind == "response_too_large" and "16777216-byte cap" in str(err.value)


@pytest.mark.parametrize("transport", ["aiohttp", "openai"])
def test_cap_is_a_parameter_and_replies_under_it_pass(transport):
    with LoopbackServer(faults=[Fault.huge(200_000), Fault.huge(200_000)]) as srv:
        assert len(call(backend(srv, transport, max_response_bytes=MB)).text) > 150_000
        with pytest.raises(BackendError, match="100000-byte cap"):
            call(backend(srv, transport, max_response_bytes=100_000))


def test_oversized_reply_becomes_an_error_record(tmp_path):
    from lara.config import resolve_spec
    from lara.engine import run
    from lara.results.store import read_records

    with LoopbackServer(faults=lambda i, body: Fault.huge(2 * MB) if i == 0 else None) as srv:
        spec = resolve_spec("synthetic", "lc", "openai:m", task_params={"lengths": "[40]", "n_docs": "1"},
                            model_params={"base_url": srv.base_url, "max_response_bytes": str(MB), "tokenizer": "words"})
        result = run(spec, output_root=tmp_path, use_cache=False, max_connections=1)
    records = list(read_records(result.run_dir))
    assert len(records) == 4
    errors = [r for r in records if r["error"]]
    assert len(errors) == 1 and errors[0]["error"]["kind"] == "response_too_large"
    # not part of the spec hash: a cap never changes an output
    assert spec.spec_hash() == resolve_spec("synthetic", "lc", "openai:m", task_params={"lengths": "[40]", "n_docs": "1"},
                                            model_params={"base_url": srv.base_url, "tokenizer": "words"}).spec_hash()
