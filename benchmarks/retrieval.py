"""Retrieval benchmark: chunk + BM25-index speed vs llama-index, and embed-once for dense retrieval.

(a) Chunk every LaRA document (600/100 cl100k tokens, sentence-aware) and build one BM25 index per
document (as the RAG runner does per document set), then do the same with llama-index's
SentenceSplitter + BM25Retriever, installed only in ``benchmarks/.venv-peer`` (created here on first
use), in the same run with the same cl100k implementation (bpe-openai). Prints ``speedup <ratio>``.
(b) Dense: one fresh retriever per question of the chosen length's query files (the worst case, no
per-run index reuse), all sharing one embedding store in a temporary cache dir; prints
``embedded_per_unique`` (embeddings computed / unique chunk texts) and, with a new encoder over the
same store (a second run), ``second_run_embedded``.

    python benchmarks/retrieval.py [--dense-length 32k|128k|none] [--skip-peer]
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
PEER = Path(__file__).resolve().parent / ".venv-peer"
PEER_PACKAGES = ["llama-index-core", "llama-index-retrievers-bm25", "bpe-openai"]

PEER_SCRIPT = r"""
import json, sys, time
from pathlib import Path
import bpe_openai
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.retrievers.bm25 import BM25Retriever

files = json.loads(sys.argv[1])
enc = bpe_openai.get_encoding("cl100k_base")
splitter = SentenceSplitter(chunk_size=600, chunk_overlap=100, tokenizer=enc.encode_ordinary)
texts = [Path(f).read_text(encoding="utf-8") for f in files]
splitter.split_text("Warm up. The tokenizer and sentence models load here.")
t0, c0 = time.perf_counter(), time.process_time()
n = 0
for f, text in zip(files, texts):
    nodes = splitter.get_nodes_from_documents([Document(text=text, id_=f)])
    BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=5)
    n += len(nodes)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "chunks": n}))
"""


def data_dir() -> Path:
    """The LaRA ``datasets`` folder, resolved as the task does (LARA_DATA_DIR may name either level)."""
    from lara.tasks.lara import resolve_data_dir

    return resolve_data_dir()


def lara_files(lengths: tuple[str, ...] = ("32k", "128k")) -> list[Path]:
    files = sorted(p for n in lengths for p in (data_dir() / n).glob("*/*") if p.is_file())
    if not files:  # a ratio of two empty runs would be meaningless
        raise SystemExit(f"no LaRA documents under {data_dir()} for {lengths}; set LARA_DATA_DIR")
    return files


def ensure_peer() -> Path | None:
    py = PEER / "bin" / "python"
    marker = PEER / ".installed"
    if marker.exists():
        return py
    print(f"# creating {PEER} and installing {' '.join(PEER_PACKAGES)} from PyPI", flush=True)
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEER)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"# peer not installable: {exc}")
        return None
    marker.write_text("ok\n")
    return py


def ours(files: list[Path]) -> tuple[float, float, int]:
    from lara.retrievers.bm25 import BM25Retriever
    from lara.retrievers.chunking import SentenceChunker
    from lara.types import Document

    chunker = SentenceChunker(600, 100, "cl100k")
    texts = [f.read_text(encoding="utf-8") for f in files]
    chunker.tokenizer.count("warm up")
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for f, text in zip(files, texts):
        chunks = chunker.chunk(Document(f.name, text))
        BM25Retriever().index(chunks)
        n += len(chunks)
    return time.perf_counter() - t0, time.process_time() - c0, n


def bench_bm25(skip_peer: bool) -> None:
    files = lara_files()
    wall, cpu, n = ours(files)
    print(f"# ours: {len(files)} documents, {n} chunks, chunk+bm25 index {cpu:.2f}s CPU ({wall:.2f}s wall)")
    print(f"ours_cpu_seconds {cpu:.3f}")
    if skip_peer:
        return
    py = ensure_peer()
    if py is None:
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(py), "-c", PEER_SCRIPT, json.dumps([str(f) for f in files])],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"# peer failed: {out.stderr.strip()[-2000:]}")
        return
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"# llama-index: {peer['chunks']} chunks, chunk+bm25 index {peer['cpu']:.2f}s CPU "
          f"({peer['wall']:.2f}s wall)")
    print(f"peer_cpu_seconds {peer['cpu']:.3f}")
    # CPU time, not wall time: the machine is shared, so wall time measures the neighbours too.
    print(f"speedup {peer['cpu'] / cpu:.2f}")
    print(f"speedup_wall {peer['wall'] / wall:.2f}")


def questions(length: str) -> list[str]:
    """Document file names of every question of ``length`` (one entry per question)."""
    names = []
    for qf in sorted((data_dir() / "query").glob(f"{length}_*.jsonl")):
        with qf.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    names.append(json.loads(line)["file"])
    return names


def bench_dense(length: str) -> None:
    from lara.retrievers.chunking import SentenceChunker
    from lara.retrievers.dense import DenseRetriever, Encoder
    from lara.types import Document

    by_name = {p.name: p for p in lara_files((length,))}
    qs = [q for q in questions(length) if q in by_name]
    chunker = SentenceChunker(600, 100, "cl100k")
    chunks = {name: chunker.chunk(Document(name, by_name[name].read_text(encoding="utf-8")))
              for name in sorted(set(qs))}
    unique = len({c.text for cs in chunks.values() for c in cs})
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "emb.sqlite")
        proto = DenseRetriever(cache_path=store)
        t0 = time.perf_counter()
        for name in qs:  # a fresh index per question: only the embedding store prevents re-embedding
            proto.fresh().index(chunks[name])
        secs = time.perf_counter() - t0
        print(f"# dense ({length}): {len(qs)} questions over {len(chunks)} documents, "
              f"{unique} unique chunks, computed {proto.computed}, served from cache "
              f"{proto.from_cache}, {secs:.1f}s")
        print(f"embedded_per_unique {proto.computed / unique:.2f}")
        second = DenseRetriever(encoder=Encoder(cache_path=store))
        for cs in chunks.values():
            second.fresh().index(cs)
        print(f"second_run_embedded {second.computed}")


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dense-length", default="32k", help="32k, 128k or none")
    ap.add_argument("--skip-peer", action="store_true", help="do not run llama-index")
    args = ap.parse_args()
    bench_bm25(args.skip_peer)
    if args.dense_length != "none":
        bench_dense(args.dense_length)


if __name__ == "__main__":
    main()
