"""The knobs of a run that never change an output (so they are not in the spec hash)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

from lara.backends.retry import RetryPolicy
from lara.errors import ConfigError
from lara.scheduling import OrderPolicy

EXECUTORS = ("local", "ray", "ray-data")


class Progress(Protocol):
    """What the engine reports progress to (the CLI's rich bar; tests may pass their own)."""

    def start(self, total: int, already_done: int) -> None: ...

    def update(self, record: Any) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """How to run a spec: where results go, how many connections, cache, ordering, retries.

    ``order`` None picks the runner's default (warm-first prefix order for runners that read whole
    documents); ``prefix_cache_tokens`` is the server's KV cache size the warm-first order plans
    with (``auto``: asked from the server, else a stated default; 0 or None: unbounded);
    ``shard=(i, N)`` runs one shard into its own folder; ``executor`` is ``local``, ``ray`` or
    ``ray-data`` (``ray_*`` fields configure them, see lara.executors); ``retry_errors`` re-runs the
    samples whose latest record is an error (the file keeps the history); ``budget``
    stops dispatching at a spending cap (:mod:`lara.engine.budget`).
    """

    output_root: Path = Path("results")
    max_connections: int = 8
    use_cache: bool = True
    cache_path: Path | None = None
    log_prompts: bool = False
    shard: tuple[int, int] | None = None
    order: OrderPolicy | None = None
    executor: str = "local"
    prefix_cache_tokens: int | str | None = "auto"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    retry_errors: bool = False  # re-run samples whose latest record is an error (appends an attempt)
    budget: Any = None  # lara.engine.budget.Budget: --max-cost / --max-input-tokens (shared by a command's runs)
    ray_address: str | None = None  # "auto" (a running cluster, else a local Ray) or ray://host:port
    ray_actors: int = 2
    ray_actor_resources: Mapping[str, float] = field(default_factory=dict)  # e.g. {"num_gpus": 1}

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_root", Path(self.output_root))
        if self.max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {self.max_connections}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; valid: {', '.join(EXECUTORS)}")
        if not (self.prefix_cache_tokens in (None, "auto") or
                isinstance(self.prefix_cache_tokens, int) and self.prefix_cache_tokens >= 0):
            raise ConfigError(f"prefix_cache_tokens must be 'auto', 0 (no bound) or a positive token count, "
                              f"got {self.prefix_cache_tokens!r}")
        if self.ray_actors < 1:
            raise ConfigError(f"ray_actors must be >= 1, got {self.ray_actors}")
        if self.budget is not None and self.executor != "local":
            raise ConfigError("--max-cost / --max-input-tokens work with the local executor only")
        if self.shard is not None:
            from lara.sharding import parse_shard

            object.__setattr__(self, "shard", parse_shard(self.shard))

    @classmethod
    def from_kwargs(cls, base: "RunOptions | None" = None, **kwargs: Any) -> "RunOptions":
        """``base`` with ``kwargs`` applied; unknown names are a ConfigError listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(kwargs) - names
        if unknown:
            raise ConfigError(f"unknown run option(s) {sorted(unknown)}; valid: {', '.join(sorted(names))}")
        return dataclasses.replace(base or cls(), **kwargs)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: Mapping[str, Any]
    records_written: int
