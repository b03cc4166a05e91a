"""lara_judge / graded_judge scorers: statuses, recorded prompt ids, usage apart, own cache namespace."""

from __future__ import annotations

import asyncio

import pytest

from lara.cache import ResponseCache
from lara.registry import scorers
from lara.scoring.judge import Judge
from lara.testing.fixtures import fixture_samples
from lara.testing.backends import scripted
from lara.types import RunOutput, Sample


def EchoVerdict(fn):  # noqa: N802 - the shared double under the name these tests use
    return scripted(fn, model_id="j")


def _scorer(name, fn, cache=None):
    be = EchoVerdict(fn)
    return scorers.get(name)(judge_client=Judge(be, "test:j", cache=cache)), be


@pytest.fixture
def lara(tmp_path):
    """The first sample of each category, from the real LaRA loader over the upstream-format fixture."""
    out = {}
    for s in fixture_samples(tmp_path / "lara"):
        out.setdefault(s.metadata["category"], s)
    return out


def score(sc, sample, answer):
    return asyncio.run(sc.score(sample, RunOutput(answer=answer)))


def test_judge_is_required():
    with pytest.raises(ValueError, match="never defaults"):
        scorers.get("lara_judge")()
    with pytest.raises(ValueError, match="judge"):
        scorers.get("graded_judge")(judge=None)


@pytest.mark.parametrize("reply, status, value", [("True", "ok", 1.0), ("false.", "ok", 0.0),
                                                  ("not true", "unparsed", None), ("", "unparsed", None)])
def test_lara_judge_statuses(lara, reply, status, value):
    sc, be = _scorer("lara_judge", lambda t: reply)
    s = score(sc, lara["location"], "In Paris")
    assert (s.status, s.value) == (status, value)
    assert s.details["prompt_id"] == "lara-binary" and s.details["prompt_version"] == "1"
    assert s.details["judge_model"] == "test:j" and s.details["raw"] == reply
    assert be.last[0].content.startswith("You are a discriminator")


def test_hallucination_uses_its_own_prompt(lara):
    sc, be = _scorer("lara_judge", lambda t: "True")
    s = score(sc, lara["hallucination"], "Not mentioned")
    assert s.details["prompt_id"] == "lara-hallu"
    assert be.last[1].content.endswith("Now, start your judgement:")
    for category in ("location", "reasoning", "comparison"):
        assert score(sc, lara[category], "x").details["prompt_id"] == "lara-binary"
    # LaRA's file-name abbreviation is accepted on input and selects the same prompt
    abbreviated = Sample("h", "Q?", ("Not mentioned.",), metadata={"category": "hallu"})
    assert sc.prompt_for(abbreviated).id == "lara-hallu"


def test_error_and_no_answer_are_not_incorrect(lara):
    sc, _ = _scorer("lara_judge", lambda t: RuntimeError("503 after retries"))
    s = score(sc, lara["location"], "x")
    assert s.status == "error" and s.value is None and "503" in s.explanation
    s2 = score(sc, lara["location"], None)
    assert s2.status == "error" and s2.value is None
    assert sc.usage()["errors"] == 1


def test_graded_judge_reference_guided_and_plain(lara):
    sc, be = _scorer("graded_judge", lambda t: "Good.\nRating: [[7.5]]")
    s = score(sc, lara["location"], "Paris")
    assert (s.status, s.value, s.details["prompt_id"]) == ("ok", 7.5, "mtbench-single-math-v1")
    assert "[The Start of Reference Answer]\nHartman." in be.last[1].content
    s2 = score(sc, Sample("s2", "Say hi", ()), "hi")
    assert s2.details["prompt_id"] == "mtbench-single-v1"
    sc_bad, _ = _scorer("graded_judge", lambda t: "Rating: 7")
    assert score(sc_bad, lara["location"], "x").status == "unparsed"


def test_usage_and_cache_namespace(tmp_path, lara):
    cache = ResponseCache(tmp_path / "c.sqlite")
    sc, be = _scorer("lara_judge", lambda t: "True", cache=cache)
    score(sc, lara["location"], "Paris")
    score(sc, lara["location"], "Paris")  # identical prompt → cache hit
    assert len(be.calls) == 1
    u = sc.usage()
    sent = sum(be.count_tokens(m.content) for m in be.calls[0])  # the double counts words
    assert (u["calls"], u["cached"], u["input_tokens"], u["output_tokens"]) == (1, 1, sent, 1)
    assert sc.judge._by_prompt["lara-binary"].namespace == "judge:lara-binary"


def test_engine_passes_shared_limits_and_unknown_params_fail():
    import inspect

    from lara.backends.base import EndpointLimits

    for name in ("lara_judge", "graded_judge"):
        params = inspect.signature(scorers.get(name)).parameters
        assert "limits" in params and "judge_base_url" in params
        with pytest.raises(TypeError):
            scorers.get(name)(judge="openai:x", bogus=1)
    limits = EndpointLimits()
    sc = scorers.get("lara_judge")(judge="openai:x", judge_base_url="http://127.0.0.1:9/v1", limits=limits)
    assert sc.judge.inner._limits is limits  # judge and evaluated model share per-endpoint limits
