"""Computation allocation model (Yue et al., ICLR 2025): fit, predict, choose, evaluate.

    sigma^-1(P(theta)) ~= (a + b * i)^T log(theta + 0.01) + c,   theta = (k, m, n)
    sigma(x) = s1 / (1 + exp(-s2 (x + s3))) + s4

P is performance z-normalised per task (and metric), i = (i_doc, i_shot, 0) the task's measured
informativeness of one document / one demonstration (i_doc = P(k=1,m=0) - P(k=0,m=0), i_shot =
P(k=0,m=1) - P(k=0,m=0), on the same normalised scale), b_n is fixed to 0, so the linear part has
six parameters fitted by OLS on sigma^-1 of the normalised performance; then sigma's four
parameters are refitted on (linear prediction, observed) with ``scipy.optimize.curve_fit`` (the
``analysis`` extra; ``refit_sigma=False`` keeps the paper's sigma without scipy).
Informativeness is read from DRAG runs only: they make one call, so P(k=1, m=0) is the value of one
document; an IterDRAG run with n = 1 has the same (k, m, n) but makes several calls and must not
stand in for it (observations carry their runner for that reason).
Columns that the data cannot identify (n constant, one task so i constant) are dropped and their
coefficients reported as 0 with a note. The paper's Gemini-1.5-Flash fit is the ``paper`` preset:
a, b, c and sigma come from lara.routing.allocation (one source of truth). ``fitted_document``
writes the fitted-parameters JSON that ``lara.routing.allocation.load_fitted`` reads.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lara.errors import ConfigError
from lara.routing.allocation import FITTED_FORMAT, FITTED_VERSION, GEMINI_15_FLASH, PAPER_SIGMA, fitted_from_dict
from lara.errors import MissingDataError

log = logging.getLogger(__name__)

EPS = 0.01


SINGLE_CALL_RUNNERS = ("drag",)  # informativeness comes from these only


@dataclass(frozen=True)
class Observation:
    task: str
    k: int
    m: int
    n: int
    performance: float
    runner: str = "drag"  # drag: one call; iterdrag: several calls even with n = 1


@dataclass(frozen=True)
class AllocationParams:
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    c: float
    sigma: tuple[float, float, float, float] = PAPER_SIGMA
    name: str = ""
    r2: float | None = None
    mse: float | None = None
    informativeness: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # task -> (i_doc, i_shot)
    normalization: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # task -> (mean, std)
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The fitted-parameters document without provenance (see :func:`fitted_document`)."""
        return fitted_document(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], origin: str = "<dict>") -> "AllocationParams":
        if "format" not in d:  # files written before the format tag: flat a, b, c, sigma
            return cls(a=tuple(d["a"]), b=tuple(d["b"]), c=float(d["c"]), sigma=tuple(d.get("sigma", PAPER_SIGMA)),
                       name=d.get("name", ""), r2=d.get("r2"), mse=d.get("mse"),
                       informativeness={k: tuple(v) for k, v in (d.get("informativeness") or {}).items()},
                       normalization={k: tuple(v) for k, v in (d.get("normalization") or {}).items()},
                       notes=tuple(d.get("notes", ())))  # type: ignore[arg-type]
        f = fitted_from_dict(d, origin)  # validates
        fit_info = dict(d.get("fit") or {})
        norm = {t: (float(v["mean"]), float(v["std"])) for t, v in (d.get("normalization") or {}).items()}
        return cls(a=f.a, b=(*f.b, 0.0), c=f.c, sigma=f.sigma, name=f.name, r2=fit_info.get("r2"),
                   mse=fit_info.get("mse"), informativeness=dict(f.informativeness), normalization=norm,
                   notes=tuple(fit_info.get("notes", ())))


PAPER = AllocationParams(a=GEMINI_15_FLASH.a, b=(*GEMINI_15_FLASH.b, 0.0), c=GEMINI_15_FLASH.c,
                         sigma=GEMINI_15_FLASH.sigma, name="paper: gemini-1.5-flash (Yue et al. 2025)", r2=0.903, mse=0.085)
