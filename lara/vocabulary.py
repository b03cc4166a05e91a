"""The one vocabulary of question categories, strategies and length buckets.

Tasks emit these names, scorers select prompts by them, tables group by them and routing policies
key on them; one module means a spelling can never differ between two of them (a judge once chose
its hallucination prompt for ``"hallu"`` while the task emitted ``"hallucination"``). Standard
library only, so :mod:`lara.routing` can import it.
"""

from __future__ import annotations

import difflib
from typing import Iterable

#: LaRA's four question categories (Li et al., ICML 2025), in the paper's column order.
CATEGORIES: tuple[str, ...] = ("location", "reasoning", "comparison", "hallucination")
#: Abbreviations found in LaRA's file names (``32k_book_comp.jsonl``); accepted on input only.
CATEGORY_ALIASES: dict[str, str] = {
    "loc": "location",
    "reas": "reasoning",
    "comp": "comparison",
    "hallu": "hallucination",
}
#: How a runner uses its context; every record stores its runner's strategy.
STRATEGIES: tuple[str, ...] = ("long_context", "rag", "iterative_rag", "self_route", "none")
#: LaRA's length buckets.
LENGTHS: tuple[str, ...] = ("32k", "128k")


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'comparison'?)`` when a close spelling exists, else an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    if not close:
        # prefixes: "compare" -> "comparison", "hall" -> "hallucination"
        close = [c for c in choices if c.startswith(str(value)[:4])][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def category(name: str | None) -> str | None:
    """The canonical category for a name or LaRA abbreviation; None for None, empty or unknown names.

    Lenient on purpose: tasks other than LaRA carry their own categories (e.g. ``gsm8k``), which
    simply are not LaRA categories. Use :func:`check_category` where an unknown name is a mistake.
    """
    if name is None:
        return None
    key = str(name).strip().lower()
    key = CATEGORY_ALIASES.get(key, key)
    return key if key in CATEGORIES else None


def check_category(name: str, allowed: Iterable[str] = CATEGORIES) -> str:
    """The canonical category, or ValueError naming the valid ones (with a did-you-mean)."""
    allowed = tuple(allowed)
    key = str(name).strip().lower()
    key = CATEGORY_ALIASES.get(key, key)
    if key in allowed:
        return key
    raise ValueError(f"unknown category {name!r}{did_you_mean(key, allowed)}; valid: {', '.join(allowed)}")


def check_choice(kind: str, value: str, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else ValueError with the valid names and a did-you-mean."""
    allowed = tuple(allowed)
    if value in allowed:
        return value
    raise ValueError(f"unknown {kind} {value!r}{did_you_mean(value, allowed)}; valid: {', '.join(allowed)}")
