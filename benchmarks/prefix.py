"""Prefix-cache simulation on the real LaRA 128k LC request stream: shuffled order vs lara's scheduler.

A server-side prefix cache (vLLM style) is simulated as an LRU over 16-token blocks identified by
a hash chain (a block is reusable only with its whole prefix), capacity 2M tokens by default. Blocks
of running requests are pinned; a request's blocks become reusable when its prefill has finished
(concurrent cold requests for one document each prefill it). Time is in token units: prefill costs
1 per token, decoding a fixed ``--decode-cost``; ``--concurrency`` requests run at once.

The stream is every LaRA 128k question's LC prompt (system + the paper's template with the whole
document + question), tokenized with cl100k. To keep this fast each document is tokenized once
with the template head and each question tail separately (the join between the two is the only
approximation); prompts over the paper's 127k limit are cut in the middle like the task does.

Printed: prefilled tokens / unique-prefix tokens (the minimum any cache could prefill: each distinct
block once) for (a) the dataset order shuffled, FIFO dispatch, and (b) lara.scheduling's
``prefix_warm`` dispatcher bounded by the cache size, built exactly as the engine builds it
(:func:`lara.scheduling.dispatcher_for`: the task's ``prefix_key`` hook, which splits a truncated
document's questions by kept-tail alignment); also the simulated makespan ratio.

    python benchmarks/prefix.py [--data-dir DIR] [--capacity-tokens 2000000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lara.scheduling import OrderPolicy, dispatcher_for, document_key  # noqa: E402

BLOCK = 16


@dataclass
class Request:
    sample: object
    blocks: list[int]  # ids of full blocks, in prompt order
    partial: int  # tokens of the last, partial block (never cached)

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


class PrefixCache:
    def __init__(self, capacity_tokens: int) -> None:
        self.capacity = max(1, capacity_tokens // BLOCK)
        self.lru: OrderedDict[int, None] = OrderedDict()
        self.pins: dict[int, int] = {}

    def lookup(self, blocks: list[int]) -> int:
        hits = 0
        for b in blocks:
            if b not in self.lru:
                break
            self.lru.move_to_end(b)
            hits += 1
        return hits

    def pin(self, blocks: list[int], delta: int) -> None:
        for b in blocks:
            n = self.pins.get(b, 0) + delta
            if n:
                self.pins[b] = n
            else:
                self.pins.pop(b, None)

    def insert(self, blocks: list[int]) -> None:
        for b in blocks:
            self.lru[b] = None
            self.lru.move_to_end(b)
        budget = len(self.lru)
        while len(self.lru) > self.capacity and budget > 0:
            b, _ = self.lru.popitem(last=False)
            budget -= 1
            if b in self.pins:  # in use by a running request: keep it
                self.lru[b] = None


def simulate(requests: list[Request], next_request, done, capacity: int, concurrency: int, decode_cost: float):
    """Event simulation; ``next_request()`` -> Request|None, ``done(req)``. Returns (prefilled, makespan)."""
    cache = PrefixCache(capacity)
    now, prefilled, seq = 0.0, 0, 0
    events: list[tuple[float, int, str, Request]] = []
    running = 0
    while True:
        while running < concurrency:
            req = next_request()
            if req is None:
                break
            hits = cache.lookup(req.blocks)
            cost = req.tokens - hits * BLOCK
            prefilled += cost
            cache.pin(req.blocks, +1)
            running += 1
            heapq.heappush(events, (now + cost, seq, "prefilled", req))
            heapq.heappush(events, (now + cost + decode_cost, seq + 1, "finished", req))
            seq += 2
        if not events:
            break
        now, _, kind, req = heapq.heappop(events)
        if kind == "prefilled":
            cache.insert(req.blocks)
        else:
            cache.pin(req.blocks, -1)
            running -= 1
            done(req)
    return prefilled, now


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("LARA_DATA_DIR") or "/work/shared/data/lara")
    ap.add_argument("--capacity-tokens", type=int, default=2_000_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--decode-cost", type=float, default=2000.0, help="decode time in prefill-token units")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-fill", type=float, default=0.8, help="share of the cache documents in flight may fill")
    args = ap.parse_args()

    t0 = time.perf_counter()
    reqs, task, tok = build_stream(args.data_dir, args.limit)
    unique = len({b for r in reqs for b in r.blocks}) * BLOCK + sum(r.partial for r in reqs)
    total = sum(r.tokens for r in reqs)
    print(f"# {len(reqs)} requests, {len({document_key(r.sample) for r in reqs})} documents, "
          f"{total:,} prompt tokens, {unique:,} unique-prefix tokens "
          f"(built in {time.perf_counter() - t0:.1f}s)", file=sys.stderr)

    shuffled = list(reqs)
    random.Random(args.seed).shuffle(shuffled)
    it = iter(shuffled)
    pre_a, span_a = simulate(shuffled, lambda: next(it, None), lambda r: None,
                             args.capacity_tokens, args.concurrency, args.decode_cost)

    by_id = {r.sample.id: r for r in reqs}
    policy = OrderPolicy("prefix_warm", prefix_cache_tokens=args.capacity_tokens, cache_fill=args.cache_fill)
    # the engine's code path (lara.engine): the task's prefix_key hook, the default size estimate
    t0 = time.perf_counter()
    disp = dispatcher_for([r.sample for r in shuffled], policy, task, tok)
    print(f"# dispatcher (prefix keys) built in {time.perf_counter() - t0:.2f}s", file=sys.stderr)

    def next_b():
        s = disp.next_ready()
        return by_id[s.id] if s is not None else None

    pre_b, span_b = simulate(shuffled, next_b, lambda r: disp.done(r.sample),
                             args.capacity_tokens, args.concurrency, args.decode_cost)
    print(f"prefix_ratio_shuffled {pre_a / unique:.3f}")
    print(f"prefix_ratio_scheduled {pre_b / unique:.3f}")
    print(f"prefix_makespan_ratio_shuffled_over_scheduled {span_a / span_b:.2f}")
    print(f"prefix_max_docs_in_flight {disp.max_docs_open}")


if __name__ == "__main__":
    main()
