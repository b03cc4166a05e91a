"""Agreement metrics against hand-computed values, and the PandaLM-7B reference row on real data."""

from __future__ import annotations

import json

import pytest

from lara.judging.agreement import agreement, majority_vote
from lara.judging.pandalm_eval import reference_rows, to_label

# Tiny table. Confusion (gold→pred): 1→1, 1→2, 2→2, 2→2, 0→0, 0→1.
GOLD = [1, 1, 2, 2, 0, 0]
PRED = [1, 2, 2, 2, 0, 1]


def test_metrics_hand_computed():
    a = agreement(GOLD, PRED)
    assert a.n == 6 and a.unparsed == 0
    assert a.accuracy == pytest.approx(4 / 6)
    # per class (P, R, F1): 0 → (1, 1/2, 2/3); 1 → (1/2, 1/2, 1/2); 2 → (2/3, 1, 4/5)
    assert a.macro_precision == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert a.macro_recall == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert a.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0.8) / 3)
    # p_o = 2/3, p_e = (2·1 + 2·2 + 2·3)/36 = 1/3 → κ = (2/3 − 1/3)/(1 − 1/3) = 1/2
    assert a.kappa == pytest.approx(0.5)


def test_metrics_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    a = agreement(GOLD, PRED)
    assert a.macro_f1 == pytest.approx(sk.f1_score(GOLD, PRED, average="macro"))
    assert a.kappa == pytest.approx(sk.cohen_kappa_score(GOLD, PRED))


def test_perfect_and_unparsed_policies():
    assert agreement([0, 1, 2], [0, 1, 2]).kappa == pytest.approx(1.0)
    gold, pred = [1, 2], [1, None]
    tie = agreement(gold, pred, unparsed="tie")
    miss = agreement(gold, pred, unparsed="miss")
    drop = agreement(gold, pred, unparsed="drop")
    assert tie.unparsed == miss.unparsed == drop.unparsed == 1
    assert tie.accuracy == 0.5 and miss.accuracy == 0.5
    assert drop.n == 1 and drop.accuracy == 1.0
    # "tie" creates a predicted 0 (a false positive for class 0); "miss" creates no class
    assert tie.macro_precision == pytest.approx((0 + 1 + 0) / 3)
    assert miss.macro_precision == pytest.approx((0 + 1 + 0) / 3)
    with pytest.raises(ValueError):
        agreement([1], [1, 2])
    with pytest.raises(ValueError):
        agreement([1], [1], unparsed="zero")


def test_majority_vote():
    assert majority_vote(1, 1, 2) == 1
    assert majority_vote(0, 2, 2) == 2
    assert majority_vote(2, 0, 1) == 2  # three-way split → first annotator (PandaLM's rule)


def test_to_label():
    assert [to_label(x) for x in (1, 2, 0, "1", "2", "Tie", "tie", "garbage", 3)] == [1, 2, 0, 1, 2, 0, 0, None, None]


def test_reference_rows_on_tiny_files(tmp_path):
    items = [{"idx": i, "instruction": "i", "input": "", "response1": "a", "response2": "b",
              "annotator1": g, "annotator2": g, "annotator3": (g + 1) % 3} for i, g in enumerate(GOLD)]
    (tmp_path / "testset-v1.json").write_text(json.dumps(items))
    (tmp_path / "pandalm-7b-testset-v1.json").write_text(
        json.dumps([{"idx": i, "pandalm_result": p} for i, p in enumerate(PRED)]))
    rows = reference_rows(tmp_path / "testset-v1.json")
    assert [r.name for r in rows] == ["PandaLM-7B (released)"]
    assert rows[0].agreement.macro_f1 == pytest.approx(agreement(GOLD, PRED).macro_f1)


def test_pandalm7b_reference_row_real_data(shared_data):
    path = shared_data / "pandalm" / "testset-v1.json"
    rows = {r.name: r.agreement for r in reference_rows(path)}
    panda = rows["PandaLM-7B (released)"]
    assert panda.n == 999
    assert round(panda.macro_f1, 4) == 0.5743
    assert round(panda.accuracy, 4) == 0.6677
    gpt = rows["GPT-3.5-turbo (released)"]
    assert gpt.unparsed == 25  # the "garbage" verdicts are counted, not hidden
