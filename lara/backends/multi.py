"""Several replicas of one model behind one backend: document affinity and failover.

Each request goes to the replica ranked first by rendezvous hashing of its affinity key (the
request context's ``affinity``, which the engine sets to the sample's document key; without one, a
hash of the first ``AFFINITY_CHARS`` characters of the prompt), so every question about one
document hits the replica that already holds that document's prefix cache, and losing a replica
only moves the documents it owned. A replica whose request fails with a connection error, timeout
or 5xx is marked down for ``cooldown_s`` and :meth:`classify` answers ``failover``: the retry
policy around this backend (lara.backends.retry) retries at once, and the ranking now puts the next
healthy replica first, so requests in flight on a replica that dies are not lost. Each replica
keeps its own per-endpoint concurrency limit.

Use: ``--model openai:MODEL --base-url URL1 --base-url URL2`` (``base_url`` given as a list), or the
explicit model string ``multi:openai:MODEL`` with ``base_url=[...]``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

import hashlib

from lara import registry
from lara.backends.base import EndpointLimits, build_raw_backend
from lara.protocols import Failure, current_request
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

AFFINITY_CHARS = 2048
FAILOVER_KINDS = {"connection", "timeout", "server_error", "rate_limit"}


def stable_hash(key: str) -> int:
    """A process-independent 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def prompt_affinity(messages: Sequence[Message]) -> str:
    """Fallback key: the prompt's head (system prompt, template, start of the document)."""
    return "\n".join(m.content for m in messages)[:AFFINITY_CHARS]


def rank_replicas(key: str, n: int) -> list[int]:
    """Rendezvous (highest random weight) order of replica indexes for ``key``: stable, and
    removing one replica moves only the keys it ranked first."""
    return sorted(range(n), key=lambda i: stable_hash(f"{i}\x00{key}"), reverse=True)


class MultiEndpointBackend:
    """Spreads requests over replica backends with document affinity and failover."""

    def __init__(
        self,
        replicas: Sequence[Any],
        *,
        model: str,
        cooldown_s: float = 5.0,
    ) -> None:
        if not replicas:
            raise ValueError("multi backend needs at least one replica")
        self.replicas = list(replicas)
        self.cooldown_s = float(cooldown_s)
        self._down_until = [0.0] * len(self.replicas)
        self.served = [0] * len(self.replicas)  # successful requests per replica (diagnostics)
        self.failovers = 0
        first = self.replicas[0].info
        endpoints = [getattr(r.info, "endpoint", None) or "" for r in self.replicas]
        self.info = ModelInfo(
            id=first.id,
            backend=first.backend,
            context_window=first.context_window,
            endpoint=",".join(endpoints),
            parameters={**dict(first.parameters), "replicas": len(self.replicas)},
        )

    def __repr__(self) -> str:
        return f"MultiEndpointBackend({self.info.endpoint!r})"

    @property
    def tokenizer(self) -> Any:
        return getattr(self.replicas[0], "tokenizer", None)

    def count_tokens(self, text: str) -> int:
        return self.replicas[0].count_tokens(text)

    def order_for(self, key: str) -> list[int]:
        """Replica indexes to try for ``key``: healthy ones in affinity order, then the down ones."""
        ranked = rank_replicas(key, len(self.replicas))
        now = time.monotonic()
        up = [i for i in ranked if self._down_until[i] <= now]
        return up + [i for i in ranked if i not in up]

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        """One attempt on the replica that owns this request's affinity key (the healthy one ranked
        first); a failure marks that replica down so the caller's retry goes to the next one."""
        key = current_request().affinity or prompt_affinity(messages)
        i = self.order_for(key)[0]
        try:
            gen = await self.replicas[i].generate(messages, config)
        except Exception as exc:
            if self._replica_failure(i, exc).action != "fatal":
                self._down_until[i] = time.monotonic() + self.cooldown_s
                self.failovers += 1
                log.warning("replica %s failed (%s); failing over", self.replicas[i].info.endpoint,
                            type(exc).__name__)
            raise
        self._down_until[i] = 0.0
        self.served[i] += 1
        return gen

    def _replica_failure(self, i: int, exc: BaseException) -> Failure:
        return self.replicas[i].classify(exc)  # type: ignore[no-any-return]

    def classify(self, exc: BaseException) -> Failure:
        """A replica's transient failure is ``failover`` (retry at once elsewhere) while another
        replica is up, else what the replica said (backoff before trying the ranking again)."""
        failure = self.replicas[0].classify(exc)
        if failure.action == "fatal" or failure.kind not in FAILOVER_KINDS:
            return failure
        now = time.monotonic()
        if any(t <= now for t in self._down_until):
            return Failure(failure.kind, "failover", failure.retry_after)
        return failure

    def redact(self, text: str) -> str:
        redact = getattr(self.replicas[0], "redact", None)
        return redact(text) if callable(redact) else text

    async def aclose(self) -> None:
        for r in self.replicas:
            close = getattr(r, "aclose", None)
            if close is not None:
                await close()


def build_multi(model: str, params: Mapping[str, Any], limits: EndpointLimits) -> MultiEndpointBackend:
    """One raw replica backend per ``base_url`` in the list (other params shared), behind one
    backend; retries and failover are the retry policy's (``build_backend`` wraps it)."""
    params = dict(params)
    urls = params.pop("base_url", None)
    if isinstance(urls, str):
        urls = [u for u in urls.split(",") if u.strip()]
    if not urls:
        raise ValueError("multi backend: base_url must list at least one endpoint")
    cooldown_s = float(params.pop("cooldown_s", 5.0))
    for old in ("max_failovers", "replica_retries"):  # replaced by the retry policy; old specs still load
        params.pop(old, None)
    replicas = [build_raw_backend(model, {**params, "base_url": u}, limits) for u in urls]
    return MultiEndpointBackend(replicas, model=model, cooldown_s=cooldown_s)


@registry.backends.register("multi")
def multi_backend(limits: EndpointLimits, model: str, base_url: Sequence[str] | str = (), **params: Any) -> MultiEndpointBackend:
    """Replicas of one model (``multi:openai:MODEL``, base_url=[...]) with document affinity."""
    if not model or ":" not in model:
        raise ValueError("multi backend: model must name the replica backend, e.g. multi:openai:MODEL")
    return build_multi(model, {**params, "base_url": base_url}, limits)
