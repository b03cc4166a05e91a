"""Inference-scaling sweeps: expand a (runner, k, m, n) grid, price it, prune, run, pick P*(L_max).

Why price first: a configuration that cannot fit the largest budget for some sample would waste
model calls (and then be excluded anyway), so every configuration's effective context length is
estimated per sample from token counts of its documents and demonstrations (lara.runners.budget)
and configurations whose per-sample maximum exceeds the largest budget are pruned before any model
is called. Each surviving configuration is one engine run (run id carries ``<runner>-k-m-n``) with
the largest budget enforced by the runner, and all of them feed one dispatcher sharing the
endpoint's connections (one configuration's last slow samples overlap the next one's first); the
engine's resume and response cache make a repeated sweep free. A configuration counts for budget L when its *measured* per-sample maximum effective
length is <= L (the paper's P*(L_max) = max over such configurations).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

SWEEP_RUNNERS = ("drag", "iterdrag")
MANIFEST = "sweep.json"


@dataclass(frozen=True, order=True)
class Config:
    runner: str
    k: int
    m: int
    n: int = 1

    @property
    def label(self) -> str:
        return f"{self.runner}-k{self.k}-m{self.m}-n{self.n}"


def parse_ints(text: str) -> list[int]:
    """'0,1,2,5' or '1..3' or '1..3,8' -> sorted unique ints."""
    out: set[int] = set()
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        if ".." in part:
            lo, hi = part.split("..", 1)
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    if not out or min(out) < 0:
        raise ValueError(f"expected non-negative integers like '0,1,2' or '1..3', got {text!r}")
    return sorted(out)


def expand(runners: Sequence[str], ks: Iterable[int], ms: Iterable[int], ns: Iterable[int]) -> list[Config]:
    """The grid; DRAG makes one call, so its n is 1 whatever ``ns`` says."""
    bad = [r for r in runners if r not in SWEEP_RUNNERS]
    if bad:
        raise ValueError(f"sweep runners must be among {', '.join(SWEEP_RUNNERS)}; got {bad}")
    out: set[Config] = set()
    for r in runners:
        for k in ks:
            for m in ms:
                for n in (ns if r == "iterdrag" else [1]):
                    out.add(Config(r, int(k), int(m), int(n)))
    return sorted(out)


@dataclass(frozen=True)
class Estimate:
    config: Config
    max_tokens: int
    mean_tokens: float
    fits: tuple[int, ...]  # budgets whose every sample fits by the estimate
    available: tuple[int, int] = (0, 0)  # most documents / demonstrations any sample can get

    @property
    def saturated(self) -> bool:
        """k or m beyond what any sample can get: a duplicate of a smaller configuration."""
        c = self.config
        return (c.k > self.available[0] and c.k > 0) or (c.m > self.available[1] and c.m > 0)


async def estimate_async(task: Any, samples: Sequence[Any], configs: Sequence[Config],
                         runner_params: Mapping[str, Any], budgets: Sequence[int]) -> list[Estimate]:
    """Per-sample estimates from one retrieval of the largest k and m per runner, no model calls."""
    from lara import registry
    from lara.protocols import RunContext
    from lara.runners import budget as B
    from lara.types import GenerateConfig

    services: dict[str, Any] = {}
    per: dict[Config, list[int]] = {c: [] for c in configs}
    avail: dict[str, tuple[int, int]] = {}
    for rname in sorted({c.runner for c in configs}):
        mine = [c for c in configs if c.runner == rname]
        max_k, max_m = max(c.k for c in mine), max(c.m for c in mine)
        params = {k: v for k, v in runner_params.items() if k not in ("k", "m", "n", "budget")}
        runner: Any = registry.runners.get(rname)(**{**params, "k": max_k, "m": max_m})
        ctx = RunContext(task=task, backend=None, generate_config=GenerateConfig(), params=params,  # type: ignore[arg-type]
                         tokenizer=runner.tokenizer(), services=services)
        out_tok = int(getattr(runner, "output_tokens_estimate", 32))
        for s in samples:
            pieces = await runner.estimate_pieces(ctx, s, max_k, max_m)
            a = avail.get(rname, (0, 0))
            avail[rname] = (max(a[0], pieces.available()[0]), max(a[1], pieces.available()[1]))
            for c in mine:
                per[c].append(B.estimate(rname, pieces, c.k, c.m, c.n, output_tokens=out_tok))
    result = []
    for c in configs:
        vals = per[c] or [0]
        top = max(vals)
        result.append(Estimate(c, top, sum(vals) / len(vals), tuple(b for b in sorted(budgets) if top <= b),
                               avail.get(c.runner, (0, 0))))
    return result


def estimate(task: Any, samples: Sequence[Any], configs: Sequence[Config], runner_params: Mapping[str, Any],
             budgets: Sequence[int]) -> list[Estimate]:
    return asyncio.run(estimate_async(task, samples, configs, runner_params, budgets))


@dataclass(frozen=True)
class SweepRun:
    config: Config
    run_dir: Path
    model_calls: int
    cache_hits: int
    records: int


@dataclass(frozen=True)
class SweepResult:
    estimates: list[Estimate]
    pruned: list[Estimate]
    runs: list[SweepRun]
    manifest: Path


def run_sweep(
    *, task: str, runners: Sequence[str], ks: Sequence[int], ms: Sequence[int], ns: Sequence[int],
    budgets: Sequence[int], model: str, task_params: Mapping[str, Any] | None = None,
    runner_params: Mapping[str, Any] | None = None, model_params: Mapping[str, Any] | None = None,
    generation: Mapping[str, Any] | None = None, limit: int | None = None, output_root: Path | str = "results",
    max_connections: int = 8, use_cache: bool = True,
    on_config: Callable[[str, Config, int, int], None] | None = None,
) -> SweepResult:
    """Estimate, prune, then run every surviving configuration (one run folder each) through one
    dispatcher that shares the endpoint's connections (:func:`run_configs`)."""
    from lara import registry
    from lara.config import resolve_spec
    from lara.engine import load_samples
    from lara.results.store import write_json_atomic

    if not budgets:
        raise ValueError("give at least one budget")
    configs = expand(runners, ks, ms, ns)
    probe = resolve_spec(task, runners[0], model, task_params=task_params, limit=limit)
    task_obj = registry.tasks.get(probe.task)(**probe.task_params)
    samples = load_samples(task_obj, limit)
    rp = {"tokenizer": "cl100k", **dict(runner_params or {})}
    estimates = estimate(task_obj, samples, configs, rp, budgets)
    top = max(budgets)
    kept = [e for e in estimates if e.fits]
    pruned = [e for e in estimates if not e.fits]
    for e in pruned:
        log.info("pruned %s: estimated %d tokens > largest budget %d", e.config.label, e.max_tokens, top)
    bases = {r: resolve_spec(task, r, model, task_params=task_params, runner_params=rp, model_params=model_params,
                             generation=generation, limit=limit) for r in sorted({e.config.runner for e in kept})}
    # longest first (most calls per sample, then most tokens): the last runs' chains are then the
    # short ones, and the connections idle less while the sweep drains
    kept = sorted(kept, key=lambda e: (-e.config.n, -e.mean_tokens, e.config))
    specs = []
    for e in kept:
        c = e.config
        params = {"k": c.k, "m": c.m, "budget": top, **({"n": c.n} if c.runner == "iterdrag" else {})}
        base = bases[c.runner]  # presets parsed once per runner; the overrides win as in resolve_spec
        specs.append(dataclasses.replace(base, runner_params={**base.runner_params, **params}, runner_preset=c.label))
    runs = asyncio.run(run_configs([e.config for e in kept], specs, samples, output_root=Path(output_root),
                                   max_connections=max_connections, use_cache=use_cache, on_config=on_config))
    manifest = Path(output_root) / MANIFEST
    Path(output_root).mkdir(parents=True, exist_ok=True)
    write_json_atomic(manifest, {
        "task": task, "task_params": dict(task_params or {}), "model": model, "limit": limit,
        "budgets": sorted(budgets), "runner_params": rp,
        "estimates": [{"config": e.config.label, "max_tokens": e.max_tokens,
                       "mean_tokens": round(e.mean_tokens, 1), "fits": list(e.fits)} for e in estimates],
        "pruned": [e.config.label for e in pruned],
        "runs": [{"config": r.config.label, "run_dir": str(r.run_dir), "model_calls": r.model_calls,
                  "cache_hits": r.cache_hits} for r in runs],
    })
    return SweepResult(estimates, pruned, runs, manifest)


