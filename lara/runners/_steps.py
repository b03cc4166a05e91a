"""One model call recorded as a Step: the single place every runner turns a generation into data."""

from __future__ import annotations

from lara.config import short_hash
from lara.protocols import RunContext
from lara.types import GenerateConfig, Message, Step, to_dict


def messages_hash(messages: list[Message]) -> str:
    return short_hash([to_dict(m) for m in messages])


async def generate_step(
    ctx: RunContext, messages: list[Message], kind: str = "generate", config: GenerateConfig | None = None
) -> Step:
    """Call the model (with ``config`` or the run's) and record tokens, latency, cache hit and output;
    the prompt text is kept only with --log-prompts."""
    gen = await ctx.backend.generate(messages, config or ctx.generate_config)
    return Step(
        kind=kind,
        prompt_hash=messages_hash(messages),
        input_tokens=gen.input_tokens,
        output_tokens=gen.output_tokens,
        latency_s=round(gen.latency_s, 4),
        cached=gen.cached,
        output=gen.text,
        prompt=tuple(messages) if ctx.log_prompts else None,
    )