PRESETS = {"paper": PAPER, "gemini-1.5-flash": PAPER}


def load_params(name_or_path: str | Path) -> AllocationParams:
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)]
    p = Path(name_or_path)
    if not p.exists():
        raise MissingDataError(f"no allocation preset or file {name_or_path!r} (presets: {', '.join(PRESETS)})")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc}", where=str(p)) from exc
    return AllocationParams.from_json(data, str(p))


def save_params(params: AllocationParams, path: str | Path, document: Mapping[str, Any] | None = None) -> None:
    Path(path).write_text(json.dumps(document or params.to_json(), indent=2) + "\n", encoding="utf-8")


def fitted_document(params: AllocationParams, *, model: str | None = None, sigma_source: str = "fitted",
                    grids: Mapping[str, Sequence[int]] | None = None, n_observations: int | None = None,
                    source_runs: Sequence[Mapping[str, Any]] = (),
                    informativeness_source: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The fitted-parameters JSON (format ``lara.allocation.fitted``): all four constants a, b, c,
    sigma (and whether sigma was fitted or the paper's), i_doc / i_shot per task, the grids, the fit
    quality and the runs it came from. ``lara.routing.allocation.load_fitted`` reads it."""
    src = dict(informativeness_source or {})
    return {
        "format": FITTED_FORMAT,
        "format_version": FITTED_VERSION,
        "name": params.name,
        "model": model,
        "a": list(params.a),
        "b": list(params.b),
        "c": params.c,
        "sigma": list(params.sigma),
        "constants_source": {"a": "fitted", "b": "fitted", "c": "fitted", "sigma": sigma_source},
        "informativeness": {t: {"i_doc": v[0], "i_shot": v[1], "source": src.get(t, "given")}
                            for t, v in sorted(params.informativeness.items())},
        "normalization": {t: {"mean": v[0], "std": v[1]} for t, v in sorted(params.normalization.items())},
        "grids": {k: sorted(set(int(x) for x in v)) for k, v in (grids or {}).items()},
        "fit": {"r2": params.r2, "mse": params.mse, "n_observations": n_observations, "notes": list(params.notes)},
        "source_runs": [dict(r) for r in source_runs],
    }


# -- sigma ------------------------------------------------------------------------------------
def sigma(x: Any, s: Sequence[float] = PAPER_SIGMA) -> Any:
    import numpy as np

    s1, s2, s3, s4 = s
    return s1 / (1.0 + np.exp(-s2 * (np.asarray(x, dtype=float) + s3))) + s4


def sigma_inv(y: Any, s: Sequence[float] = PAPER_SIGMA, clip: bool = True) -> Any:
    """Inverse of sigma; values outside sigma's open range are clipped just inside it."""
    import numpy as np

    s1, s2, s3, s4 = s
    u = (np.asarray(y, dtype=float) - s4) / s1
    if clip:
        u = np.clip(u, 1e-4, 1 - 1e-4)
    return -np.log(1.0 / u - 1.0) / s2 - s3


# -- features ---------------------------------------------------------------------------------
def features(k: Any, m: Any, n: Any, i_doc: Any, i_shot: Any) -> Any:
    """Columns [log k, log m, log n, i_doc log k, i_shot log m, 1] (b_n fixed to 0)."""
    import numpy as np

    lk, lm, ln = (np.log(np.asarray(v, dtype=float) + EPS) for v in (k, m, n))
    i_doc, i_shot = np.broadcast_to(i_doc, lk.shape), np.broadcast_to(i_shot, lk.shape)
    return np.column_stack([lk, lm, ln, i_doc * lk, i_shot * lm, np.ones_like(lk)])


def linear(params: AllocationParams, k: Any, m: Any, n: Any, i_doc: float = 0.0, i_shot: float = 0.0) -> Any:
    import numpy as np

    w = np.array([*params.a, params.b[0], params.b[1], params.c])
    return features(k, m, n, i_doc, i_shot) @ w


def predict(params: AllocationParams, k: Any, m: Any, n: Any, i_doc: float = 0.0, i_shot: float = 0.0) -> Any:
    """Predicted normalised performance sigma(linear)."""
    return sigma(linear(params, k, m, n, i_doc, i_shot), params.sigma)


# -- fitting ----------------------------------------------------------------------------------
def normalize(obs: Sequence[Observation]) -> tuple[list[float], dict[str, tuple[float, float]]]:
    """z-normalise performance per task (std 1 when a task's values are constant)."""
    stats: dict[str, tuple[float, float]] = {}
    for t in {o.task for o in obs}:
        v = [o.performance for o in obs if o.task == t]
        mu = sum(v) / len(v)
        sd = math.sqrt(sum((x - mu) ** 2 for x in v) / len(v)) or 1.0
        stats[t] = (mu, sd)
    return [(o.performance - stats[o.task][0]) / stats[o.task][1] for o in obs], stats


def informativeness(obs: Sequence[Observation], values: Sequence[float],
                    notes: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """(i_doc, i_shot) per task from its single-call DRAG runs at (k, m) = (1, 0), (0, 1), (0, 0)
    (several runs of a point are averaged); a missing point sets its term to 0 with a note. IterDRAG
    runs never count, whatever their n (several calls per example)."""
    out = {}
    for t in sorted({o.task for o in obs}):
        groups: dict[tuple[int, int], list[float]] = {}
        for o, v in zip(obs, values):
            if o.task == t and o.runner in SINGLE_CALL_RUNNERS and o.n == 1 and (o.k, o.m) in ((0, 0), (1, 0), (0, 1)):
                groups.setdefault((o.k, o.m), []).append(float(v))
        at = {km: sum(vs) / len(vs) for km, vs in groups.items()}
        base = at.get((0, 0))
        missing = [f"k={k},m={m}" for k, m in ((0, 0), (1, 0), (0, 1)) if (k, m) not in at]
        if missing:
            msg = f"task {t}: no single-call DRAG run at {', '.join(missing)}; the matching informativeness is 0"
            log.warning(msg)
            if notes is not None:
                notes.append(msg)
        i_doc = at[(1, 0)] - base if base is not None and (1, 0) in at else 0.0
        i_shot = at[(0, 1)] - base if base is not None and (0, 1) in at else 0.0
        out[t] = (float(i_doc), float(i_shot))
    return out


def r2_mse(y: Any, yhat: Any) -> tuple[float, float]:
    import numpy as np

    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2)) or 1e-12
    return 1.0 - ss_res / ss_tot, ss_res / len(y)


def fit(obs: Sequence[Observation], *, normalized: bool = False, sigma0: Sequence[float] = PAPER_SIGMA,
        refit_sigma: bool = True, informativeness_override: Mapping[str, tuple[float, float]] | None = None,
        name: str = "fitted") -> AllocationParams:
    """OLS for (a, b_doc, b_shot, c) on sigma^-1(P), then curve_fit of sigma on (linear, P)."""
    import numpy as np

    if len(obs) < 3:
        raise ValueError(f"need at least 3 observations to fit, got {len(obs)}")
    stats: dict[str, tuple[float, float]] = {}
    if normalized:
        perf: list[float] = [o.performance for o in obs]
    else:
        perf, stats = normalize(obs)
    notes: list[str] = []
    info = dict(informativeness_override or informativeness(obs, perf, notes))
    idoc = np.array([info.get(o.task, (0.0, 0.0))[0] for o in obs])
    ishot = np.array([info.get(o.task, (0.0, 0.0))[1] for o in obs])
    X = features([o.k for o in obs], [o.m for o in obs], [o.n for o in obs], idoc, ishot)
    names = ["a_doc", "a_shot", "a_iter", "b_doc", "b_shot", "c"]
    keep = [0, 1, 2, 3, 4, 5]
    for j in (2, 3, 4, 0, 1):  # drop columns the data cannot identify
        cols = [c for c in keep if c != j]
        if np.linalg.matrix_rank(X[:, keep]) < len(keep) and np.linalg.matrix_rank(X[:, cols]) == np.linalg.matrix_rank(X[:, keep]):
            keep = cols
            notes.append(f"{names[j]} not identifiable from these observations; fixed to 0")
    y = np.asarray(perf, dtype=float)
    s: tuple[float, float, float, float] = (float(sigma0[0]), float(sigma0[1]), float(sigma0[2]), float(sigma0[3]))
    target = sigma_inv(y, s)
    w = np.zeros(6)
    w[keep] = np.linalg.lstsq(X[:, keep], target, rcond=None)[0]
    x = X @ w
    if refit_sigma:
        import warnings

        try:
            from scipy.optimize import curve_fit
        except ImportError as exc:
            raise ConfigError("refitting sigma needs scipy: pip install 'lara[analysis]', or keep the "
                              "paper's sigma (refit_sigma=False; `lara fit-allocation --sigma paper`)") from exc

        try:
            with warnings.catch_warnings():  # few configurations: covariance undefined, fit still usable
                warnings.simplefilter("ignore")
                popt, _ = curve_fit(lambda xx, a, b, c, d: sigma(xx, (a, b, c, d)), x, y, p0=s, maxfev=20000)
            s = (float(popt[0]), float(popt[1]), float(popt[2]), float(popt[3]))
        except (RuntimeError, ValueError) as exc:  # not enough spread to fit four parameters
            notes.append(f"sigma refit failed ({exc}); kept the initial sigma")
    r2, mse = r2_mse(y, sigma(x, s))
    return AllocationParams(a=(float(w[0]), float(w[1]), float(w[2])), b=(float(w[3]), float(w[4]), 0.0),
                            c=float(w[5]), sigma=s, name=name, r2=r2, mse=mse,
                            informativeness=info, normalization=stats, notes=tuple(notes))


# -- choosing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    runner: str
    k: int
    m: int
    n: int
    tokens: int
    predicted: float


def choose(params: AllocationParams, candidates: Iterable[tuple[str, int, int, int, int]], budget: int,
           i_doc: float = 0.0, i_shot: float = 0.0) -> list[Choice]:
    """Candidates (runner, k, m, n, estimated tokens) that fit ``budget``, best predicted first
    (ties -> fewer tokens)."""
    out = [Choice(r, k, m, n, t, float(predict(params, [k], [m], [n], i_doc, i_shot)[0]))
           for r, k, m, n, t in candidates if t <= budget]
    return sorted(out, key=lambda c: (-c.predicted, c.tokens))


def leave_one_task_out(obs: Sequence[Observation], lengths: Mapping[tuple[str, str, int, int, int], int],
                       budget: int, *, refit_sigma: bool = True) -> dict[str, float | None]:
    """Per held-out task: P(predicted configuration) / P(oracle configuration) among those whose
    measured length fits ``budget`` (``lengths`` keyed by (task, runner, k, m, n): DRAG and IterDRAG
    n=1 differ); the model is fitted on the other tasks. None when undefined."""
    out: dict[str, float | None] = {}
    tasks = sorted({o.task for o in obs})
    for t in tasks:
        train = [o for o in obs if o.task != t]
        test = [o for o in obs if o.task == t and lengths.get((t, o.runner, o.k, o.m, o.n), 10**18) <= budget]
        if len(train) < 3 or not test:
            out[t] = None
            continue
        params = fit(train, name=f"loto-{t}", refit_sigma=refit_sigma)
        y, _ = normalize([o for o in obs if o.task == t])
        i_doc, i_shot = informativeness([o for o in obs if o.task == t], y).get(t, (0.0, 0.0))
        scores = [float(predict(params, [o.k], [o.m], [o.n], i_doc, i_shot)[0]) for o in test]
        pred = test[max(range(len(test)), key=lambda j: scores[j])]
        oracle = max(o.performance for o in test)
        out[t] = pred.performance / oracle if oracle > 0 else None
    return out


def with_name(params: AllocationParams, name: str) -> AllocationParams:
    return replace(params, name=name)
