"""The fitted-parameters file end to end: `lara fit-allocation` on sweep-layout runs (two models,
DRAG and IterDRAG) writes the documented JSON; lara.routing.allocation reads it (standard library
only) and the routing budget policy uses its constants, sigma and task informativeness."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lara.allocation.model import PAPER, AllocationParams, load_params, predict
from lara.cli import _register_commands, app
from lara.routing import RequestFeatures, policy_from_dict
from lara.routing import allocation as A
from lara.testing.fixtures import write_sweep_runs

pytestmark = pytest.mark.needs('scipy')

_register_commands()
TRUE = AllocationParams(a=(0.325, 0.101, 0.177), b=(-0.067, -0.008, 0.0), c=-0.730)
TASKS = {"t1": (0.5, 0.2), "t2": (1.2, 0.6)}
N_SAMPLES = 40


def _scores(p: float) -> list[float]:
    ones = round(max(0.02, min(0.98, p)) * N_SAMPLES)
    return [1.0] * ones + [0.0] * (N_SAMPLES - ones)


def _cells() -> list:
    cells = []
    for t, (i_doc, i_shot) in TASKS.items():
        grid = [("drag", k, m, 1) for k in (0, 1, 2, 5, 10) for m in (0, 1, 2, 4)]
        grid += [("iterdrag", k, m, n) for k in (1, 2, 5) for m in (0, 1, 2) for n in (1, 2, 3)]
        for runner, k, m, n in grid:
            z = float(predict(TRUE, [k], [m], [n], i_doc, i_shot)[0])
            p = 0.5 + 0.2 * z
            if runner == "iterdrag" and (k, m, n) == (1, 0, 1):
                p = 0.95  # several calls: far better than one DRAG call at the same (k, m, n)
            cells.append(("openai:a", t, runner, k, m, n, _scores(p)))
    cells += [("openai:b", "t1", "drag", k, 0, 1, _scores(0.3 + 0.1 * k)) for k in (0, 1, 2)]
    return cells


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    cells = _cells()
    write_sweep_runs(root, cells)
    out = root / "fitted.json"
    r = CliRunner().invoke(app, ["fit-allocation", str(root), "-o", str(out)])
    assert r.exit_code == 2 and "--model" in r.output and "openai:a" in r.output  # two models: choose one
    r = CliRunner().invoke(app, ["fit-allocation", str(root), "-o", str(out), "--model", "openai:a", "--loto-budget", "1M"])
    assert r.exit_code == 0, r.output
    return root, out, json.loads(out.read_text()), cells, r.output


def _expected_informativeness(cells, task):  # noqa: ANN001, ANN202
    """The definition, computed here from the cells: z-normalise the task's means, then DRAG's
    P(1,0) - P(0,0) and P(0,1) - P(0,0)."""
    mine = [(r, k, m, n, sum(s) / len(s)) for mod, t, r, k, m, n, s in cells if mod == "openai:a" and t == task]
    vals = [v for *_, v in mine]
    mu = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mu) ** 2 for v in vals) / len(vals))
    drag = {(k, m): (v - mu) / sd for r, k, m, n, v in mine if r == "drag"}
    iter1 = {(k, m): (v - mu) / sd for r, k, m, n, v in mine if r == "iterdrag" and n == 1}
    return drag[(1, 0)] - drag[(0, 0)], drag[(0, 1)] - drag[(0, 0)], iter1[(1, 0)] - drag[(0, 0)]


def test_fitted_file_has_every_documented_field(fitted):
    root, out, doc, cells, output = fitted
    assert doc["format"] == A.FITTED_FORMAT and doc["format_version"] == A.FITTED_VERSION
    assert doc["model"] == "openai:a"
    assert len(doc["a"]) == 3 and len(doc["b"]) == 3 and doc["b"][2] == 0.0 and isinstance(doc["c"], float)
    assert len(doc["sigma"]) == 4 and doc["constants_source"]["sigma"] == "fitted"
    mine = [c for c in cells if c[0] == "openai:a"]
    assert doc["fit"]["n_observations"] == len(mine)
    # the reported fit quality is that of the written constants on the z-normalised observations
    params = AllocationParams(a=tuple(doc["a"]), b=tuple(doc["b"]), c=doc["c"], sigma=tuple(doc["sigma"]))
    ys, yhat = [], []
    for mod, t, r, k, m, n, s in mine:
        norm = doc["normalization"][t]
        ys.append((sum(s) / len(s) - norm["mean"]) / norm["std"])
        info = doc["informativeness"][t]
        yhat.append(float(predict(params, [k], [m], [n], info["i_doc"], info["i_shot"])[0]))
    mean_y = sum(ys) / len(ys)
    ss_res = sum((a - b) ** 2 for a, b in zip(ys, yhat))
    assert doc["fit"]["mse"] == pytest.approx(ss_res / len(ys))
    assert doc["fit"]["r2"] == pytest.approx(1 - ss_res / sum((a - mean_y) ** 2 for a in ys))
    assert doc["grids"]["k"] == [0, 1, 2, 5, 10] and doc["grids"]["m"] == [0, 1, 2, 4] and doc["grids"]["n"] == [1, 2, 3]
    assert doc["grids"]["runners"] == ["drag", "iterdrag"]
    assert len(doc["source_runs"]) == len(mine) and all(r["samples"] == N_SAMPLES for r in doc["source_runs"])
    assert {(r["task"], r["runner"], r["k"], r["m"], r["n"]) for r in doc["source_runs"]} == {c[1:6] for c in mine}
    for t in TASKS:
        i_doc, i_shot, from_iterdrag = _expected_informativeness(cells, t)
        got = doc["informativeness"][t]
        assert got["i_doc"] == pytest.approx(i_doc) and got["i_shot"] == pytest.approx(i_shot)
        assert abs(from_iterdrag - i_doc) > 0.1  # the collision would have given a visibly different i
        assert "DRAG" in got["source"]
    assert "leave-one-task-out t1" in output and "R2=" in output
    # lara.allocation reads it back (allocate --params, best-per-budget --params)
    p = load_params(out)
    assert p.sigma == tuple(doc["sigma"]) and p.informativeness["t2"] == pytest.approx(
        (doc["informativeness"]["t2"]["i_doc"], doc["informativeness"]["t2"]["i_shot"]))


def test_sigma_paper_keeps_the_paper_constants(fitted, tmp_path):
    root = fitted[0]
    out = tmp_path / "paper-sigma.json"
    r = CliRunner().invoke(app, ["fit-allocation", str(root), "-o", str(out), "-m", "openai:a", "--sigma", "paper"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert tuple(doc["sigma"]) == A.PAPER_SIGMA and doc["constants_source"]["sigma"] == "paper"
    r = CliRunner().invoke(app, ["fit-allocation", str(root), "-o", str(out), "-m", "openai:a", "--sigma", "magic"])
    assert r.exit_code == 2 and "--sigma" in r.output


def test_budget_policy_uses_the_fitted_constants_sigma_and_task(fitted):
    _, out, doc, _, _ = fitted
    policy = policy_from_dict({"kind": "budget", "name": "b", "params": {"base": "always_rag", "fitted": str(out), "task": "t2"}})
    model = policy.model()
    assert model.sigma == tuple(doc["sigma"]) != A.PAPER_SIGMA
    assert (model.i_doc, model.i_shot) == (doc["informativeness"]["t2"]["i_doc"], doc["informativeness"]["t2"]["i_shot"])
    assert model.a == tuple(doc["a"]) and model.b == tuple(doc["b"][:2]) and model.c == doc["c"]
    f = RequestFeatures(model="m", context_tokens=200_000, budget_tokens=64_000)
    d = policy.decide(f)
    k, m, n = d.params["k"], d.params.get("m", 0), d.params.get("n", 1)
    best = max(A.candidates(64_000, 600, 64, max_k=334), key=lambda c: (model.linear(c.k, c.m, c.n), -c.estimated_tokens))
    assert (k, m, n) == (best.k, best.m, best.n)
    predicted = next(iter(d.expected_scores.values()))
    assert predicted == pytest.approx(model.predict(k, m, n))
    paper_sigma = A.AllocationModel(model.a, model.b, model.c, model.i_doc, model.i_shot)
    assert predicted != pytest.approx(paper_sigma.predict(k, m, n))  # the fitted sigma is the one used
    # inline content decides the same; the policy round-trips through its JSON
    inline = policy_from_dict({"kind": "budget", "params": {"base": "always_rag", "fitted": doc, "task": "t2"}})
    assert inline.decide(f).params == d.params
    assert policy_from_dict(policy.to_dict()).decide(f) == d
    # grid: fitted keeps the choice inside what the fit observed
    g = policy_from_dict({"kind": "budget", "params": {"base": "always_rag", "fitted": doc, "task": "t2", "grid": "fitted"}})
    dg = g.decide(f)
    assert dg.params["k"] in doc["grids"]["k"] and dg.params.get("m", 0) in doc["grids"]["m"]
    assert dg.params.get("n", 1) in doc["grids"]["n"]


def test_bad_fitted_files_fail_clearly(fitted, tmp_path):
    _, out, doc, _, _ = fitted
    base = {"kind": "budget", "params": {"base": "always_rag"}}

    def make(**params):  # noqa: ANN003, ANN202
        return policy_from_dict({**base, "params": {**base["params"], **params}})

    with pytest.raises(A.AllocationFileError, match="not found"):
        make(fitted=str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "format": None}))
    with pytest.raises(A.AllocationFileError, match=r"bad.json: format None is not 'lara.allocation.fitted'"):
        make(fitted=str(bad))
    bad.write_text(json.dumps({**doc, "sigma": [1, 2, 3]}))
    with pytest.raises(A.AllocationFileError, match="'sigma' must be a list of 4 numbers"):
        make(fitted=str(bad))
    bad.write_text(json.dumps({**doc, "b": [0.1, 0.2, 0.3]}))
    with pytest.raises(A.AllocationFileError, match="b_n must be 0"):
        make(fitted=str(bad))
    bad.write_text("{not json")
    with pytest.raises(A.AllocationFileError, match="invalid JSON"):
        make(fitted=str(bad))
    with pytest.raises(A.AllocationFileError, match=r"no informativeness for task 'nope' \(fitted tasks: t1, t2\)"):
        make(fitted=str(out), task="nope")
    with pytest.raises(ValueError, match="not both"):
        make(fitted=str(out), task="t1", i_doc=0.0)
    with pytest.raises(A.AllocationFileError, match="unknown allocation preset"):
        make(allocation_preset="gpt-9")


def test_paper_preset_and_fitted_file_share_one_reader(tmp_path):
    """The paper preset written as a fitted file reads back as the routing preset."""
    path = tmp_path / "paper.json"
    path.write_text(json.dumps(PAPER.to_json()))
    m = A.load_fitted(path).model()
    assert m.a == A.GEMINI_15_FLASH.a and m.b == A.GEMINI_15_FLASH.b and m.sigma == A.PAPER_SIGMA
    assert A.get_model(str(path)).predict(10, 2, 3) == pytest.approx(A.GEMINI_15_FLASH.predict(10, 2, 3))


def test_routing_allocation_stays_standard_library(fitted):
    out = fitted[1]
    code = ("import sys, lara.routing.allocation as A; m = A.get_model(sys.argv[1], task='t1'); "
            "A.choose(m, 32000); assert 'numpy' not in sys.modules and 'scipy' not in sys.modules, "
            "sorted(k for k in sys.modules if k.split('.')[0] in ('numpy', 'scipy'))")
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)


def test_choose_follows_the_direction_of_a_fitted_sigma():
    """A refitted sigma may decrease (s1 * s2 < 0): the argmax of the prediction is then the argmin
    of the linear part, and choose() must follow the prediction, not the linear part."""
    up = A.GEMINI_15_FLASH
    down = A.AllocationModel(up.a, up.b, up.c, sigma=(-3.30, 1.81, 0.46, 1.0))
    for model in (up, down):
        pick = A.choose(model, 40_000, max_k=50)
        best = max(A.candidates(40_000, 600, 64, max_k=50), key=lambda c: (model.predict(c.k, c.m, c.n), -c.estimated_tokens))
        assert (pick.k, pick.m, pick.n) == (best.k, best.m, best.n)
        assert pick.predicted == pytest.approx(model.predict(best.k, best.m, best.n))
    assert A.choose(down, 40_000, max_k=50) != A.choose(up, 40_000, max_k=50)
