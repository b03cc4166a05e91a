"""Judge prompts as data, byte-exact with their sources, each with an id and a version.

Why here and not inline in the scorers: a verdict is only comparable with another verdict made with
the same prompt, so every verdict records ``prompt_id`` and ``prompt_version`` and the text lives in
one place. Sources:

- ``lara-*``: LaRA (Li et al., ICML 2025, arXiv 2502.09977), judge prompts as quoted in
  LaRA (Li et al., ICML 2025, arXiv 2502.09977) (location/reasoning/comp share one prompt; hallu has its own first
  paragraph and ends with "judgement").
- ``mtbench-*``: MT-Bench / FastChat llm_judge (Zheng et al. 2023, arXiv 2306.05685),
  lm-sys/FastChat ``fastchat/llm_judge/data/judge_prompts.jsonl`` entries ``single-v1``,
  ``single-math-v1`` (reference-guided), ``pair-v2`` and ``pair-math-v1`` (reference-guided).
- ``pandalm-v1``: PandaLM (Wang et al. 2023, arXiv 2306.05087, Apache-2.0), WeOpenML/PandaLM
  ``pandalm/utils/pandalm_inference.py`` ``build_pandalm_prompt`` (with/without ``### Input:``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lara.types import Message


@dataclass(frozen=True)
class JudgePrompt:
    """One judge prompt. ``template`` uses ``str.format`` fields; ``system`` may be None."""

    id: str
    version: str
    kind: str  # binary | graded | pairwise_ab | pairwise_pandalm
    source: str
    template: str
    system: str | None = None

    def render(self, **fields: str) -> list[Message]:
        user = self.template.format(**fields)
        msgs = [Message("system", self.system)] if self.system is not None else []
        return msgs + [Message("user", user)]


LARA_SYSTEM = "You are a discriminator that judges whether the predictions to questions are correct."

_LARA_BODY = "\n\n[Query] {query}\n\n[Groundtruth Answer] {label}\n\n[AI Assistant's Answer] {pred}\n\n"

LARA_BINARY = JudgePrompt(
    id="lara-binary",
    version="1",
    kind="binary",
    source="LaRA arXiv 2502.09977 (judge prompts), location/reasoning/comp",
    system=LARA_SYSTEM,
    template=(
        "I will provide you with a question and its groundtruth answer, as well as an answer from an "
        "AI assistant. You need to judge whether the AI assistant's answer is correct based on the "
        "groundtruth answer. If it is correct, you should only output True; if it is incorrect, only "
        "output False."
        + _LARA_BODY
        + "Now, start your judgment:"
    ),
)

LARA_HALLU = JudgePrompt(
    id="lara-hallu",
    version="1",
    kind="binary",
    source="LaRA arXiv 2502.09977 (judge prompts), hallu",
    system=LARA_SYSTEM,
    template=(
        "You need to help me determine whether an AI model is hallucinating. I will provide you with a "
        "question, a ground truth answer, and a prediction from the model. If the prediction from the "
        "model and the ground truth answer are basically consistent, and it is determined that this "
        "question is not mentioned in the text, then the model is deemed not to be hallucinating and "
        "the answer is considered correct. If it is correct, you should only output True; if it is "
        "incorrect, only output False."
        + _LARA_BODY
        + "Now, start your judgement:"
    ),
)

_MT_RATING = (
    'After providing your explanation, you must rate the response on a scale of 1 to 10 by strictly '
    'following this format: "[[rating]]", for example: "Rating: [[5]]".'
)

MTBENCH_SINGLE = JudgePrompt(
    id="mtbench-single-v1",
    version="1",
    kind="graded",
    source="lm-sys/FastChat fastchat/llm_judge/data/judge_prompts.jsonl single-v1",
    system="You are a helpful assistant.",
    template=(
        "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response "
        "provided by an AI assistant to the user question displayed below. Your evaluation should "
        "consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of "
        "detail of the response. Begin your evaluation by providing a short explanation. Be as objective "
        "as possible. " + _MT_RATING + "\n\n[Question]\n{question}\n\n[The Start of Assistant's Answer]\n"
        "{answer}\n[The End of Assistant's Answer]"
    ),
)

MTBENCH_SINGLE_REF = JudgePrompt(
    id="mtbench-single-math-v1",
    version="1",
    kind="graded",
    source="lm-sys/FastChat fastchat/llm_judge/data/judge_prompts.jsonl single-math-v1 (reference-guided)",
    system="You are a helpful assistant.",
    template=(
        "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response "
        "provided by an AI assistant to the user question displayed below. Your evaluation should "
        "consider correctness and helpfulness. You will be given a reference answer and the assistant's "
        "answer. Begin your evaluation by comparing the assistant's answer with the reference answer. "
        "Identify and correct any mistakes. Be as objective as possible. " + _MT_RATING
        + "\n\n[Question]\n{question}\n\n[The Start of Reference Answer]\n{ref_answer_1}\n"
        "[The End of Reference Answer]\n\n[The Start of Assistant's Answer]\n{answer}\n"
        "[The End of Assistant's Answer]"
    ),
)

_MT_PAIR_TAIL = (
    "Avoid any positional biases and ensure that the order in which the responses were presented does "
    "not influence your decision. Do not allow the length of the responses to influence your "
    "evaluation. Do not favor certain names of the assistants. Be as objective as possible. After "
    "providing your explanation, output your final verdict by strictly following this format: "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
_MT_PAIR_ANSWERS = (
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)

MTBENCH_PAIR = JudgePrompt(
    id="mtbench-pair-v2",
    version="2",
    kind="pairwise_ab",
    source="lm-sys/FastChat fastchat/llm_judge/data/judge_prompts.jsonl pair-v2",
    system=(
        "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
        "assistants to the user question displayed below. You should choose the assistant that follows "
        "the user's instructions and answers the user's question better. Your evaluation should consider "
        "factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of "
        "their responses. Begin your evaluation by comparing the two responses and provide a short "
        "explanation. " + _MT_PAIR_TAIL
    ),
    template="[User Question]\n{question}\n\n" + _MT_PAIR_ANSWERS,
)

MTBENCH_PAIR_REF = JudgePrompt(
    id="mtbench-pair-math-v1",
    version="1",
    kind="pairwise_ab",
    source="lm-sys/FastChat fastchat/llm_judge/data/judge_prompts.jsonl pair-math-v1 (reference-guided)",
    system=(
        "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
        "assistants to the user question displayed below. Your evaluation should consider correctness "
        "and helpfulness. You will be given a reference answer, assistant A's answer, and assistant B's "
        "answer. Your job is to evaluate which assistant's answer is better. Begin your evaluation by "
        "comparing both assistants' answers with the reference answer. Identify and correct any "
        "mistakes. " + _MT_PAIR_TAIL
    ),
    template=(
        "[User Question]\n{question}\n\n[The Start of Reference Answer]\n{ref_answer_1}\n"
        "[The End of Reference Answer]\n\n" + _MT_PAIR_ANSWERS
    ),
)

_PANDA_HEAD = "Below are two responses for a given task. The task is defined by the Instruction"
_PANDA_TAIL = " Evaluate the responses and generate a reference answer for the task.\n\n"
_PANDA_RESP = "### Response 1:\n{response1}\n\n### Response 2:\n{response2}\n\n### Evaluation:\n"

PANDALM = JudgePrompt(
    id="pandalm-v1",
    version="1",
    kind="pairwise_pandalm",
    source="WeOpenML/PandaLM pandalm/utils/pandalm_inference.py build_pandalm_prompt (with input)",
    template=(
        _PANDA_HEAD + " with an Input that provides further context." + _PANDA_TAIL
        + "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n" + _PANDA_RESP
    ),
)

PANDALM_NOINPUT = JudgePrompt(
    id="pandalm-v1-noinput",
    version="1",
    kind="pairwise_pandalm",
    source="WeOpenML/PandaLM pandalm/utils/pandalm_inference.py build_pandalm_prompt (no input)",
    template=_PANDA_HEAD + "." + _PANDA_TAIL + "### Instruction:\n{instruction}\n\n" + _PANDA_RESP,
)

PROMPTS: dict[str, JudgePrompt] = {
    p.id: p
    for p in (
        LARA_BINARY, LARA_HALLU, MTBENCH_SINGLE, MTBENCH_SINGLE_REF,
        MTBENCH_PAIR, MTBENCH_PAIR_REF, PANDALM, PANDALM_NOINPUT,
    )
}

# PandaLM strips special tokens from the responses before building its prompt.
_PANDA_SPECIAL = re.compile(
    r"<unk>|<pad>|<s>|</s>|\[PAD\]|<\|endoftext\|>|\[UNK\]|\[CLS\]|\[MASK\]|<\|startofpiece\|>"
    r"|<\|endofpiece\|>|\[gMASK\]|\[sMASK\]"
)


def pandalm_messages(instruction: str, input: str | None, response1: str, response2: str) -> tuple[JudgePrompt, list[Message]]:
    """PandaLM's prompt as one user message (PandaLM is a plain LM; there is no system prompt)."""
    r1 = _PANDA_SPECIAL.sub("", response1.strip()).strip()
    r2 = _PANDA_SPECIAL.sub("", response2.strip()).strip()
    if input:
        return PANDALM, PANDALM.render(instruction=instruction, input=input, response1=r1, response2=r2)
    return PANDALM_NOINPUT, PANDALM_NOINPUT.render(instruction=instruction, response1=r1, response2=r2)
