"""Judge agreement on PandaLM's human-labelled test set (testset-v1.json, 999 pairs, 3 annotators).

Reference rows are computed from the released verdict files found beside the test set
(``pandalm-7b-testset-v1.json`` → ``pandalm_result`` ints; ``gpt-3.5-turbo-testset-v1.json`` →
``gpt_result`` strings "1"/"2"/"Tie"/"garbage", where "garbage" is unparsed). Alignment is by
position, checked against ``idx``; the human label is the 3-annotator majority. With these rules
PandaLM-7B gives accuracy 0.6677 and macro-F1 0.5743, as PandaLM's own compute_metrics.py.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lara.judging.agreement import Agreement, agreement, majority_vote
from lara.judging.pairwise import PairVerdict, conflict_rate, judge_pair

REFERENCE_FILES = {
    "PandaLM-7B (released)": ("pandalm-7b-testset-v1.json", "pandalm_result"),
    "GPT-3.5-turbo (released)": ("gpt-3.5-turbo-testset-v1.json", "gpt_result"),
}


@dataclass(frozen=True)
class EvalRow:
    name: str
    agreement: Agreement
    usage: dict[str, int] | None = None


def load_testset(path: Path | str) -> list[dict[str, Any]]:
    items = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(items, list) or not items or "annotator1" not in items[0]:
        raise ValueError(f"{path}: not a PandaLM test set (list of items with annotator1..3)")
    return items


def human_labels(items: list[dict[str, Any]]) -> list[int]:
    return [majority_vote(int(x["annotator1"]), int(x["annotator2"]), int(x["annotator3"])) for x in items]


def to_label(value: Any) -> int | None:
    """Released verdict → 0/1/2, or None for anything else (e.g. GPT's "garbage")."""
    if isinstance(value, int) and value in (0, 1, 2):
        return value
    s = str(value).strip().lower()
    return {"1": 1, "2": 2, "0": 0, "tie": 0}.get(s)


def reference_rows(testset_path: Path | str, *, unparsed: str = "tie", limit: int | None = None) -> list[EvalRow]:
    """One row per released verdict file present beside the test set."""
    testset_path = Path(testset_path)
    items = load_testset(testset_path)[:limit]
    gold = human_labels(items)
    rows = []
    for name, (fname, key) in REFERENCE_FILES.items():
        f = testset_path.parent / fname
        if not f.exists():
            continue
        verdicts = json.loads(f.read_text(encoding="utf-8"))[: len(items)]
        for it, v in zip(items, verdicts):
            if it.get("idx") != v.get("idx"):
                raise ValueError(f"{f.name}: item order differs from the test set at idx {it.get('idx')}")
        preds = [to_label(v[key]) for v in verdicts]
        rows.append(EvalRow(name, agreement(gold, preds, unparsed=unparsed)))
    return rows


async def judge_testset(judge: Any, items: list[dict[str, Any]], *, fmt: str = "pandalm",
                        concurrency: int = 8, progress: Callable[[], None] | None = None) -> list[PairVerdict]:
    """Run a pairwise judge (both orders) over the items, keeping their order."""
    sem = asyncio.Semaphore(concurrency)

    async def one(it: dict[str, Any]) -> PairVerdict:
        async with sem:
            v = await judge_pair(judge, it["instruction"], it["response1"], it["response2"],
                                 input=it.get("input") or None, fmt=fmt)
        if progress:
            progress()
        return v

    return list(await asyncio.gather(*(one(it) for it in items)))


def judge_row(name: str, items: list[dict[str, Any]], verdicts: list[PairVerdict], *,
              unparsed: str = "tie", usage: dict[str, int] | None = None) -> EvalRow:
    """Agreement of a judge's combined (both-order) labels; unparsed/error pairs are ``None``."""
    preds = [v.label if v.status == "ok" else None for v in verdicts]
    return EvalRow(name, agreement(human_labels(items), preds, unparsed=unparsed,
                                   conflict_rate=conflict_rate(verdicts)), usage)
