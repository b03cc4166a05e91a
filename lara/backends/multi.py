"""Several replicas of one model behind one backend: document affinity and failover.

Each request goes to the replica ranked first by rendezvous hashing of its affinity key (the
document key the engine puts in :data:`lara.scheduling.AFFINITY`; without one, a hash of the first
``AFFINITY_CHARS`` characters of the prompt), so every question about one document hits the replica
that already holds that document's prefix cache, and losing a replica only moves the documents it
owned. A replica whose request fails with a connection error, timeout or 5xx is marked down for
``cooldown_s`` and the request is retried on the next replica in the ranking: requests in flight on
a replica that dies are not lost. Each replica keeps its own per-endpoint concurrency limit.

Use: ``--model openai:MODEL --base-url URL1 --base-url URL2`` (``base_url`` given as a list), or the
explicit model string ``multi:openai:MODEL`` with ``base_url=[...]``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

from lara import registry
from lara.backends.base import BackendError, EndpointLimits, build_backend
from lara.scheduling import AFFINITY, stable_hash
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

AFFINITY_CHARS = 2048
FAILOVER_KINDS = {"connection", "timeout", "server_error", "rate_limit"}


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
        max_failovers: int | None = None,
        cooldown_s: float = 5.0,
    ) -> None:
        if not replicas:
            raise ValueError("multi backend needs at least one replica")
        self.replicas = list(replicas)
        self.max_failovers = max(1, len(self.replicas) * 2) if max_failovers is None else max_failovers
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
        key = AFFINITY.get() or prompt_affinity(messages)
        failovers = 0
        last: BackendError | None = None
        while True:
            i = self.order_for(key)[0]
            try:
                gen = await self.replicas[i].generate(messages, config)
            except BackendError as exc:
                if exc.kind not in FAILOVER_KINDS:
                    raise
                last = exc
                self._down_until[i] = time.monotonic() + self.cooldown_s
                failovers += 1
                self.failovers += 1
                if failovers > self.max_failovers:
                    raise BackendError(
                        f"all replicas failed ({failovers} attempts): {last}",
                        retries=failovers + exc.retries, kind=exc.kind,
                    ) from exc
                log.warning("replica %s failed (%s); failing over", self.replicas[i].info.endpoint, exc.kind)
                continue
            self._down_until[i] = 0.0
            self.served[i] += 1
            return gen

    async def aclose(self) -> None:
        for r in self.replicas:
            close = getattr(r, "aclose", None)
            if close is not None:
                await close()


def build_multi(model: str, params: Mapping[str, Any], limits: EndpointLimits) -> MultiEndpointBackend:
    """One replica backend per ``base_url`` in the list (other params shared), wrapped.

    Replicas retry at most ``replica_retries`` times themselves (default 1) so that a dead replica
    is abandoned quickly; the wrapper then fails over to the next replica.
    """
    params = dict(params)
    urls = params.pop("base_url", None)
    if isinstance(urls, str):
        urls = [u for u in urls.split(",") if u.strip()]
    if not urls:
        raise ValueError("multi backend: base_url must list at least one endpoint")
    cooldown_s = float(params.pop("cooldown_s", 5.0))
    max_failovers = params.pop("max_failovers", None)
    replica_retries = params.pop("replica_retries", 1)
    params.setdefault("max_retries", replica_retries)
    params["max_retries"] = min(int(params["max_retries"]), int(replica_retries))
    replicas = [build_backend(model, {**params, "base_url": u}, limits) for u in urls]
    return MultiEndpointBackend(replicas, model=model, max_failovers=max_failovers, cooldown_s=cooldown_s)


@registry.backends.register("multi")
def multi_backend(limits: EndpointLimits, model: str, base_url: Sequence[str] | str = (), **params: Any) -> MultiEndpointBackend:
    """Replicas of one model (``multi:openai:MODEL``, base_url=[...]) with document affinity."""
    if not model or ":" not in model:
        raise ValueError("multi backend: model must name the replica backend, e.g. multi:openai:MODEL")
    return build_multi(model, {**params, "base_url": base_url}, limits)
