"""`--prefix-cache-tokens auto`: the KV cache size read from vLLM's /metrics over real HTTP (the
loopback server publishes the metric text), replicas adding up, the stated default when silent."""

from __future__ import annotations

import socket

from lara.backends.server_metrics import (
    DEFAULT_CACHE_TOKENS, kv_cache_tokens, metrics_url, parse_cache_setting, parse_cache_tokens, resolve_cache_tokens,
)
from lara.testing.openai_server import LoopbackServer

# The line as vLLM prints it (labels of a 0.6-era server; newer ones add and drop labels).
VLLM_LINE = ('vllm:cache_config_info{block_size="16",cache_dtype="auto",cpu_offload_gb="0",'
             'enable_prefix_caching="True",gpu_memory_utilization="0.9",num_cpu_blocks="2048",'
             'num_gpu_blocks="27000",num_gpu_blocks_override="None",sliding_window="None"} 1.0')
METRICS = f"""# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
{VLLM_LINE}
# HELP vllm:num_requests_running Number of requests currently running on GPU.
vllm:num_requests_running{{model_name="m"}} 0.0
"""


def test_parse_reads_blocks_times_block_size():
    assert parse_cache_tokens(METRICS) == 27000 * 16
    two_engines = (VLLM_LINE.replace('block_size="16"', 'block_size="16",engine="0"') + "\n"
                   + VLLM_LINE.replace('num_gpu_blocks="27000"', 'num_gpu_blocks="9000"'))
    assert parse_cache_tokens(two_engines) == 9000 * 16  # each engine has its own cache: the smallest
    assert parse_cache_tokens(VLLM_LINE.replace('"27000"', '"None"')) is None  # before profiling
    assert parse_cache_tokens("vllm:num_requests_running 0.0\n") is None
    assert metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"


def test_auto_asks_the_server_and_falls_back_to_the_stated_default():
    with LoopbackServer(metrics_text=METRICS) as says, LoopbackServer() as silent:
        assert kv_cache_tokens(says.base_url) == 432_000
        assert kv_cache_tokens(silent.base_url) is None  # 404
        assert resolve_cache_tokens("auto", [says.base_url]) == (432_000, "server")
        assert resolve_cache_tokens("auto", [silent.base_url]) == (DEFAULT_CACHE_TOKENS, "default")
        # replicas each hold their own cache; a silent one counts as the default
        assert resolve_cache_tokens("auto", [says.base_url, silent.base_url]) == (432_000 + DEFAULT_CACHE_TOKENS, "server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    assert kv_cache_tokens(dead) is None  # nobody listening
    assert resolve_cache_tokens("auto", ["mock://mock"]) == (DEFAULT_CACHE_TOKENS, "default")
    assert resolve_cache_tokens(0, []) == (None, "off") and resolve_cache_tokens(2_000_000, []) == (2_000_000, "option")


def test_setting_text():
    assert parse_cache_setting("auto") == "auto" and parse_cache_setting("0") == 0
    assert parse_cache_setting("2M") == 2_000_000 and parse_cache_setting("off") == 0
