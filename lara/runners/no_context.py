"""No context: the question alone, one call — the memorisation control for LC vs RAG."""

from __future__ import annotations

from lara.protocols import ContextBlock, RunContext
from lara.registry import runners
from lara.runners._steps import generate_step
from lara.types import RunOutput, Sample


@runners.register("no_context", aliases=("no-context",))
class NoContextRunner:
    """Question only, no documents (measures what the model already knows)."""

    name = "no_context"
    strategy = "none"
    whole_documents = False
    cost_params: tuple[str, ...] = ()

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        messages = list(ctx.task.messages(sample, ContextBlock(mode="none")))
        step = await generate_step(ctx, messages)
        return RunOutput(answer=step.output, steps=(step,), effective_context_tokens=step.input_tokens)
