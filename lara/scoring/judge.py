"""LLM judges as reusable scorers: the ``Judge`` client, ``lara_judge`` (binary) and ``graded_judge``.

A ``Judge`` wraps any backend built from a model string (``openai:gpt-4o`` + base_url, ``local``...)
in the response cache under its own namespace ``judge:<prompt_id>`` and shares the session's
``EndpointLimits``, so an evaluated model and a judge on the same server share one connection
limit. Every verdict records judge model, prompt id/version and the raw output; the status
(ok|unparsed|error) is separate from the value, and the judge's token usage is counted apart from
the evaluated model's. A judge never defaults to the evaluated model: ``judge`` is required.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from lara.registry import scorers
from lara.scoring.judge_parse import parse_binary, parse_rating
from lara.scoring.judge_prompts import (
    LARA_BINARY,
    LARA_HALLU,
    MTBENCH_SINGLE,
    MTBENCH_SINGLE_REF,
    JudgePrompt,
)
from lara.types import GenerateConfig, Message, RunOutput, Sample, Score
from lara.vocabulary import category

log = logging.getLogger(__name__)


@dataclass
class JudgeUsage:
    """Judge calls and tokens, kept apart from the evaluated model's usage (mutable counter)."""

    calls: int = 0
    cached: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class JudgeReply:
    """One judge call: ``text`` is None when the call failed for good (``error`` says why)."""

    prompt: JudgePrompt
    text: str | None
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False


@dataclass(frozen=True)
class Verdict:
    """A parsed judge decision; ``value`` is None unless status is ok."""

    status: str  # ok | unparsed | error
    value: float | None
    reply: JudgeReply
    judge_model: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        r = self.reply
        return {
            "judge_model": self.judge_model,
            "prompt_id": r.prompt.id,
            "prompt_version": r.prompt.version,
            "raw": r.text,
            "error": r.error,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cached": r.cached,
            **dict(self.extra),
        }

    def to_score(self, name: str, explanation: str = "") -> Score:
        expl = explanation or (self.reply.error or "" if self.status == "error" else "")
        return Score(name, self.value, self.status, expl, name, self.details())  # type: ignore[arg-type]


class Judge:
    """A judge model. ``backend`` is any object with ``async generate`` and ``info``."""

    def __init__(
        self,
        backend: Any,
        model: str,
        *,
        config: GenerateConfig | None = None,
        cache: Any = None,
    ) -> None:
        self.inner = backend
        self.model = model
        self.config = config or GenerateConfig(max_tokens=512, temperature=0.0)
        self.cache = cache
        self.usage = JudgeUsage()
        self._by_prompt: dict[str, Any] = {}

    @classmethod
    def from_model(
        cls,
        model: str,
        *,
        base_url: str | None = None,
        params: Mapping[str, Any] | None = None,
        limits: Any = None,
        use_cache: bool = True,
        config: GenerateConfig | None = None,
    ) -> "Judge":
        if not model:
            raise ValueError("a judge model is required (e.g. openai:gpt-4o); it never defaults to the evaluated model")
        from lara.backends.base import build_backend

        kw = dict(params or {})
        if base_url:
            kw["base_url"] = base_url
        backend = build_backend(model, kw, limits)
        cache = None
        if use_cache:
            from lara.cache import ResponseCache

            cache = ResponseCache()
        return cls(backend, model, config=config, cache=cache)

    def _backend_for(self, prompt: JudgePrompt) -> Any:
        if self.cache is None:
            return self.inner
        b = self._by_prompt.get(prompt.id)
        if b is None:
            from lara.cache import CachedBackend

            b = self._by_prompt[prompt.id] = CachedBackend(self.inner, self.cache, namespace=f"judge:{prompt.id}")
        return b

    async def ask(self, prompt: JudgePrompt, messages: list[Message] | None = None, *,
                  max_tokens: int | None = None, **fields: str) -> JudgeReply:
        """Send one judge prompt; failures after the backend's retries become ``error`` replies."""
        msgs = messages if messages is not None else prompt.render(**fields)
        cfg = replace(self.config, max_tokens=max_tokens) if max_tokens else self.config
        try:
            gen = await self._backend_for(prompt).generate(msgs, cfg)
        except Exception as exc:  # failures are data: the sample gets status "error"
            self.usage.errors += 1
            log.warning("judge %s call failed: %s", self.model, exc)
            return JudgeReply(prompt, None, error=f"{type(exc).__name__}: {exc}")
        if gen.cached:
            self.usage.cached += 1
        else:
            self.usage.calls += 1
            self.usage.input_tokens += gen.input_tokens
            self.usage.output_tokens += gen.output_tokens
        return JudgeReply(prompt, gen.text, None, gen.input_tokens, gen.output_tokens, gen.cached)

    def verdict(self, reply: JudgeReply, parse: Callable[[str | None], Any], **extra: Any) -> Verdict:
        if reply.text is None:
            return Verdict("error", None, reply, self.model, extra)
        value = parse(reply.text)
        if value is None:
            return Verdict("unparsed", None, reply, self.model, extra)
        return Verdict("ok", float(value), reply, self.model, extra)


