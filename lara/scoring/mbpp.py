"""MBPP functional correctness: the answer's code, then setup code and tests, in the sandbox.

A pass means every test statement ran and held, not exit status 0: the sandbox appends the tests
and a per-run nonce the answer cannot know (``lara.sandbox.verdict``), so ``os._exit(0)``,
``sys.exit`` before the asserts or exit hooks score 0. ``details.reason`` (also ``details.status``)
is one of passed, exit_before_tests, assertion, timeout, error, or no_code (a missing or empty code
block: a scored failure, not a crash); a sandbox that cannot run is a Score with status "error".
When the runner produced n samples (``output.extra["samples"]``), pass@k uses the unbiased
estimator of Chen et al. 2021. Executions are bounded by the number of cores.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any, Sequence

from lara.registry import scorers
from lara.sandbox.verdict import top_level_names
from lara.types import RunOutput, Sample, Score

_BEGIN_RE = re.compile(r"\[BEGIN\]\s*\n?(.*?)(?:\[DONE\]|$)", re.S)
_FENCE_RE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.S)


def extract_code(answer: str) -> str:
    """Code from ``[BEGIN]…[DONE]``, else the first fenced block, else text before ``[DONE]``."""
    m = _BEGIN_RE.search(answer)
    if m:
        return _strip_fences(m.group(1)) if m.group(1).strip() else ""
    m = _FENCE_RE.search(answer)
    if m and m.group(1).strip():
        return m.group(1).strip("\n")
    if "[DONE]" in answer:
        return _strip_fences(answer.split("[DONE]", 1)[0])
    return ""


def _strip_fences(code: str) -> str:
    m = _FENCE_RE.search(code)
    return (m.group(1) if m else code).strip("\n")


def build_program(code: str, setup: str, tests: Sequence[str]) -> str:
    """One plain program (code, setup, tests) for ``Sandbox.run``: exit status only, no proof that
    the tests ran; scoring uses ``Sandbox.run_tests``."""
    return "\n\n".join(p for p in (code, setup, "\n".join(tests)) if p)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed stably."""
    if k > n:
        raise ValueError(f"k={k} exceeds n={n} samples")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


@scorers.register("mbpp_pass", aliases=("mbpp",))
class MBPPPassScorer:
    """pass@1 (and pass@k for n samples) by executing the tests in the bubblewrap sandbox."""

    name = "mbpp_pass"

    def __init__(self, timeout_s: float = 10.0, unsafe: bool = False, ks: Sequence[int] = (1, 5, 10),
                 workers: int | None = None) -> None:
        self.timeout_s, self.unsafe, self.ks = float(timeout_s), bool(unsafe), tuple(ks)
        self.workers = min(workers or os.cpu_count() or 1, os.cpu_count() or 1)
        self._sandbox: Any = None
        self._sem: asyncio.Semaphore | None = None

    def sandbox(self) -> Any:
        if self._sandbox is None:
            from lara.sandbox import make_sandbox

            self._sandbox = make_sandbox(unsafe=self.unsafe)
        return self._sandbox

    async def _run(self, code: str, sample: Sample) -> Any:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.workers)
        md = sample.metadata
        keep = top_level_names(sample.references[0]) if sample.references else ()
        async with self._sem:
            return await asyncio.to_thread(self.sandbox().run_tests, code, list(md.get("tests", [])),
                                           md.get("test_setup_code", "") or "", self.timeout_s, keep=keep)

    async def _check(self, sample: Sample, answer: str) -> dict[str, Any]:
        code = extract_code(answer)
        if not code.strip():
            return {"passed": False, "status": "no_code", "reason": "no_code",
                    "explanation": "no code block in the answer"}
        res = await self._run(code, sample)
        details = {"passed": res.passed, "status": res.reason, "reason": res.reason, "returncode": res.returncode,
                   "duration_s": round(res.duration, 3), "isolation": res.isolation,
                   "memory_bound": res.memory_bound, "seccomp": res.seccomp, "explanation": res.explanation}
        if res.peak_memory_mb is not None:
            details["peak_memory_mb"] = res.peak_memory_mb
        return details

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        if output.answer is None:
            return Score(self.name, None, "error", "no answer was produced", self.name)
        try:
            candidates = list(output.extra.get("samples") or [output.answer])
            checks = [await self._check(sample, a) for a in candidates]
        except Exception as exc:  # e.g. SandboxUnavailable: a record, not a crash
            return Score(self.name, None, "error", f"{type(exc).__name__}: {exc}", self.name)
        first = checks[0]
        details: dict[str, Any] = {k: v for k, v in first.items() if k != "explanation"}
        if len(checks) > 1:
            n, c = len(checks), sum(ch["passed"] for ch in checks)
            details.update({"n": n, "c": c, **{f"pass@{k}": pass_at_k(n, c, k) for k in self.ks if k <= n}})
        return Score(self.name, float(first["passed"]), "ok", first["explanation"], self.name, details)
