"""``--executor ray-data``: offline batch inference on a GPU cluster with Ray Data and vLLM engines.

The run is driven in batch rounds (:mod:`lara.engine.deferred`): the driver runs every sample
against a collecting stand-in for the ``vllm:<model>`` backend, which records each request (the
runner's chat messages and vLLM sampling parameters) and defers it; the round's requests become a
Ray Dataset, which ``ray.data.llm``'s vLLM engine processor answers (chat template, tokenisation,
``--ray-actors`` vLLM engine replicas with prefix caching, detokenisation); the answers come back by
``custom_id`` and the samples run again (multi-call runners take one round per call). Records,
resume (answers kept in ``batch-results.jsonl``) and the response cache work as in any batch run;
a row the engine failed (``__inference_error__``) becomes that sample's error record. The engine's
settings are the ``vllm`` backend's parameters (``-M max_model_len=32768 -M
tensor_parallel_size=2``...); ``--ray-actor-resources '{"num_gpus": N}'`` sets the GPUs per replica
when no tensor parallelism is given.

On a GPU node (or a Ray cluster's head node) with ``pip install 'lara[ray,vllm]'``::

    lara run --task lara-32k --runner lc --model vllm:Qwen/Qwen2.5-7B-Instruct \\
        -M max_model_len=32768 --executor ray-data --ray-actors 4 --ray-address auto

vLLM cannot be installed on the development machine, so this path is contract-tested: the
processor configuration and the row mapping are checked against ``ray.data.llm``'s own classes, and
the rounds run with a stand-in processor (tests/executors/test_ray_data.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Mapping, Sequence

from lara.backends.batching import BatchCollector
from lara.errors import ConfigError
from lara.types import GenerateConfig, Message

log = logging.getLogger(__name__)

BATCH_SIZE = 16  # rows per engine call; vLLM schedules within and across them


def processor_config(model: str, engine_kwargs: Mapping[str, Any], actors: int,
                     resources: Mapping[str, float] | None = None, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Keyword arguments of ``ray.data.llm.vLLMEngineProcessorConfig`` for a run."""
    kwargs = {k: v for k, v in engine_kwargs.items() if k != "model"}
    kwargs.setdefault("enable_prefix_caching", True)
    gpus = (resources or {}).get("num_gpus")
    if gpus and gpus >= 1 and "tensor_parallel_size" not in kwargs:
        kwargs["tensor_parallel_size"] = int(gpus)
    return {"model_source": model, "engine_kwargs": kwargs, "concurrency": int(actors), "batch_size": int(batch_size),
            "should_continue_on_error": True}


def preprocess(row: Mapping[str, Any]) -> dict[str, Any]:
    """A request row -> what the processor's chat-template and engine stages read."""
    return {"custom_id": row["custom_id"], "messages": list(row["messages"]),
            "sampling_params": dict(row["sampling_params"])}


def postprocess(row: Mapping[str, Any]) -> dict[str, Any]:
    """An engine output row -> the fields :func:`output_line` needs."""
    return {"custom_id": row["custom_id"], "generated_text": row.get("generated_text") or "",
            "num_input_tokens": int(row.get("num_input_tokens") or 0),
            "num_generated_tokens": int(row.get("num_generated_tokens") or 0)}


