"""Lean HTTP transport for the ``openai`` backend: one pooled ``aiohttp`` session per event loop.

Why: at evaluation concurrency the client's CPU, not the server, capped dispatch, and most of it was
in the ``openai`` library and the httpx/httpcore stack under it (option building, auth wrapper,
pydantic parsing, and a connection pool that polls every idle socket on each checkout). This
transport posts the chat-completions JSON itself and reads the reply with ``json.loads``; the retry
policy, semaphore, key handling and error kinds stay in :mod:`lara.backends.openai_compat`, which
uses either path. A plain httpx client was measured too and saved only ~15% (see that module).
``HTTPS_PROXY``/``NO_PROXY`` are honoured (resolved once per session) as by the openai library.

Both transports bound a request the same way (issue 16 item 9): one *total* deadline covering
connect, upload and the whole reply (a server trickling a byte a second cannot outlive it, which a
per-read timeout allows), and a cap on the reply's size (``max_response_bytes``, 16 MB by default)
that ends the read early with :class:`ResponseTooLarge`. Error bodies are redacted
(:func:`lara.secrets.redact_text`) before they are cut, since a cut key no longer matches itself.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any, Callable

RETRYABLE_STATUS = {408, 409, 429}
RETRY_AFTER_STATUS = {429, 503}
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
SNIPPET_SOURCE_BYTES = 4096  # redact this much of an error body, then cut it for the message


class HTTPStatusFailure(Exception):
    """A non-2xx reply (the retry loop classifies it by ``status``)."""

    def __init__(self, status: int, headers: Any, text: str) -> None:
        super().__init__(f"Error code: {status} - {text}")
        self.status = status
        self.headers = headers


class BadResponse(ValueError):
    """A 2xx reply that is not a chat completion (not retried: the server would say it again)."""


class ResponseTooLarge(Exception):
    """A reply larger than the transport's cap (not retried: the server would send it again)."""

    def __init__(self, limit: int, seen: int | None = None) -> None:
        size = f"{seen} bytes" if seen is not None else "more"
        super().__init__(f"reply too large: {size} exceed the {limit}-byte cap (max_response_bytes)")
        self.limit = limit


def snippet(content: bytes | str, n: int) -> str:
    """The first ``n`` characters of a body for an error message, redacted before the cut."""
    from lara.secrets import redact_text

    if isinstance(content, bytes):
        content = content[:SNIPPET_SOURCE_BYTES].decode("utf-8", "replace")
    return redact_text(content[:SNIPPET_SOURCE_BYTES])[:n]


def deadline_error(seconds: float) -> TimeoutError:
    return TimeoutError(f"no complete reply within the request deadline of {seconds:g}s")


async def read_capped(resp: Any, limit: int) -> bytes:
    """An aiohttp reply body, refusing more than ``limit`` bytes (declared or streamed)."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise ResponseTooLarge(limit, declared)
    if declared is not None:
        return await resp.read()  # type: ignore[no-any-return]
    parts: list[bytes] = []
    seen = 0
    async for chunk in resp.content.iter_any():
        seen += len(chunk)
        if seen > limit:
            raise ResponseTooLarge(limit, seen)
        parts.append(chunk)
    return b"".join(parts)


class AiohttpTransport:
    """POSTs to ``<base_url>/chat/completions`` over a keep-alive pool of ``pool_size`` connections.

    ``api_key`` is a callable so the key is read from the environment only when a session is built;
    it then lives only in that session's default headers. One session per event loop: a connection
    pool cannot be shared across loops.
    """

    def __init__(self, base_url: str, api_key: Callable[[], str], pool_size: int, timeout_s: float,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._url_text = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._pool_size = max(1, int(pool_size))
        self._timeout_s = timeout_s
        self._max_bytes = int(max_response_bytes)
        self._session: Any = None
        self._proxy: dict[str, Any] = {}
        self._closer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, Any] = {}

    def __repr__(self) -> str:
        return f"AiohttpTransport({self._url_text!r}, pool={self._pool_size})"

    def _get_session(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size),
                headers={
                    "Authorization": f"Bearer {self._api_key()}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                cookie_jar=aiohttp.DummyCookieJar(),
                # trust_env=True would look up ~/.netrc in a thread and re-parse the proxy
                # environment on every request; the URL is fixed, so resolve the proxy once.
                trust_env=False,
            )
            self._proxy = _env_proxy(self._url_text)
            self._loop = loop
            # The engine does not close backends: close the session when asyncio.run cancels the
            # loop's remaining tasks at exit, instead of an "Unclosed client session" error at GC.
            self._closer = loop.create_task(_close_on_cancel(self._session))
        return self._session

    def _timeout(self, seconds: float) -> Any:
        t = self._timeouts.get(seconds)
        if t is None:
            import aiohttp

            t = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return t

    async def complete(self, body: bytes, timeout_s: float) -> dict[str, Any]:
        """POST one request; ``timeout_s`` bounds the whole exchange, the reply body included."""
        session = self._get_session()
        try:
            async with asyncio.timeout(timeout_s):
                async with session.post(
                    self._url_text, data=body, timeout=self._timeout(timeout_s), **self._proxy
                ) as resp:
                    status = resp.status
                    content = await read_capped(resp, self._max_bytes)
        except TimeoutError as exc:
            raise deadline_error(timeout_s) from exc
        if not 200 <= status < 300:
            raise HTTPStatusFailure(status, resp.headers, snippet(content, 300))
        try:
            payload = json.loads(content)
        except ValueError as exc:
            raise BadResponse(f"reply is not JSON: {snippet(content, 200)!r}") from exc
        if not isinstance(payload, dict):
            raise BadResponse(f"reply is not a JSON object: {snippet(str(payload), 200)!r}")
        return payload

    async def aclose(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if self._session is not None:
            session, self._session = self._session, None
            if not session.closed:
                await session.close()


def _env_proxy(url: str) -> dict[str, Any]:
    """``proxy``/``proxy_auth`` from HTTP(S)_PROXY and NO_PROXY, as the openai library honours them."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:
        return {}
    return {"proxy": proxy, "proxy_auth": auth}