async def run_configs(configs: Sequence[Config], specs: Sequence[Any], samples: Sequence[Any], *,
                      output_root: Path, max_connections: int, use_cache: bool,
                      on_config: Callable[[str, Config, int, int], None] | None = None) -> list[SweepRun]:
    """Every configuration's samples through one dispatcher (:func:`lara.engine.multi.dispatch_many`):
    one backend and its connection limit for all, one retrieval-service store (indexes and
    demonstration pools are keyed by what they depend on), each configuration's records to its own
    run folder with the engine's resume and response cache (a rerun goes through both)."""
    from lara.backends.base import EndpointLimits
    from lara.engine import RunOptions, build_run_backend, prepare
    from lara.engine.multi import Coalescing, Work, dispatch_many
    from lara.engine.run import open_run

    if not specs:
        return []
    options = RunOptions(output_root=output_root, max_connections=max_connections, use_cache=use_cache)
    limits = EndpointLimits(default=max_connections)
    backend = build_run_backend(specs[0], limits, options)
    services: dict[str, Any] = {}
    shared = Coalescing()
    prepared = []
    try:
        for i, spec in enumerate(specs):
            p = prepare(spec, options, backend=backend, limits=limits)
            p.ctx.services = services
            p.ctx.backend = shared.wrap(i, p.model_backend)
            prepared.append(p)
        opened = [open_run(p, samples) for p in prepared]
        left = [len(o.todo) for o in opened]
        finished: list[int] = []

        def done(i: int) -> None:
            left[i] -= 1
            if left[i] == 0:
                finished.append(i)
                if on_config:
                    on_config("done", configs[i], len(finished), len(configs))

        if on_config:
            on_config("start", configs[0], 0, len(configs))
        try:
            await dispatch_many([Work(p, o.todo, o.writer.write, o.attempts) for p, o in zip(prepared, opened)],
                                on_done=done)
        finally:
            results = []
            for i, (p, o) in enumerate(zip(prepared, opened)):
                counts = p.counters()
                counts["cache_hits"] += shared.reused.get(i, 0)
                results.append(o.close(counts))
        return [SweepRun(c, r.run_dir, int(r.summary.get("model_calls_this_invocation", 0) or 0),
                         int(r.summary.get("cache_hits_this_invocation", 0) or 0), r.records_written)
                for c, r in zip(configs, results)]
    finally:
        for p in prepared:
            await p.aclose()
        close = getattr(backend, "aclose", None)
        if close is not None:
            await close()


