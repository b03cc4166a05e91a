"""The engine, in stages: :func:`prepare` builds a run's parts, :func:`evaluate_sample` is the one
per-sample path, :func:`dispatch_local` orders and bounds the work, :func:`finalize` writes the
summary; :func:`run` chains them. See docs/architecture.md for the flow."""

from lara.engine.dispatch import dispatch_local
from lara.engine.options import Progress, RunOptions, RunResult
from lara.engine.prepare import Prepared, build_run_backend, prepare, tokenizer_for
from lara.engine.run import OpenRun, finalize, load_samples, open_run, run, run_async, run_prepared
from lara.engine.sample import evaluate_sample, score_output

__all__ = [
    "OpenRun", "Prepared", "Progress", "RunOptions", "RunResult", "build_run_backend", "dispatch_local",
    "evaluate_sample", "finalize", "load_samples", "open_run", "prepare", "run", "run_async", "run_prepared",
    "score_output", "tokenizer_for",
]
