"""``prepare(spec, options)``: every part of a run built and checked before anything touches disk.

Task, runner, backend stack (``CachedBackend(RetryingBackend(backend))``), scorer and tokenizer are
built here, so a typo in a parameter, a missing model package or a missing data folder fails with
one error line and leaves no run folder behind. Everything that must be closed (HTTP sessions,
model threads, the response cache) is registered on one ``AsyncExitStack``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from lara import registry
from lara.backends.base import EndpointLimits, build_backend, parse_model
from lara.cache import CachedBackend, ResponseCache
from lara.config import RunSpec
from lara.engine.options import RunOptions
from lara.errors import ConfigError
from lara.params import instantiate
from lara.protocols import Closeable, HasTokenizer, RunContext, runner_strategy
from lara.scheduling import OrderPolicy, policy_for
from lara.tokens import get_tokenizer
from lara.types import to_dict

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A run ready to evaluate samples: its parts, identity and the stack that closes them."""

    spec: RunSpec
    options: RunOptions
    task: Any
    runner: Any
    backend: Any  # the model with retries (its ``info`` and tokenizer describe the model)
    model_backend: Any  # what runners call: the backend behind the response cache
    cache: ResponseCache | None
    scorer: Any
    scorer_name: str
    tokenizer: Any
    ctx: RunContext
    limits: EndpointLimits
    order: OrderPolicy
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def strategy(self) -> str:
        return runner_strategy(self.runner)

    @property
    def task_label(self) -> str:
        return self.spec.task_preset or self.spec.task

    @property
    def runner_label(self) -> str:
        return self.spec.runner_preset or self.spec.runner

    @functools.cached_property
    def generation(self) -> dict[str, Any]:
        return to_dict(self.spec.generation)  # type: ignore[no-any-return]

    @functools.cached_property
    def run_id(self) -> str:
        return self.spec.run_id()

    @functools.cached_property
    def spec_hash(self) -> str:
        return self.spec.spec_hash()

    def counters(self) -> dict[str, int]:
        """Model calls and cache hits so far (also counted with --no-cache: calls are calls)."""
        mb = self.model_backend
        if isinstance(mb, CachedBackend):
            return {"model_calls": mb.calls, "cache_hits": mb.hits}
        return {"model_calls": int(getattr(mb, "calls_made", 0)), "cache_hits": 0}

    async def aclose(self) -> None:
        await self.stack.aclose()


class CountingBackend:
    """Counts calls when there is no cache in front (``--no-cache`` still reports calls made)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.info = inner.info
        self.calls_made = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    async def generate(self, messages: Any, config: Any) -> Any:
        self.calls_made += 1
        return await self.inner.generate(messages, config)


def tokenizer_for(spec: RunSpec, backend: Any) -> Any:
    """The runner's ``tokenizer`` param, else the backend's own, else cl100k (words if unavailable)."""
    name = spec.runner_params.get("tokenizer")
    if name:
        return get_tokenizer(name)
    if isinstance(backend, HasTokenizer) or hasattr(backend, "tokenizer"):
        tok = backend.tokenizer
        if tok is not None:
            return tok
    try:
        return get_tokenizer("cl100k")
    except Exception:  # noqa: BLE001 - cl100k files unavailable: degrade to an approximation
        log.warning("cl100k tokenizer unavailable; counting tokens with the 'words' approximation")
        return get_tokenizer("words")


def build_run_backend(spec: RunSpec, limits: EndpointLimits, options: RunOptions) -> Any:
    """The spec's model with the run's retry policy (a list ``base_url`` becomes replicas)."""
    from lara.params import declared_params

    params = dict(spec.model_params)
    factory = registry.backends.get(parse_model(spec.model)[0])
    declared, _ = declared_params(factory)
    if "max_connections" in declared:
        params.setdefault("max_connections", options.max_connections)
    return build_backend(spec.model, params, limits, retry=options.retry)


def _build_scorer(spec: RunSpec, task: Any, limits: EndpointLimits) -> tuple[Any, str]:
    name = spec.scorer or task.default_scorer
    factory = registry.scorers.get(name)
    params = dict(spec.scorer_params)
    if _takes(factory, "limits"):  # judge scorers share the run's per-endpoint limits
        params.setdefault("limits", limits)
    return instantiate("scorer", name, factory, params), name


def _takes(factory: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def prepare(spec: RunSpec, options: RunOptions | None = None, *, backend: Any = None,
            limits: EndpointLimits | None = None) -> Prepared:
    """Build every part of the run; raises a :class:`~lara.errors.LaraError` before touching disk.

    ``backend`` (optional) is a ready model the caller owns (not closed here); ``limits`` shares
    per-endpoint connection limits with other runs of the same process (e.g. a sweep).
    """
    options = options or RunOptions()
    task = instantiate("task", spec.task, registry.tasks.get(spec.task), spec.task_params)
    runner = instantiate("runner", spec.runner, registry.runners.get(spec.runner), spec.runner_params)
    limits = limits or EndpointLimits(default=options.max_connections)
    stack = contextlib.AsyncExitStack()
    owned = backend is None
    try:
        if backend is None:
            backend = build_run_backend(spec, limits, options)
        tokenizer = tokenizer_for(spec, backend)  # a local model's tokenizer loads here: fail before disk
    except ImportError as exc:
        raise ConfigError(f"model {spec.model!r} needs a package that is not installed: {exc}") from exc
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"model {spec.model!r}: {exc}") from exc
    if owned and isinstance(backend, Closeable):
        stack.push_async_callback(backend.aclose)
    cache = None
    if options.use_cache:
        cache = ResponseCache(options.cache_path)
        stack.callback(cache.close)
        model_backend: Any = CachedBackend(backend, cache)
    else:
        model_backend = CountingBackend(backend)
    scorer, scorer_name = _build_scorer(spec, task, limits)
    if isinstance(scorer, Closeable):
        stack.push_async_callback(scorer.aclose)
    order = options.order or policy_for(type(runner), options.prefix_cache_tokens, backend, spec.generation.max_tokens)
    ctx = RunContext(task=task, backend=model_backend, generate_config=spec.generation,
                     params=spec.runner_params, tokenizer=tokenizer, log_prompts=options.log_prompts)
    return Prepared(spec=spec, options=options, task=task, runner=runner, backend=backend,
                    model_backend=model_backend, cache=cache, scorer=scorer, scorer_name=scorer_name,
                    tokenizer=tokenizer, ctx=ctx, limits=limits, order=order, stack=stack)
