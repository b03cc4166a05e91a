"""Backend for any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, TGI...).

One attempt per ``generate`` call; :meth:`OpenAICompatBackend.classify` says what a failure means
and :class:`lara.backends.retry.RetryingBackend` (which ``build_backend`` wraps around it) retries,
so every retry is counted and backoff waits happen outside the connection slot. The ``openai``
library's own retries are disabled. Every request holds the shared per-endpoint semaphore, so the
evaluated model and a judge on the same server share one limit.
The API key is read from the environment when a client is built and is never kept on the object.

Two transports with the same semantics (tests/test_backend_openai.py runs every case on both):
``aiohttp`` (lara.backends.openai_http: one pooled session per event loop, body serialised once,
reply read with ``json.loads``) and ``openai`` (the openai library's client). ``transport="auto"``
(the default) picks aiohttp when it is installed. Why: at evaluation concurrency the client's CPU
capped throughput. Measured client CPU per request, 1,000 requests at 32 connections against the
loopback server (backend alone, shared 2-core machine): openai library 1.9-2.1 ms, a plain
httpx.AsyncClient 1.8 ms (httpcore's pool polls every idle socket on each checkout), aiohttp 0.4 ms
(0.77 ms with trust_env, which reads ~/.netrc in a thread on every request). Whole engine,
benchmarks/dispatch.py (2,000 requests, 100 ms, 32 connections), runs back to back: openai 2.0 ms
per request, ratio 0.79-0.80; aiohttp 0.63 ms, ratio 0.87-0.91. benchmarks/peer.py request-phase
ratio vs lm-eval: 0.56 -> 0.97 (lm-eval is within 9% of that benchmark's latency floor).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any, Sequence
from urllib.parse import urlparse

from lara.backends.base import BackendError, EndpointLimits
from lara.protocols import Failure
from lara.backends.openai_http import (  # parse_retry_after: re-exported for callers and tests
    DEFAULT_MAX_RESPONSE_BYTES, AiohttpTransport, ResponseTooLarge, classify_error, deadline_error, parse_completion,
    parse_retry_after, snippet,  # noqa: F401
)
from lara.registry import backends
from lara.secrets import redact_text, register_env
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOOPBACK_DUMMY_KEY = "sk-lara-loopback"  # servers on this machine usually ignore the key
GUIDED_STYLES = ("structured_outputs", "guided_regex")
TRANSPORTS = ("auto", "aiohttp", "openai")
TUNING_PARAMS = {
    "guided_style": "structured_outputs",  # vLLM >= 0.12; "guided_regex" for older servers
    "extra_body": None,  # merged into every request (e.g. vLLM chat_template_kwargs)
    "transport": "auto",  # aiohttp when installed, else the openai library (see the docstring)
    "max_response_bytes": DEFAULT_MAX_RESPONSE_BYTES,  # a larger reply is an error record
}


def is_loopback(base_url: str | None) -> bool:
    if not base_url:
        return False
    host = urlparse(base_url).hostname or ""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class OpenAICompatBackend:
    """OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp); key from $OPENAI_API_KEY."""

    EXTRA_PARAMS = {"guided_style": str, "extra_body": dict, "transport": str, "max_response_bytes": int}

    def __init__(
        self,
        limits: EndpointLimits,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_connections: int = 8,
        timeout_s: float = 120,
        guided_decoding: bool = False,
        context_window: int | None = None,
        tokenizer: str = "cl100k",
        **extra: Any,
    ) -> None:
        if "api_key" in extra:
            raise TypeError(
                "openai backend: do not pass api_key as a parameter (it would end up in run.json); "
                f"set the environment variable named by api_key_env (now {api_key_env!r})"
            )
        unknown = set(extra) - set(TUNING_PARAMS)
        if unknown:
            from lara.backends.retry import RETRY_PARAM_NAMES

            valid = ["base_url", "api_key_env", "max_connections", "timeout_s", "guided_decoding",
                     "context_window", "tokenizer", *TUNING_PARAMS, *RETRY_PARAM_NAMES]
            raise TypeError(
                f"openai backend: unknown parameter(s) {sorted(unknown)}; valid: {', '.join(valid)}"
            )
        opts = {**TUNING_PARAMS, **extra}
        if opts["transport"] not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {opts['transport']!r}")
        if opts["guided_style"] not in GUIDED_STYLES:
            raise ValueError(f"guided_style must be one of {GUIDED_STYLES}, got {opts['guided_style']!r}")
        if not model:
            raise ValueError("openai backend needs a model id, e.g. 'openai:gpt-4o-mini'")
        if max_connections < 1 or timeout_s <= 0:
            raise ValueError("need max_connections >= 1 and timeout_s > 0")
        if int(opts["max_response_bytes"]) < 1:
            raise ValueError(f"max_response_bytes must be positive, got {opts['max_response_bytes']}")
        self.model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.endpoint = self.base_url
        self.api_key_env = api_key_env
        register_env(api_key_env)  # its value is a secret even when the name is not *_API_KEY
        self.max_response_bytes = int(opts["max_response_bytes"])
        self.max_connections = int(max_connections)
        self.timeout_s = float(timeout_s)
        self.supports_guided = bool(guided_decoding)
        self.guided_style: str = opts["guided_style"]
        self.extra_body: dict[str, Any] = dict(opts["extra_body"] or {})
        self.transport: str = _pick_transport(opts["transport"])
        self.tokenizer_name = tokenizer
        self._tokenizer: Any = None
        self._limits = limits
        # Limits are shared by every backend of a session: the first one to name an endpoint sets it.
        if not limits.is_set(self.endpoint):
            limits.set(self.endpoint, self.max_connections)
        self._api_key()  # fail early with a clear message when the key is missing
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._http: Any = None
        if self.transport != "openai":
            # Pool as large as the endpoint's shared limit: the semaphore, not the pool, queues.
            pool = max(self.max_connections, limits.limit(self.endpoint))
            self._http = AiohttpTransport(self.base_url, self._api_key, pool, self.timeout_s,
                                          self.max_response_bytes)
        self.info = ModelInfo(
            id=model,
            backend="openai",
            context_window=context_window,
            endpoint=self.endpoint,
            parameters={"guided_decoding": self.supports_guided, "tokenizer": tokenizer},
        )

    def __repr__(self) -> str:
        return f"OpenAICompatBackend(model={self.model!r}, endpoint={self.endpoint!r})"

    # -- plumbing --------------------------------------------------------------------------
    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if is_loopback(self.base_url):
            return LOOPBACK_DUMMY_KEY
        raise ValueError(
            f"openai backend: environment variable {self.api_key_env} is not set "
            f"(needed for {self.endpoint}); set it or choose another with api_key_env=..."
        )

    def redact(self, text: str) -> str:
        """Servers sometimes echo the key in an error body; never let it reach a record or log
        (whole or cut: see :mod:`lara.secrets`)."""
        return redact_text(text)

    def _get_client(self) -> Any:
        """One AsyncOpenAI per event loop: its connection pool cannot be shared across loops."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            from openai import AsyncOpenAI

            from openai import DefaultAsyncHttpxClient

            cap = _response_cap(self.max_response_bytes)
            self._client = AsyncOpenAI(
                api_key=self._api_key(),
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout_s,
                http_client=DefaultAsyncHttpxClient(event_hooks={"response": [cap]}),
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from lara.tokens import get_tokenizer

            try:
                self._tokenizer = get_tokenizer(self.tokenizer_name)
            except ImportError as exc:
                log.warning("tokenizer %s unavailable (%s); counting words", self.tokenizer_name, exc)
                self._tokenizer = get_tokenizer("words")
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def _request(self, messages: Sequence[Message], config: GenerateConfig) -> dict[str, Any]:
        """The JSON body: OpenAI chat-completions fields plus server extensions (guided decoding)."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if config.stop:
            kwargs["stop"] = list(config.stop)
        if config.seed is not None:
            kwargs["seed"] = config.seed
        kwargs.update(self.extra_body)
        if config.guided_regex and self.supports_guided:
            if self.guided_style == "guided_regex":
                kwargs["guided_regex"] = config.guided_regex
            else:
                kwargs["structured_outputs"] = {"regex": config.guided_regex}
        return kwargs

    def _to_generation(self, resp: Any, messages: Sequence[Message], latency: float) -> Generation:
        """From the openai library's ChatCompletion."""
        choices = getattr(resp, "choices", None) if not isinstance(resp, (str, bytes)) else None
        if not choices:
            raise BackendError(
                f"{self.endpoint}: response has no choices (not a chat completion): "
                f"{snippet(str(resp), 200)!r}",
                kind="bad_response",
            )
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None) or ""
        usage = getattr(resp, "usage", None)
        in_tok = getattr(usage, "prompt_tokens", None) if usage else None
        out_tok = getattr(usage, "completion_tokens", None) if usage else None
        return self._generation(
            messages, text, in_tok, out_tok, getattr(choice, "finish_reason", None),
            getattr(resp, "model", None), latency,
        )

    def _generation(
        self, messages: Sequence[Message], text: str, in_tok: Any, out_tok: Any,
        finish_reason: str | None, model: str | None, latency: float,
    ) -> Generation:
        if in_tok is None:
            in_tok = sum(self.count_tokens(m.content) for m in messages)
        if out_tok is None:
            out_tok = self.count_tokens(text)
        return Generation(
            text=text,
            input_tokens=int(in_tok),
            output_tokens=int(out_tok),
            finish_reason=finish_reason or "stop",
            latency_s=latency,
            cached=False,
            model=model or self.model,
        )

    # -- the call ----------------------------------------------------------------------------
    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        """One chat completion (one attempt: retries are the caller's, see RetryingBackend).

        The timeout is the tighter of the backend's ``timeout_s`` and ``config.timeout_s``, and is
        one total deadline for the request (reply included) on either transport; ``latency_s`` is
        the request's duration (queueing for a connection slot excluded).
        """
        body = self._request(messages, config)
        timeout = min(self.timeout_s, config.timeout_s) if config.timeout_s else self.timeout_s
        async with self._limits.semaphore(self.endpoint):
            # the reply is parsed under the slot too: microseconds, and one error path
            if self._http is not None:
                return await self._call_lean(messages, _encode(body), timeout)
            return await self._call_openai(messages, body, timeout)

    def classify(self, exc: BaseException) -> Failure:
        """Transport exceptions -> retryable (connection, timeout, 5xx, 408/409), rate_limited (429,
        with Retry-After) or fatal (other 4xx, a reply that is not a chat completion)."""
        if isinstance(exc, BackendError):
            return Failure(exc.kind, "fatal")
        kind, retryable, retry_after = classify_error(exc, self.transport)
        if kind == "rate_limit":
            return Failure(kind, "rate_limited", retry_after)
        return Failure(kind, "retryable" if retryable else "fatal", retry_after)

    async def _call_lean(self, messages: Sequence[Message], body: bytes, timeout: float) -> Generation:
        t0 = time.perf_counter()
        payload = await self._http.complete(body, timeout)
        latency = time.perf_counter() - t0
        return self._generation(messages, *parse_completion(payload), latency)

    async def _call_openai(self, messages: Sequence[Message], body: dict[str, Any], timeout: float) -> Generation:
        from openai.types.chat import ChatCompletion

        client = self._get_client()
        t0 = time.perf_counter()
        # client.post is the library's public call for raw bodies: same auth, timeouts, typed errors
        # and ChatCompletion parsing as chat.completions.create, without its per-call TypedDict
        # transform of our already-plain body (~30% of the client's CPU per request).
        # httpx's timeout is per read: asyncio.timeout makes it one deadline for the whole request.
        try:
            async with asyncio.timeout(timeout):
                resp = await client.post(
                    "/chat/completions", cast_to=ChatCompletion, body=body, options={"timeout": timeout},
                )
        except TimeoutError as exc:
            raise deadline_error(timeout) from exc
        latency = time.perf_counter() - t0
        return self._to_generation(resp, messages, latency)