def _no_answer(name: str) -> Score:
    """A failed generation is an upstream failure, not a wrong answer (same rule as ``lexical``)."""
    return Score(name, None, "error", "no answer to judge (generation failed)", name, {"kind": "no_answer"})


def _reference(sample: Sample) -> str:
    return "\n".join(sample.references)


class _JudgeScorer:
    name = "judge"
    needs_judge = True  # lets `lara score` know to pass --judge / --judge-base-url

    def __init__(self, judge: str | None = None, judge_base_url: str | None = None,
                 judge_params: Mapping[str, Any] | None = None, max_tokens: int = 512,
                 limits: Any = None, use_cache: bool = True, judge_client: Judge | None = None) -> None:
        if judge_client is None and not judge:
            raise ValueError(f"scorer {self.name!r} needs params.judge (a model string such as "
                             "'openai:gpt-4o'); the judge never defaults to the evaluated model")
        self.judge = judge_client or Judge.from_model(
            judge or "", base_url=judge_base_url, params=judge_params, limits=limits, use_cache=use_cache)
        self.max_tokens = max_tokens

    def usage(self) -> dict[str, int]:
        return self.judge.usage.as_dict()


@scorers.register("lara_judge")
class LaraJudgeScorer(_JudgeScorer):
    """LaRA's binary LLM judge (True/False vs the ground truth; hallucination has its own prompt), strict parsing."""

    name = "lara_judge"

    def __init__(self, judge: str | None = None, judge_base_url: str | None = None,
                 judge_params: Mapping[str, Any] | None = None, max_tokens: int = 16, limits: Any = None,
                 use_cache: bool = True, judge_client: Judge | None = None) -> None:
        super().__init__(judge, judge_base_url, judge_params, max_tokens, limits, use_cache, judge_client)

    def prompt_for(self, sample: Sample) -> JudgePrompt:
        """LaRA's hallucination prompt for hallucination questions, its shared prompt otherwise.

        The category is read through :mod:`lara.vocabulary`, so the task's ``"hallucination"`` and
        LaRA's file-name ``"hallu"`` select the same prompt.
        """
        meta = sample.metadata
        name = meta.get("category") or meta.get("task") or meta.get("question_type")
        return LARA_HALLU if category(name) == "hallucination" else LARA_BINARY

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        if output.answer is None:
            return _no_answer(self.name)
        prompt = self.prompt_for(sample)
        reply = await self.judge.ask(prompt, max_tokens=self.max_tokens, query=sample.question,
                                     label=_reference(sample), pred=output.answer)
        return self.judge.verdict(reply, parse_binary).to_score(self.name)


@scorers.register("graded_judge")
class GradedJudgeScorer(_JudgeScorer):
    """MT-Bench single-answer grading 1–10 ``[[rating]]``; reference-guided when references exist."""

    name = "graded_judge"

    def __init__(self, judge: str | None = None, judge_base_url: str | None = None,
                 judge_params: Mapping[str, Any] | None = None, reference_guided: bool | str = "auto",
                 max_tokens: int = 1024, limits: Any = None, use_cache: bool = True,
                 judge_client: Judge | None = None) -> None:
        super().__init__(judge, judge_base_url, judge_params, max_tokens, limits, use_cache, judge_client)
        if reference_guided not in (True, False, "auto"):
            raise ValueError("reference_guided must be true, false or 'auto'")
        self.reference_guided = reference_guided

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        if output.answer is None:
            return _no_answer(self.name)
        use_ref = bool(sample.references) if self.reference_guided == "auto" else bool(self.reference_guided)
        if use_ref:
            reply = await self.judge.ask(MTBENCH_SINGLE_REF, max_tokens=self.max_tokens, question=sample.question,
                                         ref_answer_1=_reference(sample), answer=output.answer)
        else:
            reply = await self.judge.ask(MTBENCH_SINGLE, max_tokens=self.max_tokens,
                                         question=sample.question, answer=output.answer)
        return self.judge.verdict(reply, parse_rating).to_score(self.name)
