"""Tiny HTML helpers: every value goes through :func:`html.escape`; embedded JSON is made safe for
a ``<script type="application/json">`` element (no ``</script>`` break-out, no ``<!--``)."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def script_json(obj: Any) -> str:
    """JSON for an inline script block: ``<``, ``>``, ``&`` and the JS line separators escaped as
    ``\\uXXXX`` so no answer text can close the element or start a comment."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


@dataclass(frozen=True)
class Cell:
    """A table cell: display text, optional sort value and CSS class."""

    text: str
    sort: float | str | None = None
    cls: str = ""
    raw: bool = False  # text is trusted markup built here (buttons), never record content


def num(value: float | int | None, fmt: str = "{:.1f}", cls: str = "num") -> Cell:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Cell("–", None, cls)
    return Cell(fmt.format(value), value, cls)


def pct(value: float | None, digits: int = 1) -> Cell:
    """A 0..1 fraction shown as a percentage (same rounding as the terminal leaderboard)."""
    return num(None if value is None else 100 * value, f"{{:.{digits}f}}")


def signed(value: float | None) -> Cell:
    if value is None:
        return Cell("–", None, "num")
    return Cell(f"{value:+.2f}", value, "num " + ("pos" if value > 0 else "neg" if value < 0 else ""))


def table(
    headers: Sequence[str],
    rows: Iterable[tuple[Sequence[Cell | str], Mapping[str, str]]],
    *,
    sortable: bool = True,
    filterable: bool = False,
    table_id: str | None = None,
    row_class: str = "",
    col_attrs: Sequence[Mapping[str, str]] | None = None,
) -> str:
    """Rows are ``(cells, attrs)``; attrs become ``data-*`` attributes of the row (filters,
    drill-down; several values of one attribute are joined by a tab). ``col_attrs`` (one mapping per
    column) become ``data-*`` attributes of the header cell, for filters that hide columns."""
    cls = " ".join(c for c in ("sortable" if sortable else "", "filterable" if filterable else "") if c)
    out = [f'<div class="scroll"><table{f" id={chr(34)}{esc(table_id)}{chr(34)}" if table_id else ""} class="{cls}">']
    cols = list(col_attrs or [{}] * len(headers))
    out.append("<thead><tr>" + "".join(
        f"<th{''.join(f' data-{esc(k)}={chr(34)}{esc(v)}{chr(34)}' for k, v in a.items())}>{esc(h)}</th>"
        for h, a in zip(headers, cols)) + "</tr></thead><tbody>")
    for cells, attrs in rows:
        extra = ""
        if attrs.get("class") or row_class:
            extra = f' class="{esc(" ".join(c for c in (row_class, attrs.get("class", "")) if c))}"'
        data = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in attrs.items() if k != "class")
        tds = []
        for c in cells:
            if isinstance(c, str):
                c = Cell(c)
            sort = "" if c.sort is None else f' data-v="{esc(c.sort)}"'
            klass = f' class="{esc(c.cls)}"' if c.cls else ""
            tds.append(f"<td{klass}{sort}>{c.text if c.raw else esc(c.text)}</td>")
        out.append(f"<tr{extra}{data}>" + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def details(summary: str, body: str, *, open_: bool = False, cls: str = "") -> str:
    """A collapsed block (``<details>``): long tables stay one line until the reader opens them."""
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<details{klass}{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body}</details>"


def section(anchor: str, title: str, body: str, note: str = "") -> str:
    n = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{n}{body}</section>'
