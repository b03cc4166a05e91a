"""In-process vLLM backend (``vllm:MODEL``) for single-node offline batches; the ``[vllm]`` extra.

Thin on purpose: written against vLLM's documented offline API only, ``vllm.LLM(model=...,
enable_prefix_caching=True, max_model_len=...)``, ``LLM.chat(conversations, sampling_params)``
(applies the model's chat template) returning ``RequestOutput`` objects (``prompt_token_ids``,
``outputs[0].text / token_ids / finish_reason``), and ``SamplingParams``. ``LLM`` is synchronous and
batch oriented, so concurrent ``generate`` calls are collected for ``batch_window_s`` into one
``LLM.chat`` call run in a worker thread; vLLM's own scheduler and prefix cache do the rest (the
engine's prefix-aware order keeps documents together). ``vllm`` is imported on first use only.

The mapping functions :func:`sampling_kwargs` and :func:`to_generation` are pure so that a contract
test checks them everywhere, with plain objects shaped like vLLM's documented outputs.
For a server instead, use ``lara serve vllm MODEL`` and ``--model openai:MODEL --base-url ...``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Sequence

from lara.protocols import Failure
from lara.backends.base import BackendError, EndpointLimits
from lara.registry import backends
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

INSTALL_HINT = "vLLM is not installed: pip install 'lara[vllm]' (needs a supported GPU), or use `lara serve vllm`"


def sampling_kwargs(config: GenerateConfig) -> dict[str, Any]:
    """GenerateConfig -> keyword arguments of ``vllm.SamplingParams`` (guided regex separately)."""
    kw: dict[str, Any] = {
        "n": 1,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
    }
    if config.stop:
        kw["stop"] = list(config.stop)
    if config.seed is not None:
        kw["seed"] = config.seed
    return kw


def build_sampling_params(config: GenerateConfig) -> Any:
    """A ``vllm.SamplingParams``; a guided regex uses ``StructuredOutputsParams`` (vLLM >= 0.11)
    or ``GuidedDecodingParams`` (older releases), whichever the installed vLLM documents."""
    try:
        import vllm
        from vllm import sampling_params as sp
    except ImportError as exc:
        raise BackendError(INSTALL_HINT, kind="not_installed") from exc

    kw = sampling_kwargs(config)
    if config.guided_regex:
        if hasattr(sp, "StructuredOutputsParams"):
            kw["structured_outputs"] = sp.StructuredOutputsParams(regex=config.guided_regex)
        else:
            kw["guided_decoding"] = sp.GuidedDecodingParams(regex=config.guided_regex)
    return vllm.SamplingParams(**kw)


def to_conversation(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def to_generation(output: Any, latency_s: float, model: str) -> Generation:
    """A ``RequestOutput``-shaped object -> Generation (token counts from the token ids)."""
    outs = getattr(output, "outputs", None) or []
    if not outs:
        raise BackendError(f"vllm: request {getattr(output, 'request_id', '?')} produced no output", kind="bad_response")
    first = outs[0]
    prompt_ids = getattr(output, "prompt_token_ids", None) or []
    return Generation(
        text=first.text or "",
        input_tokens=len(prompt_ids),
        output_tokens=len(getattr(first, "token_ids", None) or []),
        finish_reason=getattr(first, "finish_reason", None) or "stop",
        latency_s=latency_s,
        cached=False,
        model=model,
    )


class VLLMOfflineBackend:
    """vLLM in this process; requests arriving together run as one batch."""

    def __init__(
        self,
        limits: EndpointLimits,
        model: str,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        batch_window_s: float = 0.02,
        max_batch: int = 256,
        llm: Any = None,
        sampling_params_factory: Callable[[GenerateConfig], Any] | None = None,
        **engine_kwargs: Any,
    ) -> None:
        if not model:
            raise ValueError("vllm backend needs a model, e.g. vllm:Qwen/Qwen2.5-7B-Instruct")
        self.model = model
        self.engine_kwargs = {"model": model, "enable_prefix_caching": enable_prefix_caching, **engine_kwargs}
        if max_model_len:
            self.engine_kwargs["max_model_len"] = int(max_model_len)
        self.batch_window_s = float(batch_window_s)
        self.max_batch = int(max_batch)
        self._llm = llm  # injected in tests; built lazily otherwise
        self._make_params = sampling_params_factory or build_sampling_params
        self._queue: list[tuple[list[dict[str, str]], Any, asyncio.Future[Generation]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tokenizer: Any = None
        self.batches = 0
        self.info = ModelInfo(
            id=model, backend="vllm", context_window=max_model_len, endpoint="in-process",
            parameters={k: v for k, v in self.engine_kwargs.items() if k != "model"},
        )

    def _get_llm(self) -> Any:
        if self._llm is None:
            try:
                import vllm
            except ImportError as exc:
                raise BackendError(INSTALL_HINT, kind="not_installed") from exc
            self._llm = vllm.LLM(**self.engine_kwargs)
        return self._llm

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from lara.tokens import HFTokenizer, get_tokenizer

            if self._llm is not None and hasattr(self._llm, "get_tokenizer"):
                self._tokenizer = HFTokenizer(self._llm.get_tokenizer(), f"vllm:{self.model}")
            else:
                self._tokenizer = get_tokenizer("cl100k")  # before the model is loaded: estimate
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        fut: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        self._queue.append((to_conversation(messages), self._make_params(config), fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        return await fut

    async def _flush_loop(self) -> None:
        while self._queue:
            await asyncio.sleep(self.batch_window_s)
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            t0 = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(self._run_batch, [b[0] for b in batch], [b[1] for b in batch])
                if len(outputs) != len(batch):
                    raise BackendError(f"vllm returned {len(outputs)} outputs for {len(batch)} requests")
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                err = exc if isinstance(exc, BackendError) else BackendError(f"vllm: {type(exc).__name__}: {exc}")
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            latency = time.perf_counter() - t0
            self.batches += 1
            for (_, _, fut), out in zip(batch, outputs):
                if fut.done():
                    continue
                try:
                    fut.set_result(to_generation(out, latency, self.model))
                except BackendError as exc:
                    fut.set_exception(exc)

    def classify(self, exc: BaseException) -> Failure:
        """An in-process engine failure (CUDA out of memory, bad request) repeats: fatal."""
        return Failure(getattr(exc, "kind", None) or type(exc).__name__, "fatal")

    async def aclose(self) -> None:
        return None

    def _run_batch(self, conversations: list[list[dict[str, str]]], params: list[Any]) -> list[Any]:
        return list(self._get_llm().chat(conversations, sampling_params=params, use_tqdm=False))


@backends.register("vllm")
def vllm_backend(limits: EndpointLimits, model: str, **params: Any) -> VLLMOfflineBackend:
    """vLLM in-process (offline batches, prefix caching on); needs the [vllm] extra and a GPU."""
    return VLLMOfflineBackend(limits, model, **params)
