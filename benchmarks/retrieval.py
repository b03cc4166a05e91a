"""Retrieval benchmark: chunk + BM25-index speed vs llama-index, and embed-once for dense retrieval.

(a) Chunk every LaRA document (600/100 cl100k tokens, sentence-aware) and build one BM25 index per
document (as the RAG runner does per document set), then do the same with llama-index's
SentenceSplitter + BM25Retriever, installed only in ``benchmarks/.venv-peer`` (created here on first
use), in the same run with the same cl100k implementation (bpe-openai). Prints ``speedup <ratio>``.
(b) Dense: one fresh retriever per question of the chosen length's query files (the worst case, no
per-run index reuse), all sharing one embedding store in a temporary cache dir. Chunks are embedded
through encoder-sized windows (lara.retrievers.dense), so the unit embedded is a window: prints
``windows_per_chunk`` (mean), ``embedded_per_unique`` (embeddings computed / unique window texts:
1.00 means every window embedded once) and, with a new encoder over the same store (a second run),
``second_run_embedded``.
(c) ``--hit-rate 32k``: what windows change for dense retrieval. Over the location questions of that
length whose reference answer occurs verbatim (case- and space-folded, final period dropped) in some
chunk of their document, the share whose top-k dense hits include such an answer-bearing chunk, for
``pooling`` truncate (the whole chunk as MiniLM reads it: its first 256 word pieces, the behaviour
before windows), mean and max (the default). Prints ``hit_at_<k>_<pooling>``.

    python benchmarks/retrieval.py [--dense-length 32k|128k|none] [--skip-peer] [--hit-rate 32k|none]
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
from typing import Any

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


def _chunks_by_document(length: str) -> tuple[dict[str, Any], list[str]]:
    from lara.retrievers.chunking import SentenceChunker
    from lara.types import Document

    by_name = {p.name: p for p in lara_files((length,))}
    qs = [q for q in questions(length) if q in by_name]
    chunker = SentenceChunker(600, 100, "cl100k")
    chunks = {name: chunker.chunk(Document(name, by_name[name].read_text(encoding="utf-8")))
              for name in sorted(set(qs))}
    return chunks, qs


def bench_dense(length: str) -> None:
    from lara.retrievers.dense import DenseRetriever, Encoder

    chunks, qs = _chunks_by_document(length)
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "emb.sqlite")
        proto = DenseRetriever(cache_path=store)
        texts = {c.text for cs in chunks.values() for c in cs}
        windows = {w for t in texts for w in proto.encoder.windows(t)}
        t0 = time.perf_counter()
        for name in qs:  # a fresh index per question: only the embedding store prevents re-embedding
            proto.fresh().index(chunks[name])
        secs = time.perf_counter() - t0
        print(f"# dense ({length}): {len(qs)} questions over {len(chunks)} documents, "
              f"{len(texts)} unique chunks, {len(windows)} unique windows, computed {proto.computed}, "
              f"served from cache {proto.from_cache}, {secs:.1f}s")
        print(f"windows_per_chunk {sum(len(proto.encoder.windows(t)) for t in texts) / len(texts):.2f}")
        print(f"embedded_per_unique {proto.computed / len(windows):.2f}")
        second = DenseRetriever(encoder=Encoder(cache_path=store))
        for cs in chunks.values():
            second.fresh().index(cs)
        print(f"second_run_embedded {second.computed}")


def _fold(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".").strip()


def bench_hit_rate(length: str, ks: tuple[int, ...] = (2, 5), max_docs: int | None = None) -> None:
    """Answer-bearing chunk in the top-k dense hits, per pooling mode (see the module docstring);
    ``max_docs``: only the questions of the first that many documents (sorted by name)."""
    from lara.retrievers.dense import POOLINGS, DenseRetriever, Encoder

    chunks, _ = _chunks_by_document(length)
    cases = []
    for qf in sorted((data_dir() / "query").glob(f"{length}_*_location.jsonl")):
        with qf.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                ref = _fold(str(row["answer"]))
                doc = chunks.get(row["file"])
                if doc is None or len(ref) < 3:
                    continue
                gold = {c.id for c in doc if ref in _fold(c.text)}
                if gold:
                    cases.append((row["file"], row["question"], gold))
    if max_docs:
        keep = sorted({c[0] for c in cases})[:max_docs]
        cases = [c for c in cases if c[0] in keep]
    print(f"# hit rate ({length} location): {len(cases)} questions over {len({c[0] for c in cases})} documents "
          "whose answer occurs verbatim in a chunk")
    with tempfile.TemporaryDirectory() as tmp:
        encoder = Encoder(cache_path=str(Path(tmp) / "emb.sqlite"))
        for pooling in POOLINGS:
            hits = {k: 0 for k in ks}
            by_doc: dict[str, Any] = {}
            for name, question, gold in cases:
                r = by_doc.get(name)
                if r is None:
                    r = by_doc[name] = DenseRetriever(pooling=pooling, encoder=encoder)
                    r.index(chunks[name])
                found = [h.chunk.id for h in r.search(question, max(ks))]
                for k in ks:
                    hits[k] += bool(gold & set(found[:k]))
            for k in ks:
                print(f"hit_at_{k}_{pooling} {hits[k] / len(cases):.3f}")


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dense-length", default="32k", help="32k, 128k or none")
    ap.add_argument("--skip-peer", action="store_true", help="do not run llama-index")
    ap.add_argument("--hit-rate", default="none", help="32k, 128k or none: dense hit rate per pooling mode")
    ap.add_argument("--only-hit-rate", action="store_true", help="skip (a) and (b)")
    ap.add_argument("--hit-rate-docs", type=int, default=None, help="limit (c) to the first N documents")
    args = ap.parse_args()
    if not args.only_hit_rate:
        bench_bm25(args.skip_peer)
        if args.dense_length != "none":
            bench_dense(args.dense_length)
    if args.hit_rate != "none":
        bench_hit_rate(args.hit_rate, max_docs=args.hit_rate_docs)


if __name__ == "__main__":
    main()
