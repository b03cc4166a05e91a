"""A deterministic synthetic long-context task (RULER-style control) that runs offline.

Haystacks of filler prose at target lengths have facts planted at controlled depths, and four
question categories mirror LaRA: *location* (one planted fact), *comparison* (two facts far
apart), *reasoning* (a two-hop chain), *hallucination* (asks for a fact that is absent; the right
answer is a refusal). Every question carries its decomposition (sub-question -> answer), which
IterDRAG shows in its demonstrations (``decomposition`` hook). Several questions share one
document so LC runs are prefix-cache friendly.
Lengths are counted in whitespace words (about 1.3 BPE tokens each) so the task needs no tokenizer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator

from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.types import Document, Message, Sample

CATEGORIES = ("location", "comparison", "reasoning", "hallucination")
SYSTEM = "You are a helpful assistant."
REFUSAL_REFERENCE = "The document does not mention this."

_ADJ = "quiet bright ancient hollow northern silver crooked gentle distant narrow golden".split()
_NOUN = "river market garden bridge tower lantern meadow harbor library orchard workshop".split()
_VERB = "borders overlooks shelters follows faces surrounds crosses guards echoes".split()
_PLACE = "valley hills coast village square forest plain canal station island".split()
_PEOPLE = "Alma Bruno Chiara Dmitri Elif Farid Greta Hiro Ines Jonas Kavya Lior Mirela Nuno".split()
_CITIES = "Varnholm Quillport Estragon Brisa Maldoven Otterly Pellucid Zandria Corvale Lunet".split()
_THINGS = "glass bells, salt caves, paper kites, copper roofs, night markets, blue cheese, clock towers, river ferries".split(", ")
_VAULTS = "amber cobalt crimson ivory jade onyx saffron teal umber violet".split()
_TOWERS = "Heron Falcon Osprey Kestrel Plover Wren Lark Swift".split()


def length_bucket(words: int) -> str:
    return f"{round(words / 1000)}k" if words >= 1000 else str(words)


@dataclass(frozen=True)
class _Fact:
    sentence: str
    depth: float


def _filler(rng: random.Random) -> str:
    return (
        f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} the "
        f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} near the {rng.choice(_PLACE)}."
    )


def build_haystack(n_words: int, facts: list[_Fact], rng: random.Random) -> str:
    """Filler sentences up to ``n_words`` with each fact inserted at its relative depth."""
    sentences: list[str] = []
    count = sum(len(f.sentence.split()) for f in facts)  # the target includes the planted facts
    while count < n_words:
        s = _filler(rng)
        sentences.append(s)
        count += len(s.split())
    for fact in sorted(facts, key=lambda f: f.depth, reverse=True):
        pos = min(len(sentences), max(0, round(fact.depth * len(sentences))))
        sentences.insert(pos, fact.sentence)
    paras = [" ".join(sentences[i : i + 8]) for i in range(0, len(sentences), 8)]
    return "\n\n".join(paras)


@tasks.register("synthetic")
class SyntheticTask:
    """Synthetic haystacks with planted facts: location, comparison, reasoning, hallucination."""

    name = "synthetic"
    version = "1"
    default_scorer = "synthetic_exact"

    def __init__(
        self,
        lengths: list[int] | tuple[int, ...] = (1000, 3000),
        n_docs: int = 2,
        seed: int = 0,
        categories: list[str] | tuple[str, ...] = CATEGORIES,
        depths: list[float] | tuple[float, ...] = (0.1, 0.5, 0.9),
    ) -> None:
        bad = [c for c in categories if c not in CATEGORIES]
        if bad:
            raise ValueError(f"unknown categories {bad}; valid: {', '.join(CATEGORIES)}")
        if n_docs < 1 or not lengths:
            raise ValueError("n_docs must be >= 1 and lengths non-empty")
        self.lengths = tuple(int(x) for x in lengths)
        self.n_docs = n_docs
        self.seed = seed
        self.categories = tuple(categories)
        self.depths = tuple(float(d) for d in depths)
        self.data_revision = f"synthetic-v{self.version}-seed{seed}"

    def samples(self) -> Iterator[Sample]:
        for length in self.lengths:
            for j in range(self.n_docs):
                yield from self._document_samples(length, j)

    def _document_samples(self, length: int, j: int) -> Iterator[Sample]:
        rng = random.Random(f"{self.seed}:{length}:{j}")
        depth = self.depths[j % len(self.depths)]
        vault, absent = rng.sample(_VAULTS, 2)
        code = str(rng.randint(1000, 9999))
        t1, t2 = rng.sample(_TOWERS, 2)
        h1, h2 = rng.sample(range(40, 400), 2)
        person, city, thing = rng.choice(_PEOPLE), rng.choice(_CITIES), rng.choice(_THINGS)
        facts: dict[str, tuple[Any, ...]] = {
            "location": ([_Fact(f"The access code for the {vault} vault is {code}.", depth)],
                         f"What is the access code for the {vault} vault?", (code,), {"depth": depth},
                         [(f"Which access code does the document give for the {vault} vault?", code)]),
            "comparison": ([_Fact(f"The {t1} tower is {h1} meters tall.", 0.2),
                            _Fact(f"The {t2} tower is {h2} meters tall.", 0.8)],
                           f"Which is taller, the {t1} tower or the {t2} tower?",
                           (t1 if h1 > h2 else t2,), {"depths": [0.2, 0.8], "distractor": t2 if h1 > h2 else t1},
                           [(f"How tall is the {t1} tower?", f"{h1} meters"),
                            (f"How tall is the {t2} tower?", f"{h2} meters")]),
            "reasoning": ([_Fact(f"{person} lives in the city of {city}.", 0.3),
                           _Fact(f"The city of {city} is famous for its {thing}.", 0.7)],
                          f"What is the city where {person} lives famous for?", (thing,), {"depths": [0.3, 0.7]},
                          [(f"In which city does {person} live?", city),
                           (f"What is the city of {city} famous for?", thing)]),
            "hallucination": ([], f"What is the access code for the {absent} vault?", (REFUSAL_REFERENCE,), {},
                              [(f"Does the document give an access code for the {absent} vault?", REFUSAL_REFERENCE)]),
        }
        planted = [f for c in self.categories for f in facts[c][0]]
        doc_id = f"synthetic-{length}-{j}"
        text = build_haystack(length, planted, rng)
        doc = Document(id=doc_id, text=text, title=doc_id)
        for cat in self.categories:
            _, question, refs, extra, chain = facts[cat]
            yield Sample(
                id=f"{doc_id}-{cat}",
                question=question,
                references=refs,
                documents=(doc,),
                metadata={"category": cat, "context_type": "synthetic",
                          "length": length_bucket(length), "target_words": length, "doc_id": doc_id,
                          "decomposition": [list(step) for step in chain], **extra},
            )

    def decomposition(self, sample: Sample) -> tuple[tuple[str, str], ...] | None:
        """The question's real sub-question -> answer chain (IterDRAG demonstrations): the two
        hops of a reasoning question, the two heights of a comparison, one lookup otherwise."""
        chain = sample.metadata.get("decomposition")
        return tuple((str(q), str(a)) for q, a in chain) if chain else None

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        tail = (
            f"Question: {sample.question}\n\nAnswer concisely. If the text does not contain the "
            "answer, say that it is not mentioned."
        )
        if context.mode == "long_context":
            body = f"Read the document below and answer a question.\n\n{context.text}\n\n{tail}"
        elif context.mode == "rag":
            chunks = "".join(f"chunk {i}: {c.text}\n\n" for i, c in enumerate(context.chunks))
            body = (
                "Here are some chunks retrieved from a document. Read these chunks to answer a "
                f"question.\n\n{chunks}{tail}"
            )
        else:
            body = tail
        return [Message("system", SYSTEM), Message("user", body)]
