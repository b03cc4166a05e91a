"""lara vs EleutherAI lm-evaluation-harness: the same 1,000 chat requests, same server, same concurrency.

One loopback OpenAI-compatible server (fixed latency per request) answers both. lara runs the
``jsonl`` task with the long-context runner through its engine; lm-eval runs a custom
``generate_until`` task over the same JSONL through its ``local-chat-completions`` backend with
``num_concurrent`` equal to lara's ``max_connections``. Both send one user message with identical
text. Each harness runs in its own fresh process; wall time covers the whole process (imports,
task loading, requests, writing results) and the request phase is measured at the server (first to
last arrival). Peak memory is each process's max RSS (``wait4``).

lm-eval is installed only in this benchmark's own venv (``benchmarks/.venv-peer-lmeval``, created on
first use with ``pip install "lm-eval[api]"`` and the CPU torch pin of install.sh).

    python benchmarks/peer.py [--n 1000] [--concurrency 16] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lara.testing.openai_server import LoopbackServer  # noqa: E402

PEER_VENV = ROOT / "benchmarks" / ".venv-peer-lmeval"
INSTRUCTION = "Answer the question based on the document. Be concise."


def ensure_peer() -> Path:
    py = PEER_VENV / "bin" / "python"
    if not (PEER_VENV / "bin" / "lm_eval").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0", "lm-eval[api]"], check=True)
    return py


def write_data(folder: Path, n: int) -> Path:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    rows = []
    for i in range(n):
        doc = " ".join(words[(i + j) % len(words)] for j in range(120)) + f" The code of item {i} is {1000 + i}."
        rows.append({"id": f"q{i}", "question": f"What is the code of item {i}?", "answers": [str(1000 + i)],
                     "document": doc})
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def lmeval_task(folder: Path, data: Path) -> Path:
    tasks = folder / "tasks"
    tasks.mkdir()
    text = INSTRUCTION + "\n\nDocument:\n{{document}}\n\nQuestion: {{question}}\nAnswer:"
    (tasks / "peer_task.yaml").write_text(
        "task: lara_peer\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        f"doc_to_text: {json.dumps(text)}\n"
        "doc_to_target: \"{{answers[0]}}\"\n"
        "generation_kwargs:\n  until: [\"\\n\\n\"]\n  max_gen_toks: 32\n  do_sample: false\n  temperature: 0.0\n"
        "metric_list:\n  - metric: exact_match\n",
        encoding="utf-8",
    )
    return tasks


LARA_SNIPPET = """
import sys
from lara.config import resolve_spec
from lara.engine import run
data, url, out, conc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = resolve_spec("jsonl", "lc", "openai:loopback-model",
                    task_params={"path": data, "document_field": "document", "document_path_field": None},
                    model_params={"base_url": url, "max_retries": 1}, runner_params={"tokenizer": "words"},
                    generation={"max_tokens": 32, "stop": ["\\n\\n"]})
r = run(spec, output_root=out, max_connections=conc, use_cache=False)
assert r.summary["n_records"] == r.summary["n_expected"], r.summary
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, return code) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"# {cmd[0]} failed ({code}):\n{err[-3000:]}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code


def phase(srv: LoopbackServer, latency: float) -> float:
    arrivals = srv.arrivals
    return (arrivals[-1] - arrivals[0] + latency) if arrivals else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    peer_py = ensure_peer()
    with tempfile.TemporaryDirectory(prefix="lara-peer-") as tmp, \
            LoopbackServer(latency_s=args.latency, responder=lambda m, r: "1234") as srv:
        folder = Path(tmp)
        data = write_data(folder, args.n)
        env = {**os.environ, "LARA_CACHE_DIR": str(folder / "cache"), "HF_DATASETS_OFFLINE": "1",
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
               "OPENAI_API_KEY": "sk-loopback"}
        lara_cmd = [sys.executable, "-c", LARA_SNIPPET, str(data), srv.base_url, str(folder / "results"),
                    str(args.concurrency)]
        srv.reset()
        lara_wall, lara_mem, lara_rc = timed(lara_cmd, env)
        lara_n, lara_phase = srv.request_count, phase(srv, args.latency)

        tasks = lmeval_task(folder, data)
        peer_cmd = [
            str(peer_py), "-m", "lm_eval", "--model", "local-chat-completions",
            "--model_args", f"model=loopback-model,base_url={srv.base_url}/chat/completions,"
                            f"num_concurrent={args.concurrency},max_retries=1,tokenized_requests=False,"
                            "tokenizer_backend=None",
            "--tasks", "lara_peer", "--include_path", str(tasks), "--apply_chat_template",
            "--output_path", str(folder / "peer_out"), "--log_samples",
        ]
        srv.reset()
        peer_wall, peer_mem, peer_rc = timed(peer_cmd, env)
        peer_n, peer_phase = srv.request_count, phase(srv, args.latency)

    print(f"# lara: {lara_n} requests, wall {lara_wall:.1f}s, request phase {lara_phase:.1f}s, "
          f"peak RSS {lara_mem:.0f} MB, rc {lara_rc}", file=sys.stderr)
    print(f"# lm-eval: {peer_n} requests, wall {peer_wall:.1f}s, request phase {peer_phase:.1f}s, "
          f"peak RSS {peer_mem:.0f} MB, rc {peer_rc}", file=sys.stderr)
    if lara_rc or peer_rc or lara_n < args.n or peer_n < args.n:
        print("peer_status failed")
        sys.exit(1)
    print(f"peer_throughput_ratio_wall {(args.n / lara_wall) / (args.n / peer_wall):.2f}")
    print(f"peer_throughput_ratio_request_phase {(args.n / lara_phase) / (args.n / peer_phase):.2f}")
    print(f"peer_lara_peak_rss_mb {lara_mem:.0f}")
    print(f"peer_lmeval_peak_rss_mb {peer_mem:.0f}")


if __name__ == "__main__":
    main()
