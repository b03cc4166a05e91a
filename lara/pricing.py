"""API prices per model, from a dated table (``lara/data/prices.yaml``; ``--price-table FILE``).

One place turns token counts into dollars, so the dry run, the ``--max-cost`` stop and the
leaderboard's cost column agree. Records of the ``openai-batch`` backend are priced at the batch
prices. A model is found by its exact name or alias, else by the longest known name it starts
with (``gpt-4o-2024-08-06`` -> ``gpt-4o``; ``gpt-4o-mini-…`` -> ``gpt-4o-mini``, never ``gpt-4o``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lara.errors import ConfigError

DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "prices.yaml"
PRICE_FIELDS = ("input", "cached_input", "output", "batch_input", "batch_output")
BATCH_BACKENDS = ("openai-batch",)
#: Backends whose calls cost nothing to run (no API bill): local weights, mock, recorded outputs.
FREE_BACKENDS = ("local", "mock", "mockllm", "replay", "vllm", "vllm_offline")


@dataclass(frozen=True)
class Price:
    """Dollars per ``per_tokens`` tokens for one model (batch prices default to the standard ones)."""

    model: str
    input: float
    output: float
    cached_input: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    tokenizer: str = "cl100k"
    per_tokens: int = 1_000_000

    def cost(self, input_tokens: int, output_tokens: int, *, cached_input_tokens: int = 0,
             batch: bool = False) -> float:
        """Dollars for one bill of tokens; ``cached_input_tokens`` is the part of ``input_tokens``
        served from the provider's prompt cache."""
        fresh = max(0, input_tokens - cached_input_tokens)
        if batch:
            inp = self.batch_input if self.batch_input is not None else self.input
            out = self.batch_output if self.batch_output is not None else self.output
        else:
            inp, out = self.input, self.output
        cached = self.cached_input if self.cached_input is not None else inp
        return (fresh * inp + cached_input_tokens * cached + output_tokens * out) / self.per_tokens


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name, with the table's date and where it came from."""

    prices: Mapping[str, Price] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    date: str = ""
    source: str = ""

    def lookup(self, model: str | None) -> Price | None:
        """The price of ``model`` (``openai:gpt-4o`` or ``gpt-4o``), or None when unknown."""
        if not model:
            return None
        name = model.split(":", 1)[1] if ":" in model else model
        name = name.strip().lower().rsplit("/", 1)[-1]
        name = self.aliases.get(name, name)
        if name in self.prices:
            return self.prices[name]
        best = max((k for k in self.prices if name.startswith(k + "-") or name.startswith(k + "@")),
                   key=len, default=None)
        return self.prices[best] if best else None

    def record_cost(self, record: Any) -> float | None:
        """Dollars a result record's model calls cost (cache hits are free), or None when its model
        has no price; backends that run locally cost 0."""
        backend = str(_get(record, "backend") or "")
        if backend in FREE_BACKENDS:
            return 0.0
        price = self.lookup(str(_get(record, "model_id") or _get(record, "model") or ""))
        if price is None:
            return None
        inp, out = billed_tokens(record)
        return price.cost(inp, out, batch=backend in BATCH_BACKENDS)

    def merged(self, other: "PriceTable") -> "PriceTable":
        """This table with ``other``'s entries replacing ours by name."""
        return PriceTable({**self.prices, **other.prices}, {**self.aliases, **other.aliases},
                          other.date or self.date, f"{self.source} + {other.source}" if self.source else other.source)


def _get(record: Any, key: str) -> Any:
    return record.get(key) if isinstance(record, Mapping) else getattr(record, key, None)


def billed_tokens(record: Any) -> tuple[int, int]:
    """(input, output) tokens of a record's calls that reached the model (cached steps excluded).

    Records without steps (older writers) fall back to their totals unless the record was cached."""
    steps = _get(record, "steps") or ()
    calls = [s for s in steps if (s.get("kind") if isinstance(s, Mapping) else None) != "retrieve"]
    if calls:
        live = [s for s in calls if not s.get("cached")]
        return (sum(int(s.get("input_tokens") or 0) for s in live), sum(int(s.get("output_tokens") or 0) for s in live))
    if _get(record, "cached"):
        return 0, 0
    return int(_get(record, "input_tokens") or 0), int(_get(record, "output_tokens") or 0)


def parse_table(data: Any, source: str) -> PriceTable:
    """A table from its YAML content; a bad entry is a ConfigError naming the file and model."""
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), Mapping):
        raise ConfigError("a price table needs a 'models' mapping (see lara/data/prices.yaml)", where=source)
    per = data.get("per_tokens", 1_000_000)
    if not isinstance(per, int) or per <= 0:
        raise ConfigError(f"per_tokens must be a positive integer, got {per!r}", where=source)
    prices: dict[str, Price] = {}
    aliases: dict[str, str] = {}
    for name, entry in data["models"].items():
        where = f"{source}: model {name!r}"
        if not isinstance(entry, Mapping):
            raise ConfigError("entry must be a mapping of prices", where=where)
        unknown = set(entry) - {*PRICE_FIELDS, "tokenizer", "aliases"}
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}; valid: {', '.join((*PRICE_FIELDS, 'tokenizer', 'aliases'))}",
                              where=where)
        values: dict[str, float | None] = {}
        for key in PRICE_FIELDS:
            v = entry.get(key)
            if v is None and key in ("input", "output"):
                raise ConfigError(f"needs '{key}' (dollars per {per:,} tokens)", where=where)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise ConfigError(f"{key} must be a non-negative number, got {v!r}", where=where)
            values[key] = None if v is None else float(v)
        key_name = str(name).lower()
        prices[key_name] = Price(model=key_name, input=values["input"] or 0.0, output=values["output"] or 0.0,
                                 cached_input=values["cached_input"], batch_input=values["batch_input"],
                                 batch_output=values["batch_output"], tokenizer=str(entry.get("tokenizer", "cl100k")),
                                 per_tokens=per)
        for alias in entry.get("aliases") or ():
            aliases[str(alias).lower()] = key_name
    return PriceTable(prices, aliases, str(data.get("date", "")), source)


def read_table(path: str | Path) -> PriceTable:
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"--price-table: no such file: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where=where) from None
    return parse_table(data, str(p))


@functools.lru_cache(maxsize=1)
def default_table() -> PriceTable:
    return read_table(DEFAULT_TABLE)


def load_prices(override: str | Path | None = None) -> PriceTable:
    """The shipped table, with ``override``'s entries (``--price-table``) replacing ours by name."""
    table = default_table()
    return table.merged(read_table(override)) if override else table


def tokenizer_for_model(model: str | None, table: PriceTable | None = None) -> str | None:
    """The tokenizer lara counts ``model``'s tokens with (from the price table), or None."""
    price = (table or default_table()).lookup(model)
    return price.tokenizer if price else None