def output_line(row: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An output row in the batch output format (a chat completion, or an error line)."""
    error = row.get("__inference_error__")
    if error:
        return {"custom_id": row.get("custom_id"), "response": None,
                "error": {"code": "inference_error", "message": str(error)}}
    body = {"object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": row["generated_text"]},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": row["num_input_tokens"], "completion_tokens": row["num_generated_tokens"]}}
    return {"custom_id": row["custom_id"], "response": {"status_code": 200, "body": body}, "error": None}


def build_vllm_processor(config: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The real processor (``ray.data.llm``); vLLM itself is imported by Ray on the GPU workers."""
    try:
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig
    except ImportError as exc:
        raise ConfigError("--executor ray-data needs Ray Data LLM: pip install 'lara[ray]' (and vllm on the GPU nodes)") from exc
    return build_processor(vLLMEngineProcessorConfig(**config), preprocess=preprocess, postprocess=postprocess)  # type: ignore[no-any-return]


class RayDataBatcher(BatchCollector):
    """Stands in for the run's ``vllm`` backend: defers every call, answers each round with a Ray
    Data pipeline (``processor_factory(config)`` -> a callable from Dataset to Dataset)."""

    def __init__(self, inner: Any, config: Mapping[str, Any],
                 processor_factory: Callable[[Mapping[str, Any]], Callable[[Any], Any]] = build_vllm_processor) -> None:
        self.inner = inner
        self.info = inner.info
        self.config = dict(config)
        self.processor_factory = processor_factory
        self._processor: Any = None
        self._init_batching()

    @property
    def tokenizer(self) -> Any:
        return getattr(self.inner, "tokenizer", None)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def request_body(self, messages: Sequence[Message], config: GenerateConfig) -> dict[str, Any]:
        from lara.backends.vllm_offline import sampling_kwargs, to_conversation

        return {"model": self.info.id, "messages": to_conversation(messages), "sampling_params": sampling_kwargs(config)}

    async def complete(self) -> bool:
        requests = self.take_pending()
        rows = [{"custom_id": c, **{k: body[k] for k in ("messages", "sampling_params")}} for c, body in requests.items()]
        for row in await asyncio.to_thread(self._run, rows):
            self.accept(output_line(row, self.info.id))
        for c in requests:
            self.fail(c, "the Ray Data pipeline returned no row for this request", "batch_missing")
        self.submitted += len(rows)
        return True

    def _run(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import ray

        if self._processor is None:
            self._processor = self.processor_factory(self.config)
        return list(self._processor(ray.data.from_items(rows)).take_all())

    async def aclose(self) -> None:
        return None


def batcher_for(prepared: Any, processor_factory: Any = None) -> RayDataBatcher:
    from lara.backends.base import parse_model

    name, model = parse_model(prepared.spec.model)
    if name != "vllm" or not model:
        raise ConfigError(f"--executor ray-data runs vLLM engines: use --model vllm:<model>, got {prepared.spec.model!r}")
    inner = getattr(prepared.backend, "inner", prepared.backend)
    engine = dict(getattr(inner, "engine_kwargs", {}) or {})
    config = processor_config(model, engine, prepared.options.ray_actors, prepared.options.ray_actor_resources)
    return RayDataBatcher(prepared.backend, config, processor_factory or build_vllm_processor)


async def run_on_ray_data(prepared: Any, todo: Sequence[Any], write: Callable[[Any], None], *,
                          attempts: dict[str, int] | None = None, run_dir: Any = None,
                          processor_factory: Any = None) -> dict[str, Any]:
    """The run's samples in batch rounds answered by a Ray Data vLLM pipeline."""
    from lara.cache import CachedBackend
    from lara.engine.deferred import dispatch_deferred
    from lara.engine.prepare import CountingBackend
    from lara.executors.ray_executor import init_ray

    batcher = batcher_for(prepared, processor_factory)
    prepared.model_backend = CachedBackend(batcher, prepared.cache) if prepared.cache else CountingBackend(batcher)
    prepared.ctx.backend = prepared.model_backend
    started = init_ray(prepared.options.ray_address)
    try:
        counters = await dispatch_deferred(prepared, todo, write, batcher, run_dir=run_dir, attempts=attempts)
    finally:
        if started:
            import ray

            ray.shutdown()
    counters["executor"] = {"name": "ray-data", "engine_replicas": prepared.options.ray_actors,
                            "processor": {k: v for k, v in batcher.config.items() if k != "engine_kwargs"},
                            "engine_kwargs": batcher.config["engine_kwargs"]}
    return counters
