"""Agreement of a judge with human labels: accuracy, macro-F1 over {0 tie, 1, 2}, Cohen's κ.

Pure Python so it runs anywhere. Conventions follow PandaLM's ``data/compute_metrics.py`` (the
script behind the published 0.5743 macro-F1 of PandaLM-7B):
- the human label is the majority of the three annotators (``majority_vote``);
- per-class precision/recall/F1 are 0 when undefined, macro = plain mean over the three classes;
- items are aligned by position (the released files are in the same ``idx`` order; we check it).
An unparsed prediction (``None``) is handled by ``unparsed``: ``"tie"`` maps it to 0 as PandaLM
does for GPT's "garbage" verdicts, ``"miss"`` counts it as wrong without creating a class,
``"drop"`` removes the item. The count of unparsed items is always reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

CLASSES = (0, 1, 2)
UNPARSED_POLICIES = ("tie", "miss", "drop")


def majority_vote(*votes: int) -> int:
    """Most frequent label; a three-way split goes to the earliest annotator's label
    (PandaLM's ``max`` over an insertion-ordered dict). testset-v1 has no three-way split."""
    counts: dict[int, int] = {}
    for v in votes:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=counts.get)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Agreement:
    n: int
    unparsed: int
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    kappa: float
    conflict_rate: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(vars(self))


def _apply_policy(gold: Sequence[int], pred: Sequence[int | None], unparsed: str) -> tuple[list[int], list[int | None]]:
    if unparsed not in UNPARSED_POLICIES:
        raise ValueError(f"unparsed must be one of {UNPARSED_POLICIES}, not {unparsed!r}")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} human labels but {len(pred)} predictions")
    g, p = list(gold), list(pred)
    if unparsed == "tie":
        p = [0 if x is None else x for x in p]
    elif unparsed == "drop":
        keep = [i for i, x in enumerate(p) if x is not None]
        g, p = [g[i] for i in keep], [p[i] for i in keep]
    return g, p


def agreement(gold: Sequence[int], pred: Sequence[int | None], *, unparsed: str = "tie",
              conflict_rate: float | None = None) -> Agreement:
    n_unparsed = sum(x is None for x in pred)
    g, p = _apply_policy(gold, pred, unparsed)
    n = len(g)
    if n == 0:
        raise ValueError("no items to compare")
    pairs = Counter(zip(g, p))
    gold_n = Counter(g)
    pred_n = Counter(x for x in p if x is not None)
    correct = sum(pairs[(c, c)] for c in CLASSES)
    precs, recs, f1s = [], [], []
    for c in CLASSES:
        tp = pairs[(c, c)]
        prec = tp / pred_n[c] if pred_n[c] else 0.0
        rec = tp / gold_n[c] if gold_n[c] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        precs.append(prec)
        recs.append(rec)
        f1s.append(f1)
    p_o = correct / n
    p_e = sum((gold_n[c] / n) * (pred_n[c] / n) for c in CLASSES)
    kappa = (p_o - p_e) / (1 - p_e) if p_e < 1 else 1.0
    k = len(CLASSES)
    return Agreement(n, n_unparsed, p_o, sum(precs) / k, sum(recs) / k, sum(f1s) / k, kappa, conflict_rate)
