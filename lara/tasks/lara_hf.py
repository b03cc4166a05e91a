"""LaRA as a ``datasets`` table: one row per question, so ``-T source=`` can read it from the hub,
a ``save_to_disk`` folder or parquet files (:mod:`lara.tasks.hf_data`).

Columns: the upstream query fields (``file``, ``question``, ``answer``, ``level``, ``type``), the
cell they come from (``length``, ``context_type``, ``task`` as in the query file name:
location|reasoning|comp|hallu, and ``line``, the row's line in that file), ``context_order`` as text
(an index or ``full``: Arrow columns hold one type) or ``comp_parts``, and optionally ``document``,
the whole context text (a self-contained table; without it contexts are read from the LaRA folder
by file name). :func:`rows_from_folder` writes this table from the upstream folder; the task turns
it into exactly the samples the folder loader makes (same ids, questions, references, metadata).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from lara.errors import DataError

COLUMNS = ("length", "context_type", "task", "line", "file", "question", "answer", "level", "type",
           "context_order", "comp_parts")


def rows_from_folder(data_dir: str | Path | None = None, with_documents: bool = False) -> list[dict[str, Any]]:
    """The table of every question of a local LaRA folder (upstream layout), in file order."""
    from lara.tasks.lara import CONTEXT_TYPES, FILE_TASK, LENGTHS, iter_query_rows, resolve_data_dir

    root = resolve_data_dir(data_dir)
    texts: dict[Path, str] = {}
    out = []
    for length in LENGTHS:
        for ctype in CONTEXT_TYPES:
            for task in FILE_TASK.values():
                qpath = root / "query" / f"{length}_{ctype}_{task}.jsonl"
                if not qpath.is_file():
                    continue
                for line, row in iter_query_rows(qpath):
                    order = row.get("context_order")
                    rec = {"length": length, "context_type": ctype, "task": task, "line": line,
                           "file": row["file"], "question": row["question"], "answer": row["answer"],
                           "level": row.get("level"), "type": row.get("type"),
                           "context_order": None if order is None else str(order),
                           "comp_parts": [int(p) for p in row["comp_parts"]] if "comp_parts" in row else None}
                    if with_documents:
                        path = root / length / ctype / row["file"]
                        if path not in texts:
                            texts[path] = path.read_text(encoding="utf-8")
                        rec["document"] = texts[path]
                    out.append(rec)
    return out


def to_query_row(r: dict[str, Any], where: str) -> dict[str, Any]:
    """A table row back in the upstream query-row shape the task's sample builder reads."""
    for key in ("length", "context_type", "task", "file", "question", "answer"):
        if r.get(key) in (None, ""):
            raise DataError(f"{where}: missing field {key!r} (LaRA table columns: {', '.join(COLUMNS)})")
    row: dict[str, Any] = {k: r[k] for k in ("file", "question", "answer", "level", "type") if k in r}
    if r.get("comp_parts") is not None:
        row["comp_parts"] = list(r["comp_parts"])
    elif r.get("context_order") is not None:
        order = str(r["context_order"])
        row["context_order"] = order if order == "full" else int(order)
    return row


def grouped_rows(rows: list[dict[str, Any]], where: str) -> dict[tuple[str, str, str], list[tuple[int, dict[str, Any], dict[str, Any]]]]:
    """(length, context type, file task) -> [(line, query row, table row)] in table order."""
    from lara.tasks.lara import CATEGORY_OF

    groups: dict[tuple[str, str, str], list[tuple[int, dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for i, r in enumerate(rows):
        at = f"{where} row {i + 1}"
        row = to_query_row(r, at)
        task = str(r["task"])
        if task not in CATEGORY_OF:  # a category name instead of the file-name task
            from lara.tasks.lara import FILE_TASK

            if task not in FILE_TASK:
                raise DataError(f"{at}: unknown task {task!r}; valid: {', '.join(CATEGORY_OF)}")
            task = FILE_TASK[task]
        key = (str(r["length"]), str(r["context_type"]), task)
        groups[key].append((int(r.get("line") or len(groups[key]) + 1), row, r))
    return groups


def iter_samples(task: Any, source: str) -> Iterator[Any]:
    """The task's samples from a table source, in the folder loader's order."""
    from lara.tasks.hf_data import describe, load_rows
    from lara.tasks.lara import CATEGORY_OF, FILE_TASK, resolve_data_dir
    from lara.types import Document

    rows = load_rows(source, what="LaRA")
    groups = grouped_rows(rows, describe(source))
    docs: dict[tuple[str, str, str], Document] = {}
    root: Path | None = None
    for length in task.lengths:
        for ctype in task.context_types:
            for category in task.categories:
                ftask = FILE_TASK[category]
                qname = Path(f"{length}_{ctype}_{ftask}.jsonl")
                for index, (line, row, raw) in enumerate(groups.get((length, ctype, ftask), [])):
                    key = (length, ctype, row["file"])
                    doc = docs.get(key)
                    if doc is None:
                        meta = {"length": length, "context_type": ctype}
                        doc_id = f"lara/{length}/{ctype}/{row['file']}"
                        if raw.get("document"):
                            doc = Document(id=doc_id, text=raw["document"], title=row["file"], metadata=meta)
                        else:
                            try:
                                root = root or resolve_data_dir(task.data_dir)
                            except FileNotFoundError as exc:
                                raise DataError(f"{describe(source)}: no 'document' column and no context file "
                                                f"folder ({exc})") from None
                            path = root / length / ctype / row["file"]
                            if not path.is_file():
                                raise DataError(f"{describe(source)}: no 'document' column and no context file {path}")
                            doc = Document(id=doc_id, path=str(path), title=row["file"], metadata=meta)
                        docs[key] = doc
                    assert CATEGORY_OF[ftask] == category
                    yield task._sample(row, doc, length, ctype, category, ftask, index, qname, line)
