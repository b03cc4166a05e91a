"""Calibrate a question policy to one model from a probe: choose the questions, run them, update.

``calibrate_policy`` is the update (standard library: features through the policy's own request
path, offsets by :func:`lara.routing.calibrate.map_offset`); ``probe_samples`` picks a stratified
probe from a task's samples; ``run_probe`` is the one place that calls the engine (LC and RAG runs
of the probe questions through :func:`lara.engine.run`), so live models (``openai:...``) and
recorded predictions (``replay:DIR``) take the same path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from lara.routing.calibrate import ProbeCandidate, calibrate_target, map_offset, select_probe
from lara.routing.outcomes import OutcomeRow, request_of
from lara.routing.question import STRATEGIES, QuestionPolicy, basis_of
from lara.routing.types import normalize_model_id

log = logging.getLogger(__name__)

PROBE_RUNNERS = ("lc", "rag-lara")


@dataclass(frozen=True)
class ProbeSummary:
    questions: int
    lc_accuracy: float
    rag_accuracy: float
    input_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {"questions": self.questions, "lc_accuracy": round(self.lc_accuracy, 4),
                "rag_accuracy": round(self.rag_accuracy, 4), "input_tokens": self.input_tokens}


def calibrated_offsets(policy: QuestionPolicy, rows: Sequence[OutcomeRow],
                       group: str | None = None) -> dict[str, dict[str, float]]:
    """Posterior-mode offsets of a model from its probe rows (prior: all training models, or the
    ``group`` class's when the policy has one for it)."""
    off = policy.params["offsets"]
    prior = off.get("classes", {}).get(group) if group else None
    prior = prior or off["prior"]
    obs: dict[str, list[tuple[float, list[float], int]]] = {s: [] for s in STRATEGIES}
    for row in rows:
        x, _ = policy.features_of(replace(request_of(row), model="probe"))
        u = basis_of(x, policy.basis)
        for s, y in (("long_context", row.lc_correct), ("rag", row.rag_correct)):
            m = policy.params["strategies"][s]
            eta = m["bias"] + sum(v * m["weights"].get(k, 0.0) for k, v in x.items())
            obs[s].append((eta, u, int(y)))
    out = {}
    for s in STRATEGIES:
        mean = [float(prior["mean"][s][b]) for b in policy.basis]
        var = [float(prior["var"][s][b]) for b in policy.basis]
        out[s] = dict(zip(policy.basis, (round(v, 6) for v in map_offset(obs[s], mean, var))))
    return out


def summarize_probe(rows: Sequence[OutcomeRow]) -> ProbeSummary:
    n = len(rows)
    return ProbeSummary(n, sum(r.lc_correct for r in rows) / n if n else 0.0,
                        sum(r.rag_correct for r in rows) / n if n else 0.0,
                        sum(r.lc_tokens + r.rag_tokens for r in rows))


def calibrate_policy(policy: QuestionPolicy, rows: Sequence[OutcomeRow], model: str,
                     target: Mapping[str, Any] | None = None, group: str | None = None,
                     name: str | None = None) -> QuestionPolicy:
    """A copy of ``policy`` calibrated to ``model`` with its probe ``rows``, meeting ``target``."""
    if not rows:
        raise ValueError("calibration needs at least one probe question answered both ways")
    mid = normalize_model_id(model)
    params = dict(policy.params)
    params["calibrated"] = {"model": mid, "aliases": [model], "group": group,
                            "offsets": calibrated_offsets(policy, rows, group),
                            "probe": summarize_probe(rows).to_dict()}
    out = replace(policy, name=name or f"{policy.name}+{mid}", params=params)
    t = dict(target or params.get("target") or {"kind": "accuracy"})
    t = {k: v for k, v in t.items() if k not in ("lam", "tau")}
    offsets, _ = out.offsets_for(_request(mid))
    rule = calibrate_target(out.reference_requests(offsets), t)
    return replace(out, params={**out.params, "target": {**t, **rule}})


def _request(model: str) -> Any:
    from lara.routing.types import RequestFeatures

    return RequestFeatures(model=model, context_tokens=0)


def probe_candidates(samples: Sequence[Any]) -> list[ProbeCandidate]:
    """Strata (category, length, context type) and documents of a task's samples."""
    out = []
    for s in samples:
        m = s.metadata
        doc = s.documents[0].id if s.documents else s.id
        out.append(ProbeCandidate(s.id, (m.get("category"), m.get("length"), m.get("context_type")), doc))
    return out


def task_samples(model: str, task: str = "lara", task_params: Mapping[str, Any] | None = None) -> list[Any]:
    """Every sample of a task preset (or registered task), as the probe runs of ``model`` load them."""
    from lara import registry
    from lara.config import resolve_spec

    spec = resolve_spec(task, PROBE_RUNNERS[0], model, task_params=dict(task_params or {}))
    return list(registry.tasks.get(spec.task)(**spec.task_params).samples())


def probe_samples(samples: Sequence[Any], n: int, seed: int = 0) -> list[Any]:
    ids = set(select_probe(probe_candidates(samples), n, seed))
    return [s for s in samples if s.id in ids]


def run_probe(model: str, samples: Sequence[Any], output_root: str | Path, *, task: str = "lara",
              task_params: Mapping[str, Any] | None = None, model_params: Mapping[str, Any] | None = None,
              scorer: str | None = "lexical", scorer_params: Mapping[str, Any] | None = None,
              max_connections: int = 8) -> list[Path]:
    """LC and RAG runs of ``samples`` through the engine (resumable); returns the run folders."""
    from lara import engine
    from lara.config import resolve_spec

    dirs = []
    for runner in PROBE_RUNNERS:
        spec = resolve_spec(task, runner, model, task_params=dict(task_params or {}),
                            model_params=dict(model_params or {}), scorer=scorer,
                            scorer_params=dict(scorer_params or {}))
        result = engine.run(spec, output_root=output_root, samples=list(samples), max_connections=max_connections)
        dirs.append(Path(result.run_dir))
    return dirs
