"""The question-category classifier: JSON weights reproduce scikit-learn; accuracy on unseen documents."""

from __future__ import annotations

import random

import pytest

from lara.routing.category import (
    category_probs_for,
    design,
    fit_category,
    fit_lara,
    lara_questions,
    load_classifier,
    predict,
    save_classifier,
)

pytest.importorskip("sklearn")

TEMPLATES = {
    "location": ["What is the name of the {x}?", "Who wrote the {x}?", "Where was the {x} found?"],
    "reasoning": ["Why did the {x} fail?", "What can be inferred about the {x}?", "Why was the {x} chosen?"],
    "comparison": ["How does the {x} differ from the other?", "Compare the {x} in both parts.", "What is the difference between the {x} and the rest?"],
    "hallucination": ["What colour was the {x} on Tuesday?", "How many shoes did the {x} own?", "What was the {x}'s favourite song?"],
}


def _data(n: int = 40) -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    things = ["report", "ship", "model", "letter", "garden", "engine", "treaty", "painting"]
    qs, ys = [], []
    for cat, forms in TEMPLATES.items():
        for _ in range(n):
            qs.append(rng.choice(forms).format(x=rng.choice(things)))
            ys.append(cat)
    return qs, ys


def test_json_weights_reproduce_scikit_learn(tmp_path):
    qs, ys = _data()
    doc = fit_category(qs, ys, buckets=512)
    sk = doc["_sk"].predict_proba(design(qs, 512))
    loaded = load_classifier(save_classifier(doc, tmp_path / "c.json"))
    for q, row in zip(qs[::7], sk[::7]):
        p = predict(q, loaded)
        for i, c in enumerate(doc["_sk"].classes_):
            assert p[c] == pytest.approx(row[i], abs=2e-4)  # weights are stored to 6 decimals
    assert max(predict("Why did the garden fail?", loaded).items(), key=lambda kv: kv[1])[0] == "reasoning"
    with pytest.raises(ValueError, match="every label"):
        fit_category(["q"], ["compare"])


def test_given_category_wins_and_nothing_given_falls_back_to_frequencies():
    assert category_probs_for("Why?", "comp") == {"comparison": 1.0}
    shipped = load_classifier()
    assert category_probs_for(None, None) == shipped["prior"]
    p = category_probs_for("How does the first report differ from the second?", "unknown")
    assert set(p) == {"location", "reasoning", "comparison", "hallucination"} and sum(p.values()) == pytest.approx(1.0)


def test_accuracy_on_unseen_documents(shared_data):
    """4-fold cross-validation split by document on LaRA's 2,326 questions (measured 0.83; the
    largest class, location, is 0.33), and the shipped weights are what fit_lara produces."""
    qs = lara_questions(shared_data / "lara")
    docs = sorted({d for _, _, d in qs})
    random.Random(0).shuffle(docs)
    right = 0
    for fold in range(4):
        test = set(docs[fold::4])
        doc = fit_category([q for q, _, d in qs if d not in test], [c for _, c, d in qs if d not in test])
        right += sum(max(predict(q, doc).items(), key=lambda kv: kv[1])[0] == c for q, c, d in qs if d in test)
    assert right / len(qs) >= 0.78
    shipped, refit = load_classifier(), fit_lara(shared_data / "lara")
    same = sum(max(predict(q, shipped).items(), key=lambda kv: kv[1])[0] ==
               max(predict(q, refit).items(), key=lambda kv: kv[1])[0] for q, _, _ in qs)
    assert same / len(qs) >= 0.99
