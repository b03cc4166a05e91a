"""What every backend shares: typed errors, per-endpoint concurrency limits, model-string parsing.

A model string is ``<backend>[:<model id>]``: ``local``, ``openai:gpt-4o-mini``,
``replay:/path/to/predictions``. The part after the first colon becomes the backend's ``model``
argument. One :class:`EndpointLimits` object is shared by every backend of a session, so the
evaluated model and a judge that hit the same server share one connection limit.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from lara import registry
from lara.errors import BackendError  # noqa: F401 - re-exported: backends raise it from here


class EndpointLimits:
    """One semaphore per endpoint key; created lazily inside the running event loop."""

    def __init__(self, default: int = 8) -> None:
        self.default = default
        self._limits: dict[str, int] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}

    def set(self, endpoint: str, limit: int) -> None:
        self._limits[endpoint] = limit

    def is_set(self, endpoint: str) -> bool:
        return endpoint in self._limits

    def limit(self, endpoint: str) -> int:
        return self._limits.get(endpoint, self.default)

    def semaphore(self, endpoint: str) -> asyncio.Semaphore:
        """The endpoint's semaphore for the running loop (a semaphore is bound to one loop)."""
        try:
            loop_id = id(asyncio.get_running_loop())
        except RuntimeError:
            loop_id = 0
        key = f"{loop_id}:{endpoint}"
        sem = self._sems.get(key)
        if sem is None:
            sem = self._sems[key] = asyncio.Semaphore(self.limit(endpoint))
        return sem


def parse_model(model: str) -> tuple[str, str | None]:
    backend, sep, rest = model.partition(":")
    return backend, (rest if sep else None)


def build_raw_backend(
    model: str, params: Mapping[str, Any] | None = None, limits: EndpointLimits | None = None
) -> Any:
    """The backend named by ``model`` with ``params``: one attempt per call, no retries, no cache."""
    name, model_id = parse_model(model)
    factory = registry.backends.get(name)
    kwargs = dict(params or {})
    if model_id is not None:
        kwargs["model"] = model_id
    return factory(limits=limits or EndpointLimits(), **kwargs)


def build_backend(
    model: str,
    params: Mapping[str, Any] | None = None,
    limits: EndpointLimits | None = None,
    retry: Any = None,
) -> Any:
    """A backend ready to use: the raw backend wrapped in the one retry policy.

    Retry settings given among ``params`` (``max_retries``, ``backoff_base_s``, ``max_backoff_s``,
    ``max_retry_after_s``, ``deadline_s``) override ``retry`` (a ``RetryPolicy``). A list
    ``base_url`` builds replicas behind one backend (lara.backends.multi: affinity + failover).
    """
    from lara.backends.retry import RETRY_PARAM_NAMES, RetryingBackend, RetryPolicy

    raw_params = dict(params or {})
    policy = RetryPolicy.from_params(raw_params, retry)
    for key in RETRY_PARAM_NAMES:
        raw_params.pop(key, None)
    if isinstance(raw_params.get("base_url"), (list, tuple)):
        from lara.backends.multi import build_multi

        inner = build_multi(model, raw_params, limits or EndpointLimits())
    else:
        inner = build_raw_backend(model, raw_params, limits)
    return RetryingBackend(inner, policy)