# -- reading results back ----------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigResult:
    """One configuration's outcome on one task/model: mean primary score over ok samples."""

    task: str
    model: str
    config: Config
    run_id: str
    n: int
    scored: int
    mean: float | None
    max_effective: int
    mean_effective: float
    skipped: int
    errors: int


def config_of(record: Mapping[str, Any]) -> Config | None:
    if record.get("runner") not in SWEEP_RUNNERS:
        return None
    p = record.get("runner_params") or {}
    return Config(str(record["runner"]), int(p.get("k", 0)), int(p.get("m", 0)),
                  int(p.get("n", 1)) if record["runner"] == "iterdrag" else 1)


def collect(records: Iterable[Mapping[str, Any]]) -> list[ConfigResult]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        c = config_of(r)
        if c is None:
            continue
        g = groups.setdefault((str(r["task"]), str(r["model"]), str(r["run_id"])),
                              {"c": c, "vals": [], "eff": [], "n": 0, "skipped": 0, "errors": 0})
        g["n"] += 1
        if r.get("error"):
            g["errors"] += 1
        elif r.get("skipped"):
            g["skipped"] += 1
        else:
            g["eff"].append(int(r.get("effective_context_tokens") or 0))
            if r.get("score_status") == "ok" and r.get("score") is not None:
                g["vals"].append(float(r["score"]))
    out = []
    for (task, model, run_id), g in sorted(groups.items()):
        vals, eff = g["vals"], g["eff"]
        out.append(ConfigResult(task, model, g["c"], run_id, g["n"], len(vals),
                                sum(vals) / len(vals) if vals else None, max(eff) if eff else 0,
                                sum(eff) / len(eff) if eff else 0.0, g["skipped"], g["errors"]))
    return out


@dataclass(frozen=True)
class BudgetBest:
    task: str
    model: str
    budget: int
    best: ConfigResult | None
    candidates: int


def best_per_budget(results: Sequence[ConfigResult], budgets: Sequence[int]) -> list[BudgetBest]:
    """P*(L_max): per task/model and budget, the best mean among configurations whose measured
    per-sample maximum effective length fits (ties -> fewer mean tokens). Configurations with
    skipped samples do not satisfy the budget for every sample and are left out."""
    out = []
    for task, model in sorted({(r.task, r.model) for r in results}):
        mine = [r for r in results if (r.task, r.model) == (task, model) and r.mean is not None and r.skipped == 0]
        for b in sorted(budgets):
            fit = [r for r in mine if r.max_effective <= b]
            best = max(fit, key=lambda r: (r.mean, -r.mean_effective)) if fit else None
            out.append(BudgetBest(task, model, b, best, len(fit)))
    return out


def read_budgets(root: Path | str) -> list[int]:
    """Budgets of the sweep manifest in ``root`` (empty when there is none)."""
    import json

    p = Path(root) / MANIFEST
    return list(json.loads(p.read_text(encoding="utf-8")).get("budgets", [])) if p.exists() else []


def fmt_tokens(n: float) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{int(n // 1_000_000)}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{int(n // 1000)}k"
    return f"{int(n)}" if math.isfinite(n) else "-"
