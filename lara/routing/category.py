"""Which of LaRA's four kinds a question is, from its text alone (for apps that do not say).

A multinomial logistic regression on hashed word uni/bigrams (:func:`features.hashed_ngrams`),
fitted offline with scikit-learn (:func:`fit_category`, ``lara fit-category``) and shipped as JSON
weights (``models/category.json``) that :func:`predict` evaluates with the standard library. The
router uses the class *probabilities*, so an uncertain question mixes the categories' effects
instead of betting on one. Hallucination questions (about something the text never says) read
like location questions, so expect most confusion between those two.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from lara.routing.features import hashed_ngrams
from lara.vocabulary import CATEGORIES, category as canonical

FORMAT = "lara.routing.category"
SHIPPED = "category.json"


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> dict[str, Any]:
    if path is None:
        text = resources.files("lara.routing").joinpath("models", SHIPPED).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path or SHIPPED}: not a {FORMAT} file")
    return data


def load_classifier(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped classifier (cached after the first call), or one written by :func:`fit_category`."""
    return _load(str(path) if path is not None else None)


def predict(question: str, model: Mapping[str, Any] | None = None) -> dict[str, float]:
    """P(category | question text) for LaRA's four categories."""
    model = model or load_classifier()
    x = hashed_ngrams(question, int(model["buckets"]))
    logits = {c: model["bias"][c] + sum(v * model["weights"][c].get(k, 0.0) for k, v in x.items())
              for c in model["classes"]}
    top = max(logits.values())
    exp = {c: math.exp(v - top) for c, v in logits.items()}
    z = sum(exp.values())
    return {c: e / z for c, e in exp.items()}


def category_probs_for(question: str | None, given: str | None,
                       model: Mapping[str, Any] | None = None) -> dict[str, float]:
    """One-hot for a given category; predicted probabilities when it is not given (None or
    ``unknown``) and the question text is; the classifier's class frequencies when neither is."""
    c = canonical(given) if given else None
    if c is not None:
        return {c: 1.0}
    model = model or load_classifier()
    if question:
        return predict(question, model)
    return dict(model["prior"])


def fit_category(questions: Sequence[str], labels: Sequence[str], buckets: int = 4096,
                 c: float = 4.0, source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fit the classifier with scikit-learn; return the JSON document :func:`predict` reads."""
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    labels = [canonical(lab) or "" for lab in labels]
    if any(lab not in CATEGORIES for lab in labels):
        raise ValueError("every label must be one of " + ", ".join(CATEGORIES))
    X = design(questions, buckets)
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(X, labels)
    classes = [str(k) for k in clf.classes_]
    coef = clf.coef_
    weights = {cl: {f"q{j}": round(float(coef[i, j]), 6) for j in np.flatnonzero(np.abs(coef[i]) > 1e-6)}
               for i, cl in enumerate(classes)}
    counts = {cl: labels.count(cl) / len(labels) for cl in classes}
    del sparse
    return {
        "format": FORMAT,
        "buckets": buckets,
        "classes": classes,
        "bias": {cl: round(float(clf.intercept_[i]), 6) for i, cl in enumerate(classes)},
        "weights": weights,
        "prior": counts,
        "source": dict(source or {}),
        "_sk": clf,
    }


def design(questions: Sequence[str], buckets: int) -> Any:
    """The hashed n-gram matrix of ``questions`` (scipy sparse), as :func:`predict` sees them."""
    from scipy import sparse

    data, ri, ci = [], [], []
    for i, q in enumerate(questions):
        for k, v in hashed_ngrams(q, buckets).items():
            data.append(v)
            ri.append(i)
            ci.append(int(k[1:]))
    return sparse.csr_matrix((data, (ri, ci)), shape=(len(questions), buckets))


def lara_questions(data_dir: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(question, category, document key) of every LaRA question, read by the LaRA task."""
    from lara.tasks.lara import LaraTask

    out = []
    for s in LaraTask(data_dir=str(data_dir) if data_dir else None).samples():
        m = s.metadata
        out.append((s.question, m["category"], f"{m['length']}/{m['context_type']}/{m['file']}"))
    return out


def fit_lara(data_dir: str | Path | None = None, buckets: int = 4096, c: float = 4.0) -> dict[str, Any]:
    """The shipped classifier: fitted on every LaRA question (2,326), labels from the query file names."""
    qs = lara_questions(data_dir)
    source = {"data": "LaRA queries (Li et al., ICML 2025, arXiv 2502.09977; MIT), all 2,326 questions",
              "labels": "the category in each query file's name", "model": "scikit-learn LogisticRegression "
              f"(multinomial, C={c}) on {buckets} hashed word uni/bigrams"}
    return fit_category([q for q, _, _ in qs], [cat for _, cat, _ in qs], buckets=buckets, c=c, source=source)


def save_classifier(doc: Mapping[str, Any], path: str | Path) -> Path:
    out = Path(path)
    out.write_text(json.dumps({k: v for k, v in doc.items() if not k.startswith("_")}, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    return out
