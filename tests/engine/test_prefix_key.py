"""Finer prefix keys for truncated prompts: a task's ``prefix_key`` hook splits a document's samples
by what their prompts really share (LaRA: head + the tail slice fixed by the question's token
length), each key gets its own warm request, and keys of one document share the head, warmed once."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lara.protocols import ContextBlock
from lara.scheduling import OrderPolicy, PrefixDispatcher, dispatcher_for, document_key, task_prefix_key
from lara.tasks.lara import LaraTask
from lara.tokens import WordTokenizer
from lara.types import Document, Sample


class TailTask:
    """Minimal task whose long documents are cut like LaRA's: prompts share head + tail slice only
    when the question tails have the same length (metadata ``tail``); short documents fit."""

    def prefix_key(self, sample: Sample, tokenizer: object) -> str | None:
        tail = sample.metadata.get("tail")
        return None if tail is None else f"{document_key(sample)}#tail{tail}"


def make_samples(seed: int = 1) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for j in range(3):  # truncated documents: 12 questions over 4 tail lengths each
        doc = Document(id=f"long{j}", text=f"long document {j} " * 500)
        out += [Sample(id=f"long{j}-q{k}", question="?", documents=(doc,), metadata={"tail": rng.randrange(4)})
                for k in range(12)]
    for j in range(4):  # documents that fit: one shared prefix each
        doc = Document(id=f"short{j}", text=f"short document {j} " * 100)
        out += [Sample(id=f"short{j}-q{k}", question="?", documents=(doc,)) for k in range(5)]
    rng.shuffle(out)
    return out


def cold_prefills(dispatcher: PrefixDispatcher, key, concurrency: int, seed: int) -> tuple[int, int]:
    """Drive the dispatcher with random completions; count requests that start while no request
    with their head (document) resp. their full shared prefix (``key``) has finished: each such
    request prefills that part itself."""
    rng = random.Random(seed)
    running: list[Sample] = []
    done_heads: set[str] = set()
    done_keys: set[str] = set()
    cold_heads = cold_keys = 0
    while not dispatcher.exhausted or running:
        while len(running) < concurrency:
            s = dispatcher.next_ready()
            if s is None:
                break
            cold_heads += document_key(s) not in done_heads
            cold_keys += key(s) not in done_keys
            running.append(s)
        assert running, "dispatcher stalled with nothing in flight"
        s = running.pop(rng.randrange(len(running)))
        dispatcher.done(s)
        done_heads.add(document_key(s))
        done_keys.add(key(s))
    return cold_heads, cold_keys


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_each_shared_prefix_is_prefilled_once(seed):
    samples = make_samples(seed)
    task = TailTask()
    policy = OrderPolicy("prefix_warm")
    key = task_prefix_key(task, WordTokenizer(), policy)
    n_docs = len({document_key(s) for s in samples})
    n_keys = len({key(s) for s in samples})
    assert n_keys > n_docs  # the fixture really has several tail alignments per long document

    heads, keys = cold_prefills(dispatcher_for(samples, policy, task, WordTokenizer()), key, 8, seed)
    assert (heads, keys) == (n_docs, n_keys)  # one head prefill per document, one tail per key
    # the document key alone warms the head once but lets equal tails run cold side by side
    _, keys_plain = cold_prefills(PrefixDispatcher(samples, policy), key, 8, seed)
    assert keys_plain > n_keys
    # keys of one document queue together, so its head stays cached (LRU) between them
    docs = [document_key(s) for s in dispatcher_for(samples, policy, task, WordTokenizer()).order()]
    assert docs == sorted(docs, key=docs.index)


def test_hook_only_for_warm_policy_and_failures_fall_back():
    task = TailTask()
    s = make_samples()[0]
    assert task_prefix_key(task, WordTokenizer(), OrderPolicy("prefix_grouped")) is document_key
    assert task_prefix_key(object(), WordTokenizer(), OrderPolicy("prefix_warm")) is document_key

    class Broken:
        def prefix_key(self, sample, tokenizer):
            raise FileNotFoundError("gone")

    assert task_prefix_key(Broken(), WordTokenizer(), OrderPolicy())(s) == document_key(s)


def _lara_fixture(root: Path) -> Path:
    """One long book with questions of two word lengths, one short book (LaRA's real layout)."""
    ds = root / "datasets"
    (ds / "query").mkdir(parents=True)
    (ds / "32k" / "book").mkdir(parents=True)
    (ds / "32k" / "book" / "Long.txt").write_text("\n".join(f"Line {i} of the long book." for i in range(60)))
    (ds / "32k" / "book" / "Short.txt").write_text("A short book.")
    rows = [{"file": "Long.txt", "question": q, "answer": "x", "context_order": 0}
            for q in ("Who came first?", "Who came last?", "Who came in the middle?", "Who went away?")]
    rows.append({"file": "Short.txt", "question": "Who came first?", "answer": "x", "context_order": 0})
    (ds / "query" / "32k_book_location.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    for t in ("book", "financial", "paper"):
        for task in ("location", "reasoning", "comp", "hallu"):
            (ds / "query" / f"32k_{t}_{task}.jsonl").touch(exist_ok=True)
    return root


def _question_start(task: LaraTask, s: Sample, tok: WordTokenizer, limit: int) -> str:
    block, rep = task.fit_context(s, limit, tok)
    prompt = task.user_prompt(s, block)
    return prompt[: prompt.rfind("Question: ")] if rep.truncated else ""


def test_lara_hook_keys_by_kept_tail_alignment(tmp_path):
    limit = 200  # words; the long book is ~360, the short one far below
    task = LaraTask(data_dir=str(_lara_fixture(tmp_path)), lengths=["32k"], context_types=["book"],
                    categories=["location"], lc_max_prompt_tokens=limit)
    tok = WordTokenizer()
    samples = task.samples()
    keys = {s.id: task.prefix_key(s, tok) for s in samples}
    short = [s for s in samples if s.metadata["file"] == "Short.txt"]
    assert all(keys[s.id] is None for s in short)
    long = [s for s in samples if s.metadata["file"] == "Long.txt"]
    assert all(keys[s.id] and keys[s.id].startswith(document_key(s)) for s in long)
    assert len({keys[s.id] for s in long}) == 2  # three-word questions vs the five-word one
    # prompts with one key share everything up to the question; with different keys only the head
    for a in long:
        for b in long:
            pa, pb = _question_start(task, a, tok, limit), _question_start(task, b, tok, limit)
            assert (pa == pb) == (keys[a.id] == keys[b.id])


def test_real_lara_keys_match_truncation_and_shared_prefixes(shared_data):
    from lara.tokens import get_tokenizer

    tok = get_tokenizer("cl100k")
    task = LaraTask(data_dir=str(shared_data / "lara"), lengths=["128k"], context_types=["book"])
    samples = task.samples()
    keys = {s.id: task.prefix_key(s, tok) for s in samples}
    cut_docs = {s.documents[0].id for s in samples if keys[s.id]}
    assert cut_docs and all(d.startswith("lara/128k/book/") for d in cut_docs)
    limit = task.lc_max_prompt_tokens
    for s in samples:  # on the documents near the limit, the key agrees with a full count
        if s.documents[0].id in cut_docs:
            full = task.user_prompt(s, ContextBlock(mode="long_context"))
            assert (keys[s.id] is not None) == (tok.count(full) > limit), s.id
    # two questions with one key: the truncated prompts agree up to the question
    by_key: dict[str, list[Sample]] = {}
    for s in samples:
        if keys[s.id]:
            by_key.setdefault(keys[s.id], []).append(s)
    a, b = next(g for g in by_key.values() if len(g) >= 2)[:2]
    pa, pb = (task.user_prompt(x, task.fit_context(x, None, tok)[0]) for x in (a, b))
    assert pa[: pa.rfind("Question: ")] == pb[: pb.rfind("Question: ")]
