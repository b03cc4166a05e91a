"""Prefix-cache simulation on the real LaRA 128k LC request stream: shuffled order vs lara's scheduler
at the CLI defaults (``--prefix-cache-tokens auto``), for servers whose KV cache holds 2, 4 and 16
documents.

The server is simulated like vLLM: a KV cache of ``capacity`` tokens in 16-token blocks identified
by a hash chain (a block is reusable only with its whole prefix). A running request holds KV memory
for its whole prompt (blocks it shares with other running requests counted once) plus its answer,
so long prompts compete for the cache: requests wait in the server's FIFO queue until the head one
fits (free blocks plus cached blocks no running request uses, evicted least recently used, a
request's tail blocks first). A prompt's blocks become reusable when its prefill has finished
(concurrent cold requests for one document each prefill it). Time is in token units: an admitted
request prefills its uncached tokens at 1 per token, then decodes for ``--decode-cost``; admitted
requests run side by side (the optimistic view of concurrency: the cost of an idle connection shows
fully). ``--connections`` requests are in flight from the client (queued or running).

The stream is every LaRA 128k question's LC prompt (system + the paper's template with the whole
document + question), tokenized with cl100k. To keep this fast each document is tokenized once
with the template head and each question tail separately (the join between the two is the only
approximation); prompts over the paper's 127k limit are cut in the middle like the task does.

Order (a) is the dataset order shuffled, FIFO dispatch; (b) is lara's ``prefix_warm`` dispatcher
built exactly as ``lara run`` builds it at its defaults: :func:`lara.scheduling.policy_for` with
``auto`` asks the (loopback) server's ``/metrics`` for its cache size, which the simulated server
publishes as vLLM does; :func:`lara.scheduling.dispatcher_for` adds the task's ``prefix_key`` hook.
Printed per cache size: prefilled tokens / unique-prefix tokens (the minimum any cache could
prefill: each distinct block once) for both orders, the makespan ratio (shuffled / scheduled) and
the most documents the scheduler had open; then the same when the server does not publish its size
(the stated default applies).

    python benchmarks/prefix.py [--data-dir DIR] [--connections 32] [--docs 2,4,16]
"""

from __future__ import annotations

import argparse
import heapq
import logging
import os
import random
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lara.backends.server_metrics import parse_cache_setting  # noqa: E402
from lara.scheduling import dispatcher_for, document_key, policy_for, token_counter  # noqa: E402

BLOCK = 16


@dataclass
class Request:
    sample: object
    blocks: list[int]  # ids of full blocks, in prompt order
    partial: int  # tokens of the last, partial block (never cached)
    hits: int = 0  # blocks found cached at admission

    @property
    def tokens(self) -> int:
        return len(self.blocks) * BLOCK + self.partial


