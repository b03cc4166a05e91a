"""vLLM in-process backend: the request/response mapping against plain objects shaped like vLLM's
documented RequestOutput (runs everywhere), batching through the engine with a stand-in LLM, and
the real vllm.SamplingParams where vLLM is importable."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from lara.backends.base import BackendError, EndpointLimits
from lara.backends.vllm_offline import VLLMOfflineBackend, sampling_kwargs, to_conversation, to_generation
from lara.config import resolve_spec
from lara.engine import run
from lara.types import GenerateConfig, Message

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def request_output(text, prompt_ids, out_ids, finish="stop"):
    """The documented shape: RequestOutput(prompt_token_ids, outputs=[CompletionOutput(...)])."""
    return SimpleNamespace(request_id="r", prompt_token_ids=prompt_ids,
                           outputs=[SimpleNamespace(index=0, text=text, token_ids=out_ids, finish_reason=finish)])


class FakeLLM:
    """Stands in for vllm.LLM: chat(conversations, sampling_params=[...], use_tqdm=False)."""

    def __init__(self):
        self.calls = []

    def chat(self, conversations, sampling_params=None, use_tqdm=True):
        self.calls.append((conversations, sampling_params))
        outs = []
        for conv, params in zip(conversations, sampling_params):
            words = " ".join(m["content"] for m in conv).split()
            answer = "It is not mentioned."
            outs.append(request_output(answer, list(range(len(words))), [1, 2, 3, 4][: params["max_tokens"]]))
        return outs


def test_sampling_kwargs_mapping():
    cfg = GenerateConfig(max_tokens=64, temperature=0.3, top_p=0.9, stop=("\n\n",), seed=7)
    assert sampling_kwargs(cfg) == {"n": 1, "max_tokens": 64, "temperature": 0.3, "top_p": 0.9,
                                    "stop": ["\n\n"], "seed": 7}
    bare = sampling_kwargs(GenerateConfig(seed=None))
    assert "stop" not in bare and "seed" not in bare
    assert to_conversation([Message("system", "s"), Message("user", "u")]) == [
        {"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def test_request_output_to_generation():
    gen = to_generation(request_output("Paris", [5, 6, 7], [8, 9], "length"), 0.5, "m")
    assert (gen.text, gen.input_tokens, gen.output_tokens, gen.finish_reason, gen.model) == ("Paris", 3, 2, "length", "m")
    with pytest.raises(BackendError, match="no output"):
        to_generation(SimpleNamespace(request_id="x", prompt_token_ids=[1], outputs=[]), 0.1, "m")


def test_engine_batches_requests_through_llm_chat(tmp_path):
    llm = FakeLLM()
    backend = VLLMOfflineBackend(EndpointLimits(), "fake-model", llm=llm, sampling_params_factory=sampling_kwargs,
                                 batch_window_s=0.05)
    spec = resolve_spec("synthetic", "lc", "vllm:fake-model", task_params={"lengths": [100], "n_docs": 3},
                        runner_params={"tokenizer": "words"})
    result = run(spec, output_root=tmp_path, max_connections=8, backend=backend, use_cache=False)
    assert result.summary["n_records"] == 12 and result.summary["errors"] == 0
    n_requests = sum(len(c) for c, _ in llm.calls)
    assert n_requests == 12 and len(llm.calls) < 12  # batched
    assert all(conv[-1]["role"] == "user" for c, _ in llm.calls for conv in c)


def test_missing_vllm_is_a_clear_error(monkeypatch):
    if HAS_VLLM:
        pytest.skip("vLLM is installed here")
    import asyncio

    backend = VLLMOfflineBackend(EndpointLimits(), "some/model")
    with pytest.raises(BackendError, match="pip install 'lara\\[vllm\\]'"):
        asyncio.run(backend.generate([Message("user", "hi")], GenerateConfig()))


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not importable here (needs the [vllm] extra and a GPU)")
def test_real_sampling_params():
    from lara.backends.vllm_offline import build_sampling_params

    params = build_sampling_params(GenerateConfig(max_tokens=12, temperature=0.0, stop=("x",), seed=1,
                                                  guided_regex="[0-9]+"))
    assert params.max_tokens == 12 and params.temperature == 0.0 and list(params.stop) == ["x"]
