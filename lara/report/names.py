"""One display name per model, used by every table, filter and plot of a report.

Records name a model by its spec (``replay:/long/path/gpt-4o-mini``, ``openai:gpt-4o``): exact but
unreadable, and the LaRA view keyed by ``model_id`` used to show a second spelling of the same model,
so a filter chosen in one table matched nothing in another. :func:`display_names` maps every spec in
a set of records to ``<model id> (<backend>)`` — ``gpt-4o-mini (replay)`` — and falls back to the
full spec where two different specs would read the same.
"""

from __future__ import annotations

from typing import Iterable

from lara.results.record import Record


def short_model(model: str, model_id: str = "", backend: str = "") -> str:
    """``gpt-4o-mini (replay)`` from a record's model spec, model id and backend."""
    prefix, sep, rest = (model or "").partition(":")
    if not backend:
        backend = prefix if sep else ""
    ident = model_id or (rest if sep else model) or "-"
    name = ident.rstrip("/").rsplit("/", 1)[-1] or ident
    return name if not backend or backend == name else f"{name} ({backend})"


def display_names(records: Iterable[Record]) -> dict[str, str]:
    """Record ``model`` spec -> its display name, unique within these records."""
    specs: dict[str, str] = {}
    for r in records:
        if r.model not in specs:
            specs[r.model] = short_model(r.model, r.model_id, r.backend)
    seen: dict[str, list[str]] = {}
    for spec, name in specs.items():
        seen.setdefault(name, []).append(spec)
    return {spec: (name if len(seen[name]) == 1 else spec or "-") for spec, name in specs.items()}
