"""Reading JSONL data files with errors that name the file and line (one implementation for all)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from lara.errors import DataError, MissingDataError  # noqa: F401 - re-exported for loaders


def read_jsonl(path: str | Path, what: str = "data file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for every non-blank line, parsed one line at a time.

    A missing file raises DataError (also a FileNotFoundError) naming ``what`` and the path; a
    malformed line or a line that is not a JSON object raises DataError naming ``path:line``.
    """
    path = Path(path)
    try:
        fh = path.open("rb")  # decoded line by line, so a bad byte is named by its line
    except FileNotFoundError as exc:
        raise MissingDataError(f"{what} not found: {path}") from exc
    with fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{lineno}: {what} is not UTF-8 (byte 0x{raw[exc.start]:02x})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: malformed JSON: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj
