"""Plan before paying: ``lara run --dry-run`` / ``lara estimate`` build every prompt, call no model.

Each runner runs for real on every sample that the run would still do (samples already in the run
folder are left out, as a rerun skips them), with the model replaced by :class:`DryRunBackend`:
it records each call's prompt and answers a placeholder that sends iterative runners down their
longest path (IterDRAG asks a follow-up every iteration; Self-Route declines and falls back to
LC), so their call counts are upper bounds from ``n``. Retrieval runs for real too, so RAG prompts
are exact (indexes and embeddings land in the caches the real run reuses).

Tokens are counted with the tokenizer of the model's price entry (``o200k`` for GPT-4o, ``cl100k``
for GPT-4; Claude and Gemini are cl100k approximations), else with the backend's own. Output
tokens cannot be known: *expected* is the length of the reference answer per call (a concise
answer), capped by ``max_tokens``; the *max* column prices every call at ``max_tokens``. Wall time
is calls x latency / connections, with the latency measured in earlier runs of the model under
the results folder when there are any, else assumed (:data:`ASSUMED_LATENCY`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from lara.pricing import FREE_BACKENDS, Price, PriceTable
from lara.protocols import REQUEST, RequestContext
from lara.types import GenerateConfig, Generation, Message

log = logging.getLogger(__name__)

#: A reply that makes iterative runners take every iteration (see the module docstring).
WORST_CASE_REPLY = "Follow up: unanswerable\nIntermediate answer: unanswerable"
#: Seconds per call when nothing was measured: fixed overhead + prefill + decode (API-like figures).
ASSUMED_LATENCY = {"base_s": 0.5, "input_tokens_per_s": 20_000.0, "output_tokens_per_s": 60.0}
_SPLIT_MIN = 4_000
_MEASURE_LINES = 2_000  # records read per earlier run to measure latency


class HeadCachingCounter:
    """Counts text with ``tokenizer``, caching the count of a long shared head (a document).

    Prompts of one document differ only after the document, so a text is split at the last
    newline-then-letter before its last ``Question:`` (:func:`lara.tokenizers_cl100k.stable_split`,
    where BPE counts add up exactly for cl100k and o200k) and the head's count is cached by hash:
    a 128k document is counted once per run, not once per question. ``encode``/``decode`` pass through.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer
        self.name = tokenizer.name
        self._heads: dict[str, int] = {}

    def encode(self, text: str) -> Sequence[int]:
        return self._tok.encode(text)  # type: ignore[no-any-return]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(ids)  # type: ignore[no-any-return]

    def count(self, text: str) -> int:
        if len(text) < 4 * _SPLIT_MIN or self.name not in ("cl100k", "o200k"):
            return int(self._tok.count(text))
        from lara.tokenizers_cl100k import stable_split

        q = text.rfind("Question")
        s = stable_split(text, q if q > 0 else len(text), _SPLIT_MIN)
        if s is None:
            return int(self._tok.count(text))
        head = text[:s]
        key = hashlib.sha1(head.encode("utf-8", "surrogatepass")).hexdigest()
        n = self._heads.get(key)
        if n is None:
            n = self._heads[key] = int(self._tok.count(head))
        return n + int(self._tok.count(text[s:]))


@dataclass
class CallLog:
    """What the dry-run model saw: one entry per call (input tokens, expected and max output)."""

    input_tokens: int = 0
    expected_output: int = 0
    max_output: int = 0
    calls: int = 0


class DryRunBackend:
    """Stands in for the run's model: same info, tokenizer and capabilities, never calls it."""

    def __init__(self, real: Any, counter: Any, expected_output: dict[str, int]) -> None:
        self.real = real
        self.info = real.info
        self.counter = counter
        self.expected_output = expected_output
        self.log = CallLog()

    def __getattr__(self, name: str) -> Any:  # supports_guided, endpoint... of the real backend
        return getattr(self.real, name)

    def count_tokens(self, text: str) -> int:
        return int(self.real.count_tokens(text))

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        n_in = sum(self.counter.count(m.content) for m in messages)
        sid = REQUEST.get().sample_id
        expected = min(config.max_tokens, self.expected_output.get(sid or "", config.max_tokens))
        self.log.calls += 1
        self.log.input_tokens += n_in
        self.log.expected_output += expected
        self.log.max_output += config.max_tokens
        return Generation(text=WORST_CASE_REPLY, input_tokens=n_in, output_tokens=expected,
                          finish_reason="stop", latency_s=0.0, model=self.info.id)

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class Estimate:
    """The plan of one run spec (one runner): what a real run would send and what it would cost."""

    label: str
    run_id: str
    runner: str
    strategy: str
    model: str
    samples: int
    to_run: int
    calls: int
    calls_upper_bound: bool
    input_tokens: int
    output_tokens_expected: int
    output_tokens_max: int
    truncated: int
    skipped: int
    errors: int
    tokenizer: str
    cost_usd: float | None
    cost_max_usd: float | None
    batch_cost_usd: float | None
    latency_s: float
    latency_source: str
    wall_s: float
    price_model: str | None = None
    error_examples: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["error_examples"] = list(self.error_examples)
        d["notes"] = list(self.notes)
        return d


