"""Long-context runner: the whole context first, the question last (prefix-cache friendly).

Truncation is explicit and happens here only: the context is cut by the policy
(``middle|left|right|skip|error``) to what the model window holds after reserving the generation
budget and the tokens of the rest of the prompt; the report is recorded per sample. A task may
supply ``fit_context`` for its own long context (e.g. as many demonstrations as fit, or LaRA's
paper rule).
"""

from __future__ import annotations

from lara.protocols import ContextBlock, FitsContext, RunContext, supports
from lara.registry import runners
from lara.runners._steps import generate_step
from lara.tokens import POLICIES, truncate_text
from lara.types import RunOutput, Sample, TruncationReport

# Chat templates add role markers around messages; reserve a little room for them.
TEMPLATE_MARGIN = 64


def context_budget(ctx: RunContext, overhead_tokens: int, max_context_tokens: int | None) -> int | None:
    """Tokens available for the context block, or None when nothing limits it."""
    limits = []
    window = ctx.backend.info.context_window
    if window:
        limits.append(window - ctx.generate_config.max_tokens - overhead_tokens - TEMPLATE_MARGIN)
    if max_context_tokens:
        limits.append(max_context_tokens)
    return max(0, min(limits)) if limits else None


@runners.register("long_context", aliases=("lc",))
class LongContextRunner:
    """Whole documents in the prompt, truncated explicitly to the model window."""

    name = "long_context"
    strategy = "long_context"
    whole_documents = True
    cost_params = ("max_context_tokens",)

    def __init__(self, truncation: str = "middle", max_context_tokens: int | None = None, tokenizer: str | None = None) -> None:
        if truncation not in POLICIES:
            raise ValueError(f"unknown truncation policy {truncation!r}; valid: {', '.join(POLICIES)}")
        self.truncation = truncation
        self.max_context_tokens = max_context_tokens

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        task = ctx.task
        empty = task.messages(sample, ContextBlock(mode="long_context", text=""))
        overhead = sum(ctx.tokenizer.count(m.content) for m in empty)
        budget = context_budget(ctx, overhead, self.max_context_tokens)
        if supports(task, FitsContext):
            block, report = task.fit_context(sample, budget, ctx.tokenizer)
        else:
            text = "\n\n".join(d.load_text() for d in sample.documents)
            if budget is None:
                n = ctx.tokenizer.count(text)
                report = TruncationReport(self.truncation, n, n, 0)
            else:
                text, report = truncate_text(ctx.tokenizer, text, budget, self.truncation)
            block = ContextBlock(mode="long_context", text=text)
        messages = task.messages(sample, block)
        step = await generate_step(ctx, messages)
        return RunOutput(
            answer=step.output,
            steps=(step,),
            effective_context_tokens=step.input_tokens,
            truncation=report,
        )
