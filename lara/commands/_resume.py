"""What ``lara resume`` may trust in a run folder's run.json (issue 16 item 8).

run.json is a file anyone with the folder can edit; resuming from it sends API keys to the endpoint
it names, read from the variables it names. So, before anything is built:

- secrets are scrubbed on read as on write (a key pasted into run.json never reaches a backend);
- the spec must still hash to the run it describes (run.json's ``spec_hash``, the folder name and
  the records' ``spec_hash``): ``base_url`` and the judge's endpoint are in that hash, so an edited
  endpoint is caught even in run folders written before ``origin`` existed;
- the endpoints and key variables must equal the ``origin`` recorded when the run was created;
- every key variable must look like ``*_API_KEY`` or be named with ``--api-key-env``.

The first two refusals are lifted by ``--allow-endpoint-change`` (the user moved the server); the
key-variable rule is not: a variable outside ``*_API_KEY`` is used only when named on the command
line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from lara.errors import ConfigError, ResultsError


def _first_record_hash(run_dir: Path) -> str | None:
    from lara.results.store import SAMPLES, parse_line

    try:
        with open(run_dir / SAMPLES, "rb") as f:
            for raw in f:
                if raw.strip():
                    rec, _ = parse_line(raw)
                    return str(rec.get("spec_hash")) if rec and rec.get("spec_hash") else None
    except OSError:
        return None
    return None


def _folder_hash(run_dir: Path) -> str | None:
    name = run_dir.name.split("__shard-")[0]
    return name.rsplit("__", 1)[1] if "__" in name else None


def _diff(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(recorded) | set(now))
    return [f"{k}: {recorded.get(k)!r} -> {now.get(k)!r}" for k in keys if recorded.get(k) != now.get(k)]


def trusted_spec(run_dir: Path, info: Mapping[str, Any], *, allow_endpoint_change: bool = False,
                 api_key_envs: Sequence[str] = ()) -> Any:
    """The RunSpec to resume, or a ConfigError saying which check of the module docstring failed."""
    from lara.config import RunSpec, scrub_secrets
    from lara.secrets import check_key_env, key_envs, origin_of

    where = run_dir / "run.json"
    spec_json = info.get("spec")
    if not isinstance(spec_json, Mapping):
        raise ResultsError(f"{where}: no 'spec' object (not a run folder written by lara)")
    spec_json = dict(spec_json)
    for part in ("model_params", "scorer_params", "task_params", "runner_params"):
        if isinstance(spec_json.get(part), Mapping):
            spec_json[part] = scrub_secrets(spec_json[part])
    try:
        spec = RunSpec.from_json(spec_json)
    except (TypeError, ValueError) as exc:
        raise ResultsError(f"{where}: unreadable spec ({exc})") from None

    problems: list[str] = []
    actual = spec.spec_hash()
    claimed = {"run.json spec_hash": info.get("spec_hash"), "folder name": _folder_hash(run_dir),
               "records": _first_record_hash(run_dir)}
    for what, value in claimed.items():
        if value and value != actual:
            problems.append(f"its spec hashes to {actual} but the {what} says {value}")
    origin = info.get("origin")
    now = origin_of(spec_json)
    if isinstance(origin, Mapping):
        changed = _diff(origin, now)
        if changed:
            problems.append("endpoint or key variable differs from the run's origin (" + "; ".join(changed) + ")")
    if problems and not allow_endpoint_change:
        raise ConfigError(
            f"{where} was edited since the run was created: {'; '.join(problems)}. Resuming would send "
            "requests (and API keys) where the run never went; pass --allow-endpoint-change if you moved "
            "the server on purpose"
        )

    if api_key_envs:
        spec = _with_key_env(spec, api_key_envs[0])
    names = set(key_envs(origin_of(spec.to_json())).values())
    for name in sorted(names):
        why = check_key_env(name, api_key_envs)
        if why:
            raise ConfigError(
                f"{where}: refusing to read an API key from ${name}: {why}; name it with "
                f"--api-key-env {name} if that is really where the key is"
            )
    return spec


def _with_key_env(spec: Any, name: str) -> Any:
    """``--api-key-env NAME``: the evaluated model reads its key from $NAME (a backend that takes no
    key variable is left as it is)."""
    import dataclasses

    from lara import registry
    from lara.backends.base import parse_model
    from lara.params import declared_params

    try:
        declared, _ = declared_params(registry.backends.get(parse_model(spec.model)[0]))
    except Exception:  # noqa: BLE001 - unknown backend: prepare() reports it
        declared = {}
    if "api_key_env" not in declared and "api_key_env" not in spec.model_params:
        return spec
    return dataclasses.replace(spec, model_params={**spec.model_params, "api_key_env": name})


def describe(spec: Any) -> str:
    """One line for stderr: where the resumed run sends requests and which variables it reads."""
    from lara.secrets import origin_of

    o = origin_of(spec.to_json())
    return "resuming " + spec.run_id() + (": " + json.dumps(o, sort_keys=True) if o else "")
