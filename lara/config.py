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
    "cooldown_s", "replica_retries", "max_failovers", "max_response_bytes",
}
SECRET_KEY_RE = re.compile(r"(api[_-]?key|secret|password|authorization|^token$|_token$)", re.I)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PresetError(ConfigError):
    """A preset that is missing or malformed; the message names the file."""


def canonical_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def short_hash(obj: Any, n: int = 12) -> str:
    data = obj if isinstance(obj, str) else canonical_json(obj)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:n]


def scrub_secrets(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop anything that looks like a credential before it reaches run.json or a record.

    ``*_env`` keys (``api_key_env``) name the variable a key is read from, not the key: they are
    kept when their value is a variable name, so a resumed run reads the same variable instead of
    falling back to $OPENAI_API_KEY (and sending that key to another provider)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if SECRET_KEY_RE.search(str(k)) and not (
            str(k).endswith("_env") and isinstance(v, str) and ENV_NAME_RE.match(v)
        ):
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
        gen: dict[str, Any] = {k: (tuple(v) if k == "stop" else v) for k, v in d.get("generation", {}).items()}
        d["generation"] = GenerateConfig(**gen)
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
    data = load_yaml_file(path, "preset")
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
    return {k: load_yaml(v, f"--param {k}") for k, v in parse_kv_text(items).items()}


MAX_YAML_BYTES = 1 << 20  # presets are a few hundred bytes; no legitimate one comes near this


def load_yaml(text: str, where: str) -> Any:
    """YAML as ``safe_load`` reads it, minus aliases: ``*ref`` is refused where it appears.

    Why: an alias bomb (nested anchors referenced many times) is a few lines of YAML that expand
    into gigabytes once anything walks the result (a preset ran for over 60 s at 690 MB and
    growing). Presets have no need for aliases, so refusing them removes the attack outright
    instead of guessing a size cap; oversized text is refused too.
    """
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise PresetError(f"{where}: {len(text)} characters of YAML (more than {MAX_YAML_BYTES}); refusing to parse")

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise PresetError(
                    f"{where}:{event.start_mark.line + 1}: YAML alias *{event.anchor} refused "
                    "(aliases can expand exponentially; write the value out instead)"
                )
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise PresetError(f"malformed YAML {at}: {exc}") from exc


def load_yaml_file(path: Path, what: str = "YAML file") -> Any:
    """:func:`load_yaml` of a file; a byte that is not UTF-8 is named by line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PresetError(f"{path}:{line}: {what} is not UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    return load_yaml(text, str(path))


def parse_kv_text(items: list[str] | None, option: str = "key=value") -> dict[str, str]:
    """``key=value`` CLI overrides as text; :func:`resolve_spec` converts them by declared type."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"{option}: expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v
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
    """Build a RunSpec from preset or registered names plus overrides (overrides win).

    Every parameter is checked against what its component declares (unknown key -> ConfigError
    listing the valid ones), and override values given as text (from the command line) are
    converted to the declared types, before anything runs.
    """
    from lara import registry
    from lara.backends.base import parse_model
    from lara.backends.retry import RETRY_PARAM_NAMES
    from lara.params import check_params

    tp = load_preset("tasks", task)
    if tp is None:
        _known("tasks", task, registry.tasks)
        tp = {"task": task, "params": {}}
    rp = load_preset("runners", runner)
    if rp is None:
        _known("runners", runner, registry.runners)
        rp = {"runner": runner, "params": {}}
    task_name, runner_name = tp["task"], rp["runner"]
    tfactory, rfactory = registry.tasks.get(task_name), registry.runners.get(runner_name)
    t_over = check_params("task", task_name, tfactory, task_params or {}, convert=True)
    r_over = check_params("runner", runner_name, rfactory, runner_params or {}, convert=True)
    tparams = check_params("task", task_name, tfactory, {**tp["params"], **t_over})
    rparams = check_params("runner", runner_name, rfactory, {**rp["params"], **r_over})
    backend_name = parse_model(model)[0]
    bfactory = registry.backends.get(backend_name)
    mp = dict(model_params or {})
    retry_part = {k: mp.pop(k) for k in list(mp) if k in RETRY_PARAM_NAMES}
    replicas: dict[str, Any] = {}
    if isinstance(mp.get("base_url"), (list, tuple)):
        replicas = {k: mp.pop(k) for k in ("base_url", "cooldown_s", "replica_retries", "max_failovers") if k in mp}
    mparams = {**check_params("backend", backend_name, bfactory, mp, convert=True), **replicas,
               **{k: _retry_value(k, v) for k, v in retry_part.items()}}
    scorer_name = scorer or tp.get("scorer") or tfactory.default_scorer  # type: ignore[attr-defined]
    sfactory = registry.scorers.get(scorer_name)
    s_over = check_params("scorer", scorer_name, sfactory, scorer_params or {}, convert=True)
    sparams = check_params("scorer", scorer_name, sfactory, {**(tp.get("scorer_params") or {}), **s_over})
    gen_kwargs = {**(tp.get("generation") or {}), **(rp.get("generation") or {}), **(generation or {})}
    if "stop" in gen_kwargs:
        gen_kwargs["stop"] = tuple(gen_kwargs["stop"])
    try:
        gen = GenerateConfig(**gen_kwargs)
    except TypeError as exc:
        raise ConfigError(f"generation settings: {exc}") from None
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    return RunSpec(
        task=task_name,
        runner=runner_name,
        model=model,
        task_params=tparams,
        runner_params=rparams,
        model_params=mparams,
        scorer=scorer or tp.get("scorer"),
        scorer_params=sparams,
        generation=gen,
        limit=limit,
        task_preset=task if tp.get("_path") else None,
        runner_preset=runner if rp.get("_path") else None,
    )


def _known(kind: str, name: str, reg: Any) -> None:
    """Raise UnknownNameError naming the presets and registered names of ``kind`` (with a did-you-mean)."""
    if name in reg:
        return
    from lara.registry import UnknownNameError
    from lara.vocabulary import did_you_mean

    presets = sorted(list_presets(kind))
    names = sorted(set(presets) | set(reg.names()))
    raise UnknownNameError(
        f"unknown {kind[:-1]} {name!r}{did_you_mean(name, names)}; valid: presets {', '.join(presets)}; "
        f"registered {', '.join(reg.names())}"
    )


def _retry_value(key: str, value: Any) -> Any:
    """Retry settings from the command line are numbers."""
    if not isinstance(value, str):
        return value
    try:
        return int(value) if key == "max_retries" else float(value)
    except ValueError:
        raise ConfigError(f"model parameter {key}={value!r}: expected a number") from None
