"""``--prefix-cache-tokens``: the setting, and what a model server says about its KV cache (``auto``).

vLLM publishes its cache configuration on the Prometheus endpoint at the server root (``/metrics``,
next to ``/v1``) as an info gauge whose labels carry the settings::

    vllm:cache_config_info{block_size="16",enable_prefix_caching="True",num_gpu_blocks="573",...} 1.0

The KV cache holds ``num_gpu_blocks × block_size`` tokens. Those two labels are all that is read. A
data-parallel server prints one line per engine (label ``engine``); each engine has its own cache
and vLLM does not route by prefix, so the smallest engine's size is used. Servers that do not
publish this (OpenAI, llama.cpp, a vLLM without metrics) yield None and the caller's stated default
applies. The answer is memoised per URL for the process (a sweep prepares many runs).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

METRIC = "vllm:cache_config_info"
# What `--prefix-cache-tokens auto` assumes when no server says: about four 128k documents, the KV
# cache an 8B Llama-architecture model (128 KiB per token in bf16) leaves on one 80 GB GPU at
# vLLM's default 0.9 memory share. Assuming too little costs parallelism; too much costs re-prefills.
DEFAULT_CACHE_TOKENS = 500_000
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
HOSTED = ("api.openai.com", "api.anthropic.com")  # known not to publish a cache size


def metrics_url(base_url: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000/metrics`` (vLLM serves it at the root)."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root + "/metrics"


def parse_cache_tokens(text: str) -> int | None:
    """KV cache tokens from Prometheus text with ``vllm:cache_config_info`` lines, else None."""
    sizes = []
    for line in text.splitlines():
        if not line.startswith(METRIC + "{"):
            continue
        labels = dict(_LABEL.findall(line[len(METRIC) + 1: line.rfind("}")]))
        try:
            blocks, size = int(labels["num_gpu_blocks"]), int(labels["block_size"])
        except (KeyError, ValueError):  # "None" before the engine has profiled its memory
            continue
        if blocks > 0 and size > 0:
            sizes.append(blocks * size)
    return min(sizes) if sizes else None


@functools.lru_cache(maxsize=64)
def kv_cache_tokens(base_url: str, timeout_s: float = 3.0) -> int | None:
    """The server's KV cache size in tokens from its ``/metrics``, or None when it does not say."""
    from urllib.parse import urlparse

    import httpx

    host = urlparse(base_url).hostname or ""
    if host in HOSTED:
        return None
    url = metrics_url(base_url)
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    try:
        resp = httpx.get(url, timeout=timeout_s, trust_env=not loopback)
    except httpx.HTTPError as exc:
        log.info("no KV cache size from %s (%s)", url, type(exc).__name__)
        return None
    if resp.status_code != 200:
        log.info("no KV cache size from %s (HTTP %d)", url, resp.status_code)
        return None
    tokens = parse_cache_tokens(resp.text)
    log.info("KV cache size from %s: %s tokens", url, tokens)
    return tokens


def parse_cache_setting(value: Any) -> int | str | None:
    """``--prefix-cache-tokens`` text: ``auto``, ``0``/``off`` (no bound) or a size like ``2M``."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("off", "none"):
        return 0
    from lara.config import parse_tokens

    return parse_tokens(text)


def resolve_cache_tokens(setting: int | str | None, endpoints: Iterable[str] = (),
                         fetch: Callable[[str], int | None] | None = None) -> tuple[int | None, str]:
    """(KV cache tokens or None, source) for a ``--prefix-cache-tokens`` setting.

    ``auto`` asks each http(s) endpoint (:func:`kv_cache_tokens`: vLLM's ``/metrics``); replicas
    each hold their own cache, so their sizes add up, a silent one counting as
    :data:`DEFAULT_CACHE_TOKENS`. When no endpoint says, the default applies."""
    if setting is None or setting == 0:
        return None, "off"
    if isinstance(setting, int):
        if setting < 0:
            raise ValueError(f"prefix_cache_tokens must be >= 0, got {setting}")
        return setting, "option"
    if setting != "auto":
        raise ValueError(f"prefix_cache_tokens: expected auto, 0 or a token count, got {setting!r}")
    fetch = fetch or kv_cache_tokens
    urls = [e for e in endpoints if e.startswith(("http://", "https://"))]
    found = [fetch(u) for u in urls]
    if not any(found):
        return DEFAULT_CACHE_TOKENS, "default"
    return sum(f or DEFAULT_CACHE_TOKENS for f in found), "server"
