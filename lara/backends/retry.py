"""The one retry policy, wrapped around any backend.

Backends make one attempt per ``generate`` call and say what an exception means
(:meth:`~lara.protocols.Backend.classify`); :class:`RetryingBackend` decides what to do about it:
full-jitter exponential backoff (AWS style), a server's ``Retry-After`` as a floor (capped),
immediate failover when a multi-replica backend has another replica, and a total deadline per
request across attempts. Every retry is counted, so ``BackendError.retries`` reaches the record.
Backoff sleeps happen here, outside the backend's connection slot.

The stack a run uses is ``CachedBackend(RetryingBackend(backend))``: a cache hit never waits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

from lara.errors import BackendError, ConfigError
from lara.protocols import Failure
from lara.types import GenerateConfig, Generation, Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How failed model calls are retried; none of it changes an output (not in the spec hash).

    ``deadline_s``: the longest one request may take over all its attempts and waits (None: no
    bound beyond each attempt's own timeout)."""

    max_retries: int = 5
    backoff_base_s: float = 0.5
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_base_s < 0 or self.max_backoff_s < 0:
            raise ConfigError("retry policy: max_retries, backoff_base_s and max_backoff_s must be >= 0")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ConfigError(f"retry policy: deadline_s must be positive, got {self.deadline_s}")

    def backoff(self, attempt: int, failure: Failure) -> float:
        if failure.action == "failover":
            return 0.0
        delay = random.uniform(0, min(self.max_backoff_s, self.backoff_base_s * 2**attempt))
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, self.max_retry_after_s))
        return delay

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base: "RetryPolicy | None" = None) -> "RetryPolicy":
        """The policy with any of its fields given in ``params`` (e.g. ``-M max_retries=2``)."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in params.items() if k in names}
        return replace(base or cls(), **given)


RETRY_PARAM_NAMES = tuple(f.name for f in fields(RetryPolicy))


class RetryingBackend:
    """Retries ``inner.generate`` as its ``classify`` says; raises :class:`BackendError` when done."""

    def __init__(self, inner: Any, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self.info = inner.info
        self.retries = 0  # retries made by this wrapper (diagnostics for summaries)

    def __repr__(self) -> str:
        return f"RetryingBackend({self.inner!r}, max_retries={self.policy.max_retries})"

    def __getattr__(self, name: str) -> Any:  # tokenizer, supports_guided, endpoint...
        return getattr(self.inner, name)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def classify(self, exc: BaseException) -> Failure:
        return classify_with(self.inner, exc)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        policy = self.policy
        start = time.monotonic()
        attempt = 0
        while True:
            try:
                return await self.inner.generate(messages, config)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, re-raised typed
                failure = classify_with(self.inner, exc)
                if isinstance(exc, BackendError) and failure.action == "fatal":
                    exc.retries = attempt
                    raise
                detail = _describe(self.inner, failure, exc)
                if failure.action == "fatal":
                    raise BackendError(detail, retries=attempt, kind=failure.kind) from exc
                if attempt >= policy.max_retries:
                    raise BackendError(f"{detail} (gave up after {attempt} retries)", retries=attempt,
                                       kind=failure.kind) from exc
                delay = policy.backoff(attempt, failure)
                if policy.deadline_s is not None:
                    left = policy.deadline_s - (time.monotonic() - start)
                    if left <= delay:
                        raise BackendError(
                            f"{detail} (request deadline of {policy.deadline_s:g}s reached after {attempt} retries)",
                            retries=attempt, kind=failure.kind,
                        ) from exc
                attempt += 1
                self.retries += 1
                log.info("%s; retry %d/%d in %.2fs", detail, attempt, policy.max_retries, delay)
                if delay:
                    await asyncio.sleep(delay)


def classify_with(backend: Any, exc: BaseException) -> Failure:
    """The backend's own classification; a backend without ``classify`` makes every error fatal
    except a :class:`BackendError` it marked with a retryable kind."""
    classify = getattr(backend, "classify", None)
    if classify is not None:
        return classify(exc)  # type: ignore[no-any-return]
    return default_classify(exc)


TRANSIENT_KINDS = {"connection", "timeout", "server_error"}


def default_classify(exc: BaseException) -> Failure:
    """For backends that raise typed :class:`BackendError` themselves: transient kinds retry,
    ``rate_limit`` backs off, anything else is fatal."""
    if isinstance(exc, BackendError):
        if exc.kind == "rate_limit":
            return Failure("rate_limit", "rate_limited", getattr(exc, "retry_after", None))
        if exc.kind in TRANSIENT_KINDS:
            return Failure(exc.kind, "retryable")
        return Failure(exc.kind, "fatal")
    if isinstance(exc, TimeoutError):
        return Failure("timeout", "retryable")
    if isinstance(exc, ConnectionError):
        return Failure("connection", "retryable")
    return Failure(type(exc).__name__, "fatal")


def _describe(backend: Any, failure: Failure, exc: BaseException) -> str:
    info = getattr(backend, "info", None)
    where = f"{getattr(info, 'endpoint', None) or getattr(info, 'backend', '?')} model {getattr(info, 'id', '?')}"
    text = str(exc) or type(exc).__name__
    redact = getattr(backend, "redact", None)
    if callable(redact):
        text = redact(text)  # before cutting: a cut secret no longer matches
    return f"{where}: {failure.kind}: {_cut(text)}"


def _cut(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[:n] + "..."
