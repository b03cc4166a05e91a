"""Reading a generated report page back in tests: a strict HTML parser that checks every tag closes
in order and collects the tables (by id), their rows' attributes and the embedded JSON block."""

from __future__ import annotations

from collections import defaultdict
from html.parser import HTMLParser

VOID = {"meta", "img", "input", "br", "hr", "link"}


class PageParser(HTMLParser):
    """Checks that every non-void tag is closed in order; collects tables (by id), the attributes of
    their rows and header cells, whether a table sits in a closed ``<details>``, and JSON blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self._details: list[bool] = []  # open state of the enclosing <details> elements
        self.collapsed: dict[str, bool] = {}  # table id -> inside a <details> that is not open
        self.header_attrs: dict[str, list[dict]] = defaultdict(list)
        self.errors: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.rows_attrs: dict[str, list[dict]] = defaultdict(list)
        self.json_blocks: list[str] = []
        self.scripts = 0
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._json = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
            self._json = a.get("type") == "application/json"
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "details":
            self._details.append("open" in a)
        if tag == "table":
            self._table = a.get("id") or f"t{len(self.tables)}"
            self.tables[self._table] = []
            self.collapsed[self._table] = any(not o for o in self._details)
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
            self.rows_attrs[self._table].append(a)
        elif tag in ("td", "th") and self._table:
            self._cell = []
            if tag == "th":
                self.header_attrs[self._table].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        if tag == "details":
            self._details.pop()
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._json = False

    def handle_data(self, data: str) -> None:
        if self._json:
            self.json_blocks.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_page(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser
