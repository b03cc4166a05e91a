"""Start ``vllm serve`` with prefix caching and a fixed max length, and wait until it is healthy.

Used by ``lara serve vllm MODEL``; runs then talk to it with ``--model openai:MODEL --base-url URL``.
Only the documented CLI is used (``vllm serve MODEL --host --port --max-model-len
--enable-prefix-caching``) and readiness is the server's ``GET /health`` returning 200.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from typing import Sequence

from lara.errors import LaraError

log = logging.getLogger(__name__)

DEFAULT_MAX_MODEL_LEN = 131072  # LaRA 128k prompts (cut at 127k cl100k tokens) plus the answer


class ServeError(LaraError, RuntimeError):
    """vLLM missing, or the server exited / did not become healthy in time."""


def vllm_serve_argv(
    model: str, *, host: str = "127.0.0.1", port: int = 8000, max_model_len: int = DEFAULT_MAX_MODEL_LEN,
    prefix_caching: bool = True, extra: Sequence[str] = (), executable: str = "vllm",
) -> list[str]:
    argv = [executable, "serve", model, "--host", host, "--port", str(port), "--max-model-len", str(max_model_len)]
    argv.append("--enable-prefix-caching" if prefix_caching else "--no-enable-prefix-caching")
    return argv + list(extra)


def find_vllm() -> str:
    exe = shutil.which("vllm")
    if exe is None:
        raise ServeError(
            "vLLM is not installed (no `vllm` command on PATH): pip install 'lara[vllm]' on a machine "
            "with a supported GPU, or start any OpenAI-compatible server and pass --base-url"
        )
    return exe


def wait_healthy(root_url: str, proc: subprocess.Popen | None = None, timeout_s: float = 900.0) -> None:
    """Poll ``root_url``/health until 200; fail fast when the process exits."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServeError(f"vllm serve exited with code {proc.returncode} before becoming healthy")
        try:
            if httpx.get(f"{root_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServeError(f"{root_url}/health not ok after {timeout_s:.0f}s")
        time.sleep(0.5)


def start_vllm_server(
    model: str, *, host: str = "127.0.0.1", port: int = 8000, max_model_len: int = DEFAULT_MAX_MODEL_LEN,
    prefix_caching: bool = True, extra: Sequence[str] = (), timeout_s: float = 900.0,
) -> tuple[subprocess.Popen, str]:
    """Start the server and wait for health; returns (process, base URL ending in /v1)."""
    argv = vllm_serve_argv(model, host=host, port=port, max_model_len=max_model_len,
                           prefix_caching=prefix_caching, extra=extra, executable=find_vllm())
    log.info("starting: %s", " ".join(argv))
    proc = subprocess.Popen(argv)
    root = f"http://{host}:{port}"
    try:
        wait_healthy(root, proc, timeout_s)
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    return proc, f"{root}/v1"