async def _close_on_cancel(session: Any) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        if not session.closed:
            await session.close()


def classify(exc: BaseException) -> tuple[str, bool, str | None] | None:
    """(kind, retryable, raw Retry-After) for the aiohttp transport's exceptions, None if unknown."""
    if isinstance(exc, HTTPStatusFailure):
        return "status", False, exc.headers.get("retry-after")
    if isinstance(exc, ResponseTooLarge):
        return "response_too_large", False, None
    if isinstance(exc, TimeoutError):  # asyncio's and aiohttp's (ServerTimeoutError) timeouts
        return "timeout", True, None
    import aiohttp

    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return "connection", True, None
    return None


def parse_completion(payload: dict[str, Any]) -> tuple[str, Any, Any, str | None, str | None]:
    """(text, prompt_tokens, completion_tokens, finish_reason, model) from a chat-completion dict."""
    choices = payload.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise BadResponse(f"response has no choices (not a chat completion): {snippet(str(payload), 200)!r}")
    choice = choices[0]
    message = choice.get("message")
    text = (message.get("content") if isinstance(message, dict) else None) or ""
    if not isinstance(text, str):
        raise BadResponse(f"message content is not text: {snippet(str(text), 200)!r}")
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return (
        text,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        choice.get("finish_reason"),
        payload.get("model"),
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _classify_status(status: int, retry_after_header: str | None) -> tuple[str, bool, float | None]:
    retry_after = parse_retry_after(retry_after_header) if status in RETRY_AFTER_STATUS else None
    if status == 429:
        return "rate_limit", True, retry_after
    if status >= 500:
        return "server_error", True, retry_after
    return f"http_{status}", status in RETRYABLE_STATUS, retry_after


def classify_error(exc: BaseException, transport: str = "openai") -> tuple[str, bool, float | None]:
    """(kind, retryable, retry_after_s) for an exception raised by either transport."""
    if isinstance(exc, ResponseTooLarge):
        return "response_too_large", False, None
    if isinstance(exc, TimeoutError):  # the total deadline (asyncio.timeout) of either transport
        return "timeout", True, None
    if transport != "openai":
        found = classify(exc)
        if found is not None:
            kind, retryable, header = found
            if kind == "status":
                return _classify_status(exc.status, header)  # type: ignore[attr-defined]
            return kind, retryable, None
    else:
        import openai

        if isinstance(exc, openai.APITimeoutError):  # subclass of APIConnectionError: test first
            return "timeout", True, None
        if isinstance(exc, openai.APIConnectionError):
            return "connection", True, None
        if isinstance(exc, openai.APIStatusError):
            return _classify_status(exc.status_code, exc.response.headers.get("retry-after"))
        if isinstance(exc, openai.APIResponseValidationError):
            return "bad_response", False, None
    if isinstance(exc, ValueError):  # JSONDecodeError, BadResponse
        return "bad_response", False, None
    return type(exc).__name__, False, None
