"""Per-question outcome rows: paired LC and RAG records of the same question turned into one row.

A row is the training unit of the question-level router and of probe calibration: what an app
knows before answering (model, context tokens, context type, category, the question, and the
retrieval scores of the RAG run's top chunks) and what happened (both outcomes, both input token
counts). Standard library only: records are read with :class:`lara.results.record.Record`.

Pairing rule: one LC and one RAG record per (model, question id, question text), the latest
attempt of each. A question counts only when *both* sides are ``correct`` or ``incorrect``
(:attr:`Record.outcome`); an error, unparsed or skipped record on either side drops the question
from both sides, and :class:`OutcomeCounts` says how many and why (the recorded LaRA predictions
hold JSON ``false`` predictions, failed upstream calls, which become error records).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from lara.results.record import Record
from lara.routing.types import RETRIEVERS, RequestFeatures, normalize_category, normalize_model_id

# Strategy of records whose writer left ``strategy`` at "none" (schema 1, or a runner that did not
# declare one): it follows from the registered runner name.
RUNNER_STRATEGY = {"long_context": "long_context", "lc": "long_context", "rag": "rag", "self_route": "self_route"}
PAIRED = ("long_context", "rag")


@dataclass(frozen=True)
class OutcomeRow:
    """One question answered both ways by one model."""

    model: str
    sample_id: str
    question: str
    category: str | None
    context_type: str | None
    length: str | None
    document: str
    context_tokens: int
    lc_correct: int
    rag_correct: int
    lc_tokens: int
    rag_tokens: int
    retriever: str | None = None
    retrieval_scores: tuple[float, ...] = ()
    retrieval_params: Mapping[str, Any] = field(default_factory=dict)
    retrieval_positions: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["retrieval_scores"] = list(self.retrieval_scores)
        d["retrieval_positions"] = list(self.retrieval_positions)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OutcomeRow":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["retrieval_scores"] = tuple(float(s) for s in d.get("retrieval_scores") or ())
        kw["retrieval_params"] = dict(d.get("retrieval_params") or {})
        kw["retrieval_positions"] = tuple(float(s) for s in d.get("retrieval_positions") or ())
        return cls(**kw)


@dataclass
class OutcomeCounts:
    """How many questions became rows, and why the others did not."""

    paired: int = 0
    lc_missing: int = 0
    rag_missing: int = 0
    lc_failed: dict[str, int] = field(default_factory=dict)  # outcome -> count (error, unparsed, skipped)
    rag_failed: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{self.paired} paired questions"]
        if self.lc_missing or self.rag_missing:
            parts.append(f"{self.lc_missing} without an LC record, {self.rag_missing} without a RAG record")
        for side, failed in (("LC", self.lc_failed), ("RAG", self.rag_failed)):
            if failed:
                parts.append(f"{side} " + ", ".join(f"{v} {k}" for k, v in sorted(failed.items())))
        return "; ".join(parts) + " (a question with a failed side is left out of both sides)"


def strategy_of(rec: Record, allowed: tuple[str, ...] = PAIRED) -> str | None:
    """The record's strategy, from its runner's name when the writer left it at "none"."""
    s = rec.strategy if rec.strategy and rec.strategy != "none" else RUNNER_STRATEGY.get(rec.runner)
    return s if s in allowed else None


def model_key(rec: Record) -> str:
    """The folder-like model id: ``model_id`` (what the backend reports) else the run's model."""
    return normalize_model_id(rec.model_id or rec.model or "unknown")


def _context_tokens(lc: Record) -> int:
    trunc = lc.truncation or {}
    return int(trunc.get("original_tokens") or lc.input_tokens or lc.effective_context_tokens or 0)


def _retrieval(rag: Record, context_tokens: int) -> tuple[str | None, tuple[float, ...], tuple[float, ...], dict[str, Any]]:
    """(retriever, scores, relative positions, retriever params) of the RAG run's retrieval step.

    A chunk id ends in ``:<index>`` (lara's chunkers); its start is about index x (chunk_size -
    chunk_overlap) tokens into the document, so index x stride / context tokens is its relative
    position (None when an id has no index: then no positions at all)."""
    for step in rag.steps:
        if step.get("kind") == "retrieve":
            hits = sorted(step.get("retrieved") or (), key=lambda h: int(h.get("rank", 0)))
            params = dict(rag.runner_params.get("retriever_params") or {})
            stride = int(rag.runner_params.get("chunk_size", 600)) - int(rag.runner_params.get("chunk_overlap", 100))
            pos: list[float] = []
            for h in hits:
                tail = str(h.get("chunk_id", "")).rsplit(":", 1)[-1]
                if not tail.isdigit() or context_tokens <= 0:
                    pos = []
                    break
                pos.append(min(1.0, int(tail) * max(stride, 1) / context_tokens))
            kind = rag.retriever or rag.runner_params.get("retriever")
            return kind, tuple(float(h["score"]) for h in hits), tuple(pos), params
    return None, (), (), {}


