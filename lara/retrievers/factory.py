"""Resolve a retriever by preset name (``retrievers/<name>.yaml``) or registered name."""

from __future__ import annotations

from typing import Any, Mapping

from lara.registry import retrievers


def resolve_retriever(name: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(registered name, merged params); a preset's params are overridden by ``params``."""
    from lara.config import load_preset

    preset = load_preset("retrievers", name)
    if preset is not None:
        return str(preset["retriever"]), {**preset["params"], **dict(params or {})}
    return name, dict(params or {})


def build_retriever(name: str, params: Mapping[str, Any] | None = None) -> Any:
    registered, merged = resolve_retriever(name, params)
    return retrievers.get(registered)(**merged)


def fresh(retriever: Any, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """An empty retriever like ``retriever`` (sharing loaded models when it supports ``fresh``)."""
    if hasattr(retriever, "fresh"):
        return retriever.fresh()
    return build_retriever(name, params)