@contextlib.contextmanager
def placeholder_key(spec: Any) -> Iterator[None]:
    """An API backend checks its key when built; the dry run sends nothing, so a placeholder that
    is never used lets it describe itself without one (and never outlives this block)."""
    name = str(spec.model_params.get("api_key_env") or "OPENAI_API_KEY")
    if os.environ.get(name):
        yield
        return
    os.environ[name] = "sk-lara-dry-run-placeholder-never-sent"
    try:
        yield
    finally:
        os.environ.pop(name, None)


def written_ids(run_dir: Path, retry_errors: bool) -> set[str]:
    """Sample ids a rerun would skip (read-only: a dry run repairs nothing)."""
    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return set()
    latest: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                d = json.loads(line)
                latest[str(d["sample_id"])] = d
            except (ValueError, KeyError, TypeError):
                continue
    return {sid for sid, d in latest.items()
            if d.get("skipped") != "budget" and not (retry_errors and (d.get("error") or d.get("score_status") == "error"))}


def measured_latency(output_root: Path, model: str) -> float | None:
    """Median seconds per uncached model call in earlier runs of ``model`` under ``output_root``."""
    if not output_root.is_dir():
        return None
    lat: list[float] = []
    for run_json in sorted(output_root.glob("*/run.json")):
        try:
            spec = json.loads(run_json.read_text(encoding="utf-8")).get("spec", {})
        except (OSError, ValueError):
            continue
        if spec.get("model") != model:
            continue
        samples = run_json.parent / "samples.jsonl"
        if not samples.is_file():
            continue
        with open(samples, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i >= _MEASURE_LINES:
                    break
                try:
                    steps = json.loads(line).get("steps") or []
                except ValueError:
                    continue
                lat += [float(s.get("latency_s") or 0) for s in steps
                        if s.get("kind") != "retrieve" and not s.get("cached") and s.get("latency_s")]
    return statistics.median(lat) if lat else None


def assumed_latency(input_tokens: float, output_tokens: float) -> float:
    a = ASSUMED_LATENCY
    return a["base_s"] + input_tokens / a["input_tokens_per_s"] + output_tokens / a["output_tokens_per_s"]


def _reference_tokens(samples: Sequence[Any], counter: Any) -> dict[str, int]:
    return {s.id: max([counter.count(r) for r in s.references] or [0]) for s in samples}


async def estimate_spec(spec: Any, options: Any, prices: PriceTable, label: str) -> Estimate:
    """Build every prompt of ``spec`` that a run would send now; count, price and time them."""
    from lara import registry, sharding
    from lara.backends.base import EndpointLimits
    from lara.engine.prepare import build_run_backend, tokenizer_for
    from lara.engine.run import load_samples
    from lara.params import instantiate
    from lara.protocols import RunContext, runner_strategy
    from lara.scheduling import document_key
    from lara.tokens import SkipSample, get_tokenizer

    task = instantiate("task", spec.task, registry.tasks.get(spec.task), spec.task_params)
    runner = instantiate("runner", spec.runner, registry.runners.get(spec.runner), spec.runner_params)
    limits = EndpointLimits(default=options.max_connections)
    with placeholder_key(spec):
        real = build_run_backend(spec, limits, options)
    try:
        info = real.info
        price: Price | None = None if info.backend in FREE_BACKENDS else prices.lookup(info.id)
        run_tok = HeadCachingCounter(tokenizer_for(spec, real))
        notes: list[str] = []
        if price is not None:
            counter = HeadCachingCounter(get_tokenizer(price.tokenizer))
            if price.tokenizer != "o200k" and not info.id.lower().startswith(("gpt-", "o1", "o3", "o4")):
                notes.append(f"{info.id}: token counts are {price.tokenizer} approximations (tokenizer not public)")
        else:
            counter = run_tok
        samples = sharding.select_shard(load_samples(task, spec.limit), options.shard)
        run_dir = options.output_root / sharding.shard_dir_name(spec.run_id(), options.shard)
        done = written_ids(run_dir, options.retry_errors)
        todo = [s for s in samples if s.id not in done]
        dry = DryRunBackend(real, counter, _reference_tokens(todo, counter))
        ctx = RunContext(task=task, backend=dry, generate_config=spec.generation, params=spec.runner_params,
                         tokenizer=run_tok, log_prompts=False)
        truncated = skipped = errors = 0
        examples: list[str] = []
        for sample in todo:
            token = REQUEST.set(RequestContext(sample_id=sample.id, affinity=document_key(sample)))
            try:
                out = await runner.run(sample, ctx)
                if out.skipped:
                    skipped += 1
                elif out.truncation is not None and (out.truncation.dropped_tokens or 0) > 0:
                    truncated += 1
            except SkipSample:
                skipped += 1
            except Exception as exc:  # noqa: BLE001 - a sample the run would record as an error
                errors += 1
                if len(examples) < 3:
                    examples.append(f"{sample.id}: {type(exc).__name__}: {exc}")
            finally:
                REQUEST.reset(token)
    finally:
        close = getattr(real, "aclose", None)
        if callable(close):
            await close()
    calls_log = dry.log
    measured = measured_latency(options.output_root, spec.model)
    source = "measured"
    if info.backend in ("mock", "mockllm"):
        measured, source = float(spec.model_params.get("latency_s") or 0.0), "-M latency_s"
    if measured is not None:
        latency = measured
    else:
        per = max(1, calls_log.calls)
        latency = assumed_latency(calls_log.input_tokens / per, calls_log.expected_output / per)
        source = "assumed"
    wall = calls_log.calls * latency / max(1, options.max_connections)
    cost = cost_max = batch = None
    if info.backend in FREE_BACKENDS:
        cost = cost_max = batch = 0.0
    elif price is not None:
        cost = price.cost(calls_log.input_tokens, calls_log.expected_output)
        cost_max = price.cost(calls_log.input_tokens, calls_log.max_output)
        batch = price.cost(calls_log.input_tokens, calls_log.expected_output, batch=True)
    else:
        notes.append(f"no price for {info.id!r} in the price table (add it with --price-table FILE)")
    strategy = runner_strategy(runner)
    return Estimate(
        label=label, run_id=spec.run_id(), runner=spec.runner_preset or spec.runner, strategy=strategy,
        model=spec.model, samples=len(samples), to_run=len(todo), calls=calls_log.calls,
        calls_upper_bound=strategy in ("iterative_rag", "self_route"),
        input_tokens=calls_log.input_tokens, output_tokens_expected=calls_log.expected_output,
        output_tokens_max=calls_log.max_output, truncated=truncated, skipped=skipped, errors=errors,
        tokenizer=counter.name, cost_usd=cost, cost_max_usd=cost_max, batch_cost_usd=batch,
        latency_s=latency, latency_source=source, wall_s=wall, price_model=price.model if price else None,
        error_examples=tuple(examples), notes=tuple(notes),
    )


async def estimate_specs(specs: Sequence[Any], options: Any, prices: PriceTable, labels: Sequence[str]) -> list[Estimate]:
    return [await estimate_spec(s, options, prices, label) for s, label in zip(specs, labels)]


def estimate(specs: Sequence[Any], options: Any, prices: PriceTable, labels: Sequence[str] | None = None) -> list[Estimate]:
    """Synchronous :func:`estimate_specs` for scripts (labels default to the run ids)."""
    return asyncio.run(estimate_specs(specs, options, prices, labels or [s.run_id() for s in specs]))


# -- rendering -------------------------------------------------------------------------------------

def _money(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:,.2f}" if x >= 0.1 or x == 0 else f"${x:,.4f}"


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


HEADER = ("run", "samples", "model calls", "input tokens", "output tokens (expected / max)", "truncated",
          "skipped", "errors", "tokenizer", "cost", "cost at max output", "batch cost", "wall time")


def table_rows(estimates: Sequence[Estimate]) -> list[list[str]]:
    rows = []
    for e in estimates:
        samples = f"{e.to_run}" if e.to_run == e.samples else f"{e.to_run} of {e.samples}"
        rows.append([
            e.label, samples, ("≤ " if e.calls_upper_bound else "") + f"{e.calls:,}", f"{e.input_tokens:,}",
            f"{e.output_tokens_expected:,} / {e.output_tokens_max:,}", str(e.truncated), str(e.skipped), str(e.errors),
            e.tokenizer, _money(e.cost_usd), _money(e.cost_max_usd), _money(e.batch_cost_usd),
            f"{_duration(e.wall_s)} · {e.latency_s:.2f} s/call {e.latency_source}",
        ])
    if len(estimates) > 1:
        def total(attr: str) -> float | None:
            vals = [getattr(e, attr) for e in estimates]
            return None if any(v is None for v in vals) else sum(vals)

        rows.append(["total", str(sum(e.to_run for e in estimates)), f"{sum(e.calls for e in estimates):,}",
                     f"{sum(e.input_tokens for e in estimates):,}",
                     f"{sum(e.output_tokens_expected for e in estimates):,} / {sum(e.output_tokens_max for e in estimates):,}",
                     str(sum(e.truncated for e in estimates)), str(sum(e.skipped for e in estimates)),
                     str(sum(e.errors for e in estimates)), "", _money(total("cost_usd")), _money(total("cost_max_usd")),
                     _money(total("batch_cost_usd")), _duration(sum(e.wall_s for e in estimates))])
    return rows


def footer_lines(estimates: Sequence[Estimate], prices: PriceTable, connections: int) -> list[str]:
    lines = [f"dry run: no model was called; prices from {prices.source} (dated {prices.date or 'undated'}); "
             f"wall time at {connections} connections per endpoint"]
    if any(e.calls_upper_bound for e in estimates):
        lines.append("≤: iterative runners counted on their longest path (every follow-up taken): an upper bound")
    lines.append("expected output = reference-answer length per call (capped by max_tokens); max = max_tokens per call")
    for e in estimates:
        lines += [f"{e.label}: {n}" for n in e.notes]
        lines += [f"{e.label}: would fail: {x}" for x in e.error_examples]
    return list(dict.fromkeys(lines))
