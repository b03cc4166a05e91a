"""RunSpec, its canonical JSON and hash, and the YAML presets.

A preset is a plain mapping onto a spec part (no templating): ``tasks/<name>.yaml`` has
``task`` (registered task name), ``params`` and optionally ``scorer``; ``runners/<name>.yaml`` has
``runner`` and ``params``; ``retrievers/<name>.yaml`` has ``retriever`` and ``params``.
Presets live in ``lara/presets/`` (so the wheel ships them); the top-level ``tasks/``, ``runners/``
and ``retrievers/`` folders of the repository are links to them. ``LARA_PRESET_PATH`` (os.pathsep
separated folders) adds user preset folders, searched first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lara.errors import ConfigError
from lara.types import GenerateConfig, to_dict

PRESET_KINDS = ("tasks", "runners", "retrievers")
# Fields of the spec that never change an output: excluded from the hash.
NON_SEMANTIC = {
    "max_connections", "timeout_s", "log_prompts", "output_dir", "progress",
    "max_retries", "backoff_base_s", "max_backoff_s", "max_retry_after_s", "api_key_env",
    "cooldown_s", "replica_retries", "max_failovers",
}
SECRET_KEY_RE = re.compile(r"(api[_-]?key|secret|password|authorization|^token$|_token$)", re.I)


class PresetError(ConfigError):
    """A preset that is missing or malformed; the message names the file."""


def canonical_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def short_hash(obj: Any, n: int = 12) -> str:
    data = obj if isinstance(obj, str) else canonical_json(obj)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:n]


def scrub_secrets(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop anything that looks like a credential before it reaches run.json or a record."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if SECRET_KEY_RE.search(str(k)):
            continue
        out[k] = scrub_secrets(v) if isinstance(v, Mapping) else v
    return out


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run (one task × runner × model). Its hash names the run folder."""

    task: str = "synthetic"
    runner: str = "long_context"
    model: str = "local"
    task_params: Mapping[str, Any] = field(default_factory=dict)
    runner_params: Mapping[str, Any] = field(default_factory=dict)
    model_params: Mapping[str, Any] = field(default_factory=dict)
    scorer: str | None = None
    scorer_params: Mapping[str, Any] = field(default_factory=dict)
    generation: GenerateConfig = field(default_factory=GenerateConfig)
    limit: int | None = None
    task_preset: str | None = None
    runner_preset: str | None = None

    def semantic(self) -> dict[str, Any]:
        d = to_dict(self)
        d["generation"] = self.generation.semantic()
        d["model_params"] = {
            k: v for k, v in scrub_secrets(self.model_params).items() if k not in NON_SEMANTIC
        }
        d["runner_params"] = {k: v for k, v in self.runner_params.items() if k not in NON_SEMANTIC}
        return d

    def spec_hash(self) -> str:
        return short_hash(self.semantic())

    def run_id(self) -> str:
        parts = [self.task_preset or self.task, self.runner_preset or self.runner, self.model]
        slug = "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", p.split("/")[-1] if "/" in p else p) for p in parts)
        return f"{slug}__{self.spec_hash()}"

    def to_json(self) -> dict[str, Any]:
        d = to_dict(self)
        d["model_params"] = scrub_secrets(self.model_params)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "RunSpec":
        d = dict(d)
        d["generation"] = GenerateConfig(
            **{k: (tuple(v) if k == "stop" else v) for k, v in d.get("generation", {}).items()}
        )
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def preset_dirs(kind: str) -> list[Path]:
    dirs = [Path(p) / kind for p in os.environ.get("LARA_PRESET_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).parent / "presets" / kind)
    return dirs


def list_presets(kind: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in preset_dirs(kind):
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                found.setdefault(p.stem, p)
    return found


def load_preset(kind: str, name: str) -> dict[str, Any] | None:
    """Return the preset mapping, or None when no preset of that name exists."""
    if kind not in PRESET_KINDS:
        raise ValueError(f"unknown preset kind {kind!r}")
    path = Path(name) if name.endswith(".yaml") else list_presets(kind).get(name)
    if path is None or not path.exists():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PresetError(f"malformed preset {where}: {exc}") from exc
    if not isinstance(data, dict):
        raise PresetError(f"malformed preset {path}: expected a mapping at top level")
    key = kind[:-1]  # tasks -> task
    if key not in data:
        raise PresetError(f"malformed preset {path}: missing key {key!r}")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise PresetError(f"malformed preset {path}: 'params' must be a mapping")
    data["params"] = params
    data["_path"] = str(path)
    return data


def parse_kv(items: list[str] | None) -> dict[str, Any]:
    """Parse ``key=value`` CLI overrides; values are YAML scalars (numbers, booleans, lists)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def parse_tokens(value: str | int) -> int:
    """'32k' -> 32000, '1M' -> 1000000, '128000' -> 128000."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmM]?)\s*", value)
    if not m:
        raise ValueError(f"not a token count: {value!r}")
    mult = {"": 1, "k": 1000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def resolve_spec(
    task: str,
    runner: str,
    model: str = "local",
    *,
    task_params: Mapping[str, Any] | None = None,
    runner_params: Mapping[str, Any] | None = None,
    model_params: Mapping[str, Any] | None = None,
    scorer: str | None = None,
    scorer_params: Mapping[str, Any] | None = None,
    generation: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> RunSpec:
    """Build a RunSpec from preset or registered names plus CLI overrides (overrides win)."""
    from lara import registry

    tp = load_preset("tasks", task)
    if tp is None:
        registry.tasks.get(task)  # raises with the valid names
        tp = {"task": task, "params": {}}
    rp = load_preset("runners", runner)
    if rp is None:
        try:
            registry.runners.get(runner)
        except KeyError as exc:
            presets = ", ".join(sorted(list_presets("runners")))
            raise KeyError(f"{exc} (presets: {presets})") from None
        rp = {"runner": runner, "params": {}}
    gen_kwargs = {**(tp.get("generation") or {}), **(rp.get("generation") or {}), **(generation or {})}
    if "stop" in gen_kwargs:
        gen_kwargs["stop"] = tuple(gen_kwargs["stop"])
    return RunSpec(
        task=tp["task"],
        runner=rp["runner"],
        model=model,
        task_params={**tp["params"], **(task_params or {})},
        runner_params={**rp["params"], **(runner_params or {})},
        model_params=dict(model_params or {}),
        scorer=scorer or tp.get("scorer"),
        scorer_params={**(tp.get("scorer_params") or {}), **(scorer_params or {})},
        generation=GenerateConfig(**gen_kwargs),
        limit=limit,
        task_preset=task if tp.get("_path") else None,
        runner_preset=runner if rp.get("_path") else None,
    )