def _document(rec: Record) -> str:
    meta = rec.metadata or {}
    doc = meta.get("file") or meta.get("document") or meta.get("doc_id")
    return f"{rec.length or ''}/{rec.context_type or ''}/{doc}" if doc else rec.sample_id


def outcome_rows(records: Iterable[Mapping[str, Any] | Record]) -> tuple[list[OutcomeRow], OutcomeCounts]:
    """Rows from result records holding LC and RAG runs of the same questions (any models)."""
    latest: dict[tuple[str, str, str], dict[str, Record]] = {}
    for r in records:
        rec = r if isinstance(r, Record) else Record.from_dict(r)
        strat = strategy_of(rec)
        if strat is None:
            continue
        slot = latest.setdefault((model_key(rec), rec.sample_id, rec.question), {})
        old = slot.get(strat)
        if old is None or rec.attempt >= old.attempt:
            slot[strat] = rec
    counts = OutcomeCounts()
    rows: list[OutcomeRow] = []
    for (model, sid, question), pair in sorted(latest.items()):
        lc, rag = pair.get("long_context"), pair.get("rag")
        if lc is None or rag is None:
            counts.lc_missing += lc is None
            counts.rag_missing += rag is None
            continue
        bad = False
        for side, rec in ((counts.lc_failed, lc), (counts.rag_failed, rag)):
            if rec.outcome not in ("correct", "incorrect"):
                side[rec.outcome] = side.get(rec.outcome, 0) + 1
                bad = True
        if bad:
            continue
        ctx = _context_tokens(lc)
        retriever, scores, positions, rparams = _retrieval(rag, ctx)
        rows.append(OutcomeRow(
            model=model, sample_id=sid, question=question, category=lc.category,
            context_type=lc.context_type, length=lc.length, document=_document(lc),
            context_tokens=ctx, lc_correct=int(lc.outcome == "correct"),
            rag_correct=int(rag.outcome == "correct"), lc_tokens=int(lc.input_tokens),
            rag_tokens=int(rag.input_tokens), retriever=retriever, retrieval_scores=scores,
            retrieval_params=rparams, retrieval_positions=positions,
        ))
        counts.paired += 1
    return rows, counts


def request_of(row: OutcomeRow) -> RequestFeatures:
    """What an app would have known before answering this row's question."""
    kind = {"minilm": "dense"}.get(str(row.retriever or "").lower(), str(row.retriever or "").lower())
    scores = row.retrieval_scores if kind in RETRIEVERS else ()
    positions = row.retrieval_positions if scores and len(row.retrieval_positions) == len(scores) else None
    return RequestFeatures(model=row.model, context_tokens=row.context_tokens,
                           category=normalize_category(row.category), context_type=row.context_type,
                           question=row.question, retrieval_scores=scores,
                           retriever=kind if scores else None, retrieval_positions=positions)


def rescore(records: Iterable[Mapping[str, Any] | Record], scorer: str = "lexical") -> Iterator[Record]:
    """The records with their primary score recomputed by ``scorer`` (a registered deterministic
    scorer, e.g. the lexical one) from the stored answer: runs made under an older scorer then
    count by today's rules. Records without an answer (errors, skips) pass through unchanged."""
    import asyncio
    import dataclasses

    from lara.registry import scorers
    from lara.types import RunOutput, Sample

    judge = scorers.get(scorer)()

    async def one(rec: Record) -> Record:
        if rec.error or rec.skipped or rec.answer is None:
            return rec
        sample = Sample(rec.sample_id, rec.question, tuple(rec.references), (), dict(rec.metadata))
        sc = await judge.score(sample, RunOutput(rec.answer))
        entry = {k: v for k, v in dataclasses.asdict(sc).items() if k != "name"}
        return dataclasses.replace(rec, scores={**rec.scores, sc.name: entry}, score=sc.value,
                                   score_name=sc.name, score_status=sc.status)

    for r in records:
        yield asyncio.run(one(r if isinstance(r, Record) else Record.from_dict(r)))


def rows_from_paths(paths: Iterable[str | Path], scorer: str | None = None) -> tuple[list[OutcomeRow], OutcomeCounts]:
    """Rows from run folders, folders of runs or samples.jsonl files (re-scored with ``scorer``
    when given, see :func:`rescore`)."""
    from lara.results.store import read_records

    def gen() -> Iterator[Mapping[str, Any]]:
        for p in paths:
            yield from read_records(p)

    return outcome_rows(rescore(gen(), scorer) if scorer else gen())


def write_rows(rows: Iterable[OutcomeRow], path: str | Path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_rows(path: str | Path) -> list[OutcomeRow]:
    """Rows written by :func:`write_rows` (errors name file:line)."""
    from lara.jsonl import read_jsonl

    return [OutcomeRow.from_dict(d) for _, d in read_jsonl(path, what="outcome rows file")]
