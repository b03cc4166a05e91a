"""--executor ray-data: contract tests (vLLM cannot be installed here). The processor configuration
is built with ray.data.llm's own classes and checked; the row mapping is checked on its own and,
in the slow test, inside a real Ray Data pipeline where only the vLLM engine stage is replaced by a
stand-in that answers like a model; the run's records come through the batch rounds."""

from __future__ import annotations

import json

import pytest

from lara.cli import main
from lara.config import resolve_spec
from lara.executors.ray_data import output_line, postprocess, preprocess, processor_config


def test_processor_config_maps_the_vllm_backend_settings():
    cfg = processor_config("Qwen/Qwen2.5-7B-Instruct", {"model": "x", "max_model_len": 32768,
                                                        "enable_prefix_caching": True}, actors=4,
                           resources={"num_gpus": 2})
    assert cfg["model_source"] == "Qwen/Qwen2.5-7B-Instruct" and cfg["concurrency"] == 4
    assert cfg["engine_kwargs"] == {"max_model_len": 32768, "enable_prefix_caching": True, "tensor_parallel_size": 2}
    assert cfg["should_continue_on_error"] is True
    assert processor_config("m", {"tensor_parallel_size": 8}, 1, {"num_gpus": 2})["engine_kwargs"]["tensor_parallel_size"] == 8


def test_rows_map_to_batch_output_lines():
    row = preprocess({"custom_id": "lara-1", "messages": [{"role": "user", "content": "q"}],
                      "sampling_params": {"max_tokens": 8, "temperature": 0.0}})
    assert set(row) == {"custom_id", "messages", "sampling_params"}
    out = postprocess({**row, "generated_text": "Paris", "num_input_tokens": 12, "num_generated_tokens": 2, "prompt": "..."})
    line = output_line(out, "m")
    assert line["custom_id"] == "lara-1" and line["response"]["status_code"] == 200
    assert line["response"]["body"]["choices"][0]["message"]["content"] == "Paris"
    assert line["response"]["body"]["usage"] == {"prompt_tokens": 12, "completion_tokens": 2}
    failed = output_line({"custom_id": "lara-2", "__inference_error__": "CUDA out of memory"}, "m")
    assert failed["response"] is None and failed["error"]["code"] == "inference_error"


def test_ray_data_needs_a_vllm_model(tmp_path, capsys):
    rc = main(["run", "--task", "synthetic", "-T", "lengths=[100]", "-T", "n_docs=1", "--runner", "lc",
               "--model", "mock", "--executor", "ray-data", "-o", str(tmp_path)])
    assert rc == 2 and "use --model vllm:<model>" in capsys.readouterr().err


@pytest.mark.slow
def test_rounds_through_a_real_ray_data_pipeline(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from lara.engine import run

    model_dir = tmp_path / "model"  # a local model folder: the processor reads its config.json only
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    spec = resolve_spec("synthetic", "lc", f"vllm:{model_dir}", task_params={"lengths": [100], "n_docs": 2},
                        model_params={"max_model_len": "4096"}, runner_params={"tokenizer": "words"})
    seen: list[dict] = []

    def stand_in(config):
        # the real processor builds, with the engine settings this run derived
        real = build_processor(vLLMEngineProcessorConfig(**config), preprocess=preprocess, postprocess=postprocess)
        stages = {type(s).__name__: s for s in real.stages.values()}
        assert "vLLMEngineStage" in stages
        engine = stages["vLLMEngineStage"].fn_constructor_kwargs
        assert engine["model"] == str(model_dir) and engine["engine_kwargs"]["enable_prefix_caching"]
        assert engine["engine_kwargs"]["max_model_len"] == 4096
        seen.append(config)

        def engine_stand_in(row):
            text = row["messages"][-1]["content"]
            return {**row, "generated_text": "It is not mentioned.", "num_input_tokens": len(text.split()),
                    "num_generated_tokens": 4}

        return lambda ds: ds.map(preprocess).map(engine_stand_in).map(postprocess)

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        import lara.executors.ray_data as rd

        original = rd.build_vllm_processor
        rd.build_vllm_processor = stand_in
        try:
            result = run(spec, output_root=tmp_path / "out", use_cache=False, executor="ray-data", ray_actors=2)
        finally:
            rd.build_vllm_processor = original
    finally:
        ray.shutdown()
    summary = result.summary
    assert summary["n_records"] == 8 and summary["errors"] == 0
    assert summary["model_calls_this_invocation"] == 8 and seen and seen[0]["concurrency"] == 2
    assert summary["executor"]["name"] == "ray-data"
    records = [json.loads(x) for x in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    assert {r["backend"] for r in records} == {"vllm"} and all(r["answer"] == "It is not mentioned." for r in records)
    assert all(r["input_tokens"] > 0 and r["output_tokens"] == 4 for r in records)
