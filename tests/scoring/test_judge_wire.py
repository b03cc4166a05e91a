"""What the LaRA judge sends over HTTP is LaRA's prompt, byte for byte, for each of the four categories.

The samples come from the real LaRA loader over an upstream-format fixture (so categories are spelled
as the task emits them), the scorer talks to the real loopback OpenAI server through the real client,
and the expected prompts are typed here from ../shared/docs/BENCHMARKS.md §1 "Judge" (LaRA, Li et al.,
ICML 2025), not read from the project's prompt data, so a wrong prompt in the data cannot pass.
"""

from __future__ import annotations

import asyncio

import pytest

from lara.registry import scorers
from lara.testing.fixtures import fixture_samples
from lara.testing.openai_server import LoopbackServer
from lara.types import RunOutput

SYSTEM = "You are a discriminator that judges whether the predictions to questions are correct."
SHARED = (
    "I will provide you with a question and its groundtruth answer, as well as an answer from an AI "
    "assistant. You need to judge whether the AI assistant's answer is correct based on the groundtruth "
    "answer. If it is correct, you should only output True; if it is incorrect, only output False.\n"
    "\n"
    "[Query] {query}\n"
    "\n"
    "[Groundtruth Answer] {label}\n"
    "\n"
    "[AI Assistant's Answer] {pred}\n"
    "\n"
    "Now, start your judgment:"
)
HALLU = (
    "You need to help me determine whether an AI model is hallucinating. I will provide you with a "
    "question, a ground truth answer, and a prediction from the model. If the prediction from the model "
    "and the ground truth answer are basically consistent, and it is determined that this question is "
    "not mentioned in the text, then the model is deemed not to be hallucinating and the answer is "
    "considered correct. If it is correct, you should only output True; if it is incorrect, only output "
    "False.\n"
    "\n"
    "[Query] {query}\n"
    "\n"
    "[Groundtruth Answer] {label}\n"
    "\n"
    "[AI Assistant's Answer] {pred}\n"
    "\n"
    "Now, start your judgement:"
)
EXPECTED_TEMPLATE = {"location": SHARED, "reasoning": SHARED, "comparison": SHARED, "hallucination": HALLU}


@pytest.mark.parametrize("category", ["location", "reasoning", "comparison", "hallucination"])
def test_judge_prompt_on_the_wire_is_laras(tmp_path, category):
    sample = next(s for s in fixture_samples(tmp_path / "lara") if s.metadata["category"] == category)
    answer = f"An answer about {sample.question}"
    with LoopbackServer(responder=lambda messages, request: "True") as srv:
        scorer = scorers.get("lara_judge")(judge="openai:judge-m", judge_base_url=srv.base_url, use_cache=False)
        score = asyncio.run(scorer.score(sample, RunOutput(answer=answer)))
        assert srv.request_count == 1
        sent = srv.requests[0]["messages"]
    assert (score.status, score.value) == ("ok", 1.0)
    expected_user = EXPECTED_TEMPLATE[category].format(query=sample.question, label=sample.references[0], pred=answer)
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[0]["content"].encode("utf-8") == SYSTEM.encode("utf-8")
    assert sent[1]["content"].encode("utf-8") == expected_user.encode("utf-8")
