"""Load and save policy JSON: shipped names (package data) or paths, validated on load."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from lara.errors import ConfigError
from lara.routing.policy import FORMAT, FORMAT_VERSION, KINDS as _BASE_KINDS, Policy
from lara.routing.question import QuestionPolicy

KINDS = {**_BASE_KINDS, "question": QuestionPolicy}
QUESTION_KEYS = {"strategies", "offsets", "feature_version"}


class PolicyError(ConfigError):
    """A policy file that is missing or malformed; the message names it."""


def shipped_policies() -> list[str]:
    """Names of the policies shipped with the package (``load_policy(name)``)."""
    folder = resources.files("lara.routing").joinpath("policies")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def policy_from_dict(data: Mapping[str, Any], origin: str = "<dict>") -> Policy:
    if not isinstance(data, Mapping):
        raise PolicyError(f"{origin}: a policy must be a JSON object")
    if data.get("format", FORMAT) != FORMAT:
        raise PolicyError(f"{origin}: format {data.get('format')!r} is not {FORMAT!r}")
    if int(data.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
        raise PolicyError(f"{origin}: format_version {data['format_version']} is newer than {FORMAT_VERSION}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise PolicyError(f"{origin}: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    params = data.get("params") or {}
    if kind == "fitted" and not {"table", "length_buckets"} <= set(params):
        raise PolicyError(f"{origin}: a fitted policy needs params.table and params.length_buckets")
    if kind == "question" and not QUESTION_KEYS <= set(params):
        raise PolicyError(f"{origin}: a question policy needs params.{', params.'.join(sorted(QUESTION_KEYS))}")
    return KINDS[kind](
        name=str(data.get("name", kind)),
        kind=kind,
        version=str(data.get("version", "0")),
        description=str(data.get("description", "")),
        source=dict(data.get("source") or {}),
        params=params,
    )


def load_policy(name_or_path: str | Path = "default") -> Policy:
    """A shipped policy by name (``default``, ``always_lc``, ``rules``...) or a JSON file path."""
    text: str
    origin = str(name_or_path)
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise PolicyError(f"policy file not found: {path}") from exc
    else:
        res = resources.files("lara.routing").joinpath("policies", f"{name_or_path}.json")
        if not res.is_file():
            raise PolicyError(f"unknown policy {origin!r}; shipped: {', '.join(shipped_policies())}")
        text = res.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{origin}: invalid JSON: {exc}") from exc
    return policy_from_dict(data, origin)


def save_policy(policy: Policy | Mapping[str, Any], path: str | Path) -> Path:
    data = policy.to_dict() if isinstance(policy, Policy) else dict(policy)
    policy_from_dict(data, str(path))  # validate before writing
    out = Path(path)
    out.write_text(_NUMBER_LIST.sub(_one_line, json.dumps(data, indent=1, sort_keys=False)) + "\n", encoding="utf-8")
    return out


# Lists of plain numbers (a question policy's reference rows) on one line each: readable diffs
# elsewhere, a file a fraction of the size.
_NUMBER_LIST = re.compile(r"\[\s+(-?[0-9][-0-9.eE+]*(?:,\s+-?[0-9][-0-9.eE+]*)*)\s+\]")


def _one_line(m: "re.Match[str]") -> str:
    return "[" + ",".join(v.strip() for v in m.group(1).split(",")) + "]"