def _pick_transport(name: str) -> str:
    if name != "auto":
        return name
    import importlib.util

    if importlib.util.find_spec("aiohttp") is not None:
        return "aiohttp"
    log.info("aiohttp is not installed; the openai backend uses the openai library (more CPU/request)")
    return "openai"


def _response_cap(limit: int) -> Any:
    """An httpx response hook that refuses replies over ``limit`` bytes, declared or streamed (the
    body is read after response hooks run, through the stream this hook wraps)."""
    try:  # the openai library's HTTP stack: httpx2 in openai >= 3, httpx before
        from httpx2 import AsyncByteStream
    except ImportError:
        from httpx import AsyncByteStream  # type: ignore[assignment]

    class CappedStream(AsyncByteStream):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __aiter__(self) -> Any:
            seen = 0
            async for chunk in self.inner:
                seen += len(chunk)
                if seen > limit:
                    raise ResponseTooLarge(limit, seen)
                yield chunk

        async def aclose(self) -> None:
            await self.inner.aclose()

    async def hook(response: Any) -> None:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise ResponseTooLarge(limit, int(declared))
        response.stream = CappedStream(response.stream)

    return hook


def _encode(body: dict[str, Any]) -> bytes:
    """Serialised once per call (not per retry); compact like httpx's own ``json=``."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


# The class is its own factory: ``(limits, model, **params)`` as every backend.
backends.register("openai", aliases=("openai_compat",))(OpenAICompatBackend)
