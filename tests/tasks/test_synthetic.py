"""Synthetic task: determinism, planted facts at the stated depths, and exact scoring."""

from __future__ import annotations

import asyncio

import pytest

from lara.protocols import ContextBlock
from lara.scoring.exact import SyntheticExactScorer, is_refusal
from lara.tasks.synthetic import SyntheticTask
from lara.types import RunOutput


def test_generation_is_deterministic_and_seeded():
    a = list(SyntheticTask(lengths=[500], n_docs=2, seed=1).samples())
    b = list(SyntheticTask(lengths=[500], n_docs=2, seed=1).samples())
    c = list(SyntheticTask(lengths=[500], n_docs=2, seed=2).samples())
    assert [(s.id, s.question, s.references, s.documents[0].text) for s in a] == \
           [(s.id, s.question, s.references, s.documents[0].text) for s in b]
    assert a[0].documents[0].text != c[0].documents[0].text
    assert len(a) == 8 and len({s.id for s in a}) == 8


@pytest.mark.parametrize("length", [300, 2000, 8000])
def test_length_and_planted_facts(length):
    samples = list(SyntheticTask(lengths=[length], n_docs=1, depths=[0.5]).samples())
    text = samples[0].documents[0].text
    n_words = len(text.split())
    assert length <= n_words <= length * 1.1
    by_cat = {s.metadata["category"]: s for s in samples}
    loc = by_cat["location"]
    pos = text.find(loc.references[0])
    assert pos >= 0 and 0.4 < pos / len(text) < 0.6  # planted at depth 0.5
    assert by_cat["reasoning"].references[0] in text
    hallu = by_cat["hallucination"]
    vault = hallu.question.split("the ")[-1].split(" vault")[0]
    assert f"{vault} vault" not in text  # the asked-for fact is absent
    assert all(s.documents[0] is samples[0].documents[0] for s in samples)  # questions share the document


def _score(sample, answer):
    return asyncio.run(SyntheticExactScorer().score(sample, RunOutput(answer=answer)))


def test_scoring_rules():
    by_cat = {s.metadata["category"]: s for s in SyntheticTask(lengths=[300], n_docs=1).samples()}
    loc = by_cat["location"]
    assert _score(loc, f"The code is {loc.references[0]}.").value == 1.0
    assert _score(loc, "The code is 0000.").value == 0.0
    comp = by_cat["comparison"]
    right, wrong = comp.references[0], comp.metadata["distractor"]
    assert _score(comp, f"The {right} tower.").value == 1.0
    assert _score(comp, f"The {right} tower is taller than the {wrong} tower.").value == 1.0
    assert _score(comp, f"The {wrong} tower is shorter than the {right} tower.").value == 0.0
    assert _score(comp, f"The {right} tower is not taller than the {wrong} tower.").value == 0.0
    assert _score(comp, f"The {wrong} tower.").value == 0.0
    hallu = by_cat["hallucination"]
    assert _score(hallu, "The document does not mention that vault.").value == 1.0
    assert _score(hallu, "The code is 4821.").value == 0.0
    assert _score_none(loc).status == "error"


def _score_none(sample):
    return asyncio.run(SyntheticExactScorer().score(sample, RunOutput(answer=None)))


def test_refusal_detection():
    for t in ["It is not mentioned in the text.", "I cannot determine that.", "Unknown.", "No information."]:
        assert is_refusal(t), t
    for t in ["The code is 1234.", "Mentioned at the start: 42."]:
        assert not is_refusal(t), t


def test_prompt_family_only_context_differs():
    task = SyntheticTask(lengths=[300], n_docs=1)
    s = next(iter(task.samples()))
    lc = task.messages(s, ContextBlock(mode="long_context", text="DOC"))
    none = task.messages(s, ContextBlock(mode="none"))
    assert lc[0] == none[0] and lc[1].content.endswith(none[1].content)
    assert "DOC" in lc[1].content and s.question in lc[1].content


def test_bad_params_are_clear():
    with pytest.raises(ValueError, match="valid"):
        SyntheticTask(categories=["nope"])
