"""Where the per-sample work runs: in the engine's event loop (default), on Ray actors
(``ray_executor``: the engine's own code per actor, documents shipped through the object store), or
as Ray Data batch inference with a vLLM engine (``ray_data``: the batch rounds of
:mod:`lara.engine.deferred`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence


async def execute(prepared: Any, todo: Sequence[Any], write: Callable[[Any], None], *,
                  attempts: dict[str, int] | None = None, run_dir: Path | None = None) -> dict[str, Any]:
    """Run ``todo`` on the executor the run's options name; returns the summed call counters."""
    executor = prepared.options.executor
    if executor == "ray":
        from lara.executors.ray_executor import run_on_ray

        return await run_on_ray(prepared, todo, write, attempts=attempts)
    if executor == "ray-data":
        from lara.executors.ray_data import run_on_ray_data

        return await run_on_ray_data(prepared, todo, write, attempts=attempts, run_dir=run_dir)
    raise ValueError(f"unknown executor {executor!r}")