class BlockIds:
    """Hash-chained block ids: block i's id depends on all tokens before it (like vLLM)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, tuple[int, ...]], int] = {}

    def chain(self, tokens: list[int], parent: int = -1, start: int = 0) -> list[int]:
        out = []
        for i in range(start, len(tokens) - BLOCK + 1, BLOCK):
            key = (parent, tuple(tokens[i : i + BLOCK]))
            parent = self.ids.setdefault(key, len(self.ids))
            out.append(parent)
        return out


def build_stream(data_dir: str | None, limit: int | None) -> tuple[list[Request], object, object]:
    """The requests, plus the task and tokenizer (the scheduler asks the task for prefix keys)."""
    from lara.tasks.lara import LaraTask, load_prompts
    from lara.tokens import get_tokenizer

    tok = get_tokenizer("cl100k")
    prompts = load_prompts()
    task = LaraTask(data_dir=data_dir, lengths=["128k"])
    samples = task.samples()[: limit or None]
    cap = task.lc_max_prompt_tokens
    system = list(tok.encode(prompts["system"])) + [100257]  # a message separator token
    ids = BlockIds()
    heads: dict[str, tuple[list[int], list[int]]] = {}  # doc key -> (tokens, block ids)
    out = []
    for s in samples:
        key = document_key(s)
        template = prompts["long_context"][s.metadata["context_type"]]
        prefix, _, suffix = template.partition("{context}")
        if key not in heads:
            toks = system + list(tok.encode(prefix + s.documents[0].load_text()))
            heads[key] = (toks, ids.chain(toks))
        head, head_blocks = heads[key]
        user = head[len(system):] + list(tok.encode(suffix.format(question=s.question)))
        agree = len(head)  # tokens the prompt shares with the document head
        if len(user) > cap:  # the paper's middle cut of the whole prompt
            user = user[: cap // 2] + user[len(user) - (cap - cap // 2):]
            agree = min(agree, len(system) + cap // 2)
        toks = system + user
        same = min(len(head_blocks), agree // BLOCK)  # reuse the document's chain, then continue it
        blocks = head_blocks[:same] + ids.chain(toks, head_blocks[same - 1] if same else -1, same * BLOCK)
        out.append(Request(s, blocks, len(toks) % BLOCK))
    return out, task, tok


class KVServer:
    """vLLM-like KV memory: computed blocks (shared, refcounted) + blocks running requests hold."""

    def __init__(self, capacity_tokens: int, decode_tokens: int) -> None:
        self.capacity = capacity_tokens // BLOCK
        self.private = -(-(decode_tokens) // BLOCK)  # answer blocks per request (plus its partial block)
        self.cached: dict[int, int] = {}  # computed block -> number of running requests using it
        self.free: OrderedDict[int, None] = OrderedDict()  # computed blocks nobody uses, LRU first
        self.allocated = 0  # blocks held outside `cached`: prompts being prefilled, answers
        self.queue: deque[Request] = deque()

    def admit(self) -> Request | None:
        """Admit the head of the queue if its KV memory fits (evicting unused cached blocks)."""
        if not self.queue:
            return None
        req = self.queue[0]
        hits = 0
        for b in req.blocks:
            if b not in self.cached:
                break
            hits += 1
        idle_hits = sum(1 for b in req.blocks[:hits] if self.cached[b] == 0)
        need = len(req.blocks) - hits + self.private + 1
        room = self.capacity - len(self.cached) - self.allocated + len(self.free) - idle_hits
        if need > room:
            if len(self.cached) + self.allocated == len(self.free):
                raise RuntimeError(f"a request of {req.tokens} tokens does not fit a {self.capacity * BLOCK}-token cache")
            return None
        self.queue.popleft()
        for b in req.blocks[:hits]:
            if self.cached[b] == 0:
                del self.free[b]
            self.cached[b] += 1
        while self.capacity - len(self.cached) - self.allocated < need:
            b, _ = self.free.popitem(last=False)
            del self.cached[b]
        self.allocated += need
        req.hits = hits
        return req

    def prefilled(self, req: Request) -> None:
        """The prompt's new blocks are computed: shareable from now on (a copy another request
        computed meanwhile wins; this one's memory is freed)."""
        for b in req.blocks[req.hits:]:
            self.allocated -= 1
            n = self.cached.get(b)
            if n is None:
                self.cached[b] = 1
            else:
                if n == 0:
                    del self.free[b]
                self.cached[b] = n + 1

    def finished(self, req: Request) -> None:
        self.allocated -= self.private + 1
        for b in reversed(req.blocks):  # the tail is evicted before the head (as vLLM frees them)
            n = self.cached[b] - 1
            self.cached[b] = n
            if n == 0:
                self.free[b] = None


