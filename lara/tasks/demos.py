"""Demonstration corpora for the in-context-learning axis (GSM8K, MBPP, the ICD-10 catalogue).

The knowledge source of such a task is one Document built once per task instance and shared by all
samples (runners key their caches by document id, so the RAG index is built once). ``chunk`` gives
one Chunk per demonstration (RAG retrieves the most similar solved problems); ``fit`` gives the LC
context: as many whole demonstrations as fit, in the corpus's fixed order (many-shot), never cutting
one in half. Also JSONL reading with file:line errors, shared by the task loaders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from lara.protocols import ContextBlock
from lara.jsonl import DataError, read_jsonl  # noqa: F401 - re-exported for the tasks
from lara.types import Chunk, Document, TruncationReport

SEPARATOR = "\n\n"


def require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise DataError(f"{where}: missing field {key!r}")
    return obj[key]


def parse_chain(obj: dict[str, Any], where: str) -> tuple[tuple[str, str, tuple[str, ...]], ...] | None:
    """A demonstration's decomposition from a JSONL row: optional field ``chain``, a list of
    ``{"follow_up": sub-question, "intermediate": its answer, "documents": [texts]?}`` (IterDRAG
    demonstrations). Returns (sub-question, answer, documents) triples, or None without the field."""
    raw = obj.get("chain")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise DataError(f"{where}: 'chain' must be a list of {{follow_up, intermediate}} objects")
    out = []
    for i, step in enumerate(raw):
        if not isinstance(step, dict):
            raise DataError(f"{where}: chain[{i}] must be an object with follow_up and intermediate")
        docs = step.get("documents") or []
        if not isinstance(docs, list):
            raise DataError(f"{where}: chain[{i}].documents must be a list of strings")
        out.append((str(require(step, "follow_up", f"{where}: chain[{i}]")),
                    str(require(step, "intermediate", f"{where}: chain[{i}]")), tuple(str(d) for d in docs)))
    return tuple(out)


@dataclass(frozen=True)
class Demo:
    """One solved problem (or catalogue entry): ``text`` is its rendering in the prompt."""

    id: str
    question: str
    answer: str
    text: str


class DemoCorpus:
    """Demonstrations plus their Document; chunks and token counts are computed lazily, once."""

    def __init__(self, doc_id: str, demos: Sequence[Demo], title: str = "") -> None:
        self.demos = list(demos)
        self.offsets: list[tuple[int, int]] = []
        pos = 0
        for d in self.demos:
            self.offsets.append((pos, pos + len(d.text)))
            pos += len(d.text) + len(SEPARATOR)
        self.document = Document(
            id=doc_id,
            text=SEPARATOR.join(d.text for d in self.demos),
            title=title,
            metadata={"n_demos": len(self.demos), "kind": "demonstrations"},
        )
        self._chunks: list[Chunk] | None = None
        self._counts: dict[str, list[int | None]] = {}

    def chunks(self) -> list[Chunk]:
        if self._chunks is None:
            self._chunks = [
                Chunk(f"{self.document.id}:{i}", self.document.id, i, d.text, s, e)
                for i, (d, (s, e)) in enumerate(zip(self.demos, self.offsets))
            ]
        return list(self._chunks)

    def _count(self, tokenizer: Any, i: int) -> int:
        counts = self._counts.setdefault(getattr(tokenizer, "name", repr(tokenizer)), [None] * len(self.demos))
        if counts[i] is None:
            counts[i] = tokenizer.count(self.demos[i].text + SEPARATOR)
        return counts[i]  # type: ignore[return-value]

    def fit(self, max_tokens: int | None, tokenizer: Any, max_demos: int | None) -> tuple[ContextBlock, TruncationReport]:
        """LC block: the first demonstrations in corpus order while they fit (whole ones only).

        The report's original size is that of ``max_demos`` demonstrations (the requested m), so
        ``dropped_tokens`` says how much of the request the window could not hold.
        """
        limit = len(self.demos) if max_demos is None else min(max_demos, len(self.demos))
        kept, used, wanted = [], 0, 0
        full = False
        for i in range(limit):
            n = self._count(tokenizer, i)
            wanted += n
            if not full and (max_tokens is None or used + n <= max_tokens):
                kept.append(i)
                used += n
            else:
                full = True
                if max_tokens is None:
                    break
        block = ContextBlock(
            mode="long_context",
            text=SEPARATOR.join(self.demos[i].text for i in kept),
            demonstrations=tuple((self.demos[i].question, self.demos[i].answer) for i in kept),
            options={"n_demos": len(kept), "demo_ids": [self.demos[i].id for i in kept]},
        )
        return block, TruncationReport("whole_demonstrations", wanted, used, wanted - used)


def block_texts(block: ContextBlock, render: Callable[[str, str], str]) -> list[str]:
    """Rendered demonstrations of a context block, whatever runner made it (same prompt family):
    RAG chunks as retrieved, LC demonstrations re-rendered, or a free LC text as one block."""
    if block.mode == "rag":
        return [c.text for c in block.chunks]
    if block.demonstrations:
        return [render(q, a) for q, a in block.demonstrations]
    return [block.text] if block.text else []