def simulate(next_request, done, capacity: int, connections: int, decode_cost: float, decode_tokens: int):
    """Event simulation; ``next_request()`` -> Request|None, ``done(req)``. Returns (prefilled, makespan)."""
    server = KVServer(capacity, decode_tokens)
    now, prefilled, seq, in_flight = 0.0, 0, 0, 0
    events: list[tuple[float, int, str, Request]] = []
    while True:
        while in_flight < connections:
            req = next_request()
            if req is None:
                break
            server.queue.append(req)
            in_flight += 1
        while (req := server.admit()) is not None:
            cost = req.tokens - req.hits * BLOCK
            prefilled += cost
            heapq.heappush(events, (now + cost, seq, "prefilled", req))
            heapq.heappush(events, (now + cost + decode_cost, seq + 1, "finished", req))
            seq += 2
        if not events:
            break
        now, _, kind, req = heapq.heappop(events)
        if kind == "prefilled":
            server.prefilled(req)
        else:
            server.finished(req)
            in_flight -= 1
            done(req)
    assert in_flight == 0 and not server.queue
    return prefilled, now


def cli_default_policy(metrics_text: str | None):
    """The order ``lara run`` uses at its defaults against a server publishing ``metrics_text``."""
    from lara.backends.base import build_backend
    from lara.registry import runners
    from lara.testing.openai_server import LoopbackServer
    from lara.types import GenerateConfig

    with LoopbackServer(metrics_text=metrics_text) as srv:
        backend = build_backend("openai:simulated", {"base_url": srv.base_url})
        return policy_for(runners.get("long_context"), parse_cache_setting("auto"), backend,
                          GenerateConfig().max_tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("LARA_DATA_DIR") or "/work/shared/data/lara")
    ap.add_argument("--docs", default="2,4,16", help="cache sizes, in documents of the largest prompt")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--decode-cost", type=float, default=2000.0, help="decode time in prefill-token units")
    ap.add_argument("--decode-tokens", type=int, default=64, help="answer tokens each request holds in the cache")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.disable(logging.WARNING)

    t0 = time.perf_counter()
    reqs, task, tok = build_stream(args.data_dir, args.limit)
    unique = len({b for r in reqs for b in r.blocks}) * BLOCK + sum(r.partial for r in reqs)
    total = sum(r.tokens for r in reqs)
    largest = max(r.tokens for r in reqs) + args.decode_tokens + BLOCK
    print(f"# {len(reqs)} requests, {len({document_key(r.sample) for r in reqs})} documents, "
          f"{total:,} prompt tokens, {unique:,} unique-prefix tokens, largest prompt {largest - args.decode_tokens - BLOCK:,} "
          f"(built in {time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    shuffled = list(reqs)
    random.Random(args.seed).shuffle(shuffled)
    by_id = {r.sample.id: r for r in reqs}
    count = token_counter(tok)  # shared across runs so each document is counted once here

    def scheduled(policy, capacity: int) -> tuple[int, float, object]:
        disp = dispatcher_for([r.sample for r in shuffled], policy, task, tok, doc_tokens=count)

        def next_b():
            s = disp.next_ready()
            return by_id[s.id] if s is not None else None

        for r in reqs:
            r.hits = 0
        pre, span = simulate(next_b, lambda r: disp.done(r.sample), capacity, args.connections,
                             args.decode_cost, args.decode_tokens)
        return pre, span, disp

    for docs in (int(x) for x in args.docs.split(",")):
        capacity = docs * largest
        it = iter(shuffled)
        pre_a, span_a = simulate(lambda: next(it, None), lambda r: None, capacity, args.connections,
                                 args.decode_cost, args.decode_tokens)
        for label, text in (("", f'vllm:cache_config_info{{block_size="{BLOCK}",enable_prefix_caching="True",'
                                  f'num_gpu_blocks="{capacity // BLOCK}"}} 1.0\n'), ("_server_silent", None)):
            policy = cli_default_policy(text)
            pre_b, span_b, disp = scheduled(policy, capacity)
            p = f"docs={docs}{label}"
            print(f"{p} cache_tokens {capacity} planned_with {policy.prefix_cache_tokens} ({policy.source})")
            print(f"{p} prefix_ratio_scheduled {pre_b / unique:.3f}")
            print(f"{p} prefix_ratio_shuffled {pre_a / unique:.3f}")
            print(f"{p} makespan_ratio {span_a / span_b:.2f}")
            print(f"{p} max_docs_in_flight {disp.max_docs_open}", flush=True)


if __name__ == "__main__":
    main()
