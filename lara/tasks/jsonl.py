"""Bring your own data: any JSONL file mapped onto samples by field names, no Python needed.

Each line is one question. ``question_field`` and ``answers_field`` (a string or a list) are
required; the context comes from ``document_field`` (inline text) or ``document_path_field`` (a
file path, relative to the JSONL file's folder, which must stay inside that folder: ``../`` paths,
absolute paths and symlinks leading out are refused unless ``allow_outside_data`` is set
(``lara run --allow-outside-data``), so a data file from elsewhere cannot make a run read, and send
to a model, any file the user can read). Lines that name the same text or file share one
Document, so the RAG index and the LC prefix are built once per document. ``metadata_fields`` are
copied into the sample metadata (``category``, ``context_type``, ``length`` reach the leaderboard).
A malformed line raises an error naming file and line. Template: tasks/jsonl.yaml.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.tasks.demos import DataError, read_jsonl
from lara.types import Document, Message, Sample

DEFAULT_INSTRUCTION = "Answer the question based on the document. Be concise."


def _doc_id(kind: str, key: str) -> str:
    return f"{kind}-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


@tasks.register("jsonl")
class JSONLTask:
    """Your own JSONL questions + documents, compared with LC and RAG (fields mapped by a preset)."""

    name = "jsonl"
    version = "1"

    def __init__(self, path: str | None = None, question_field: str = "question", answers_field: str = "answers",
                 document_field: str | None = None, document_path_field: str | None = None,
                 id_field: str | None = "id", metadata_fields: Sequence[str] = (),
                 scorer: str = "synthetic_exact", instruction: str = DEFAULT_INSTRUCTION, name: str | None = None,
                 allow_outside_data: bool = False) -> None:
        if not path:
            raise ValueError("jsonl task needs path=<file.jsonl>")
        if document_field and document_path_field:
            raise ValueError("give document_field or document_path_field, not both")
        if isinstance(metadata_fields, str):
            metadata_fields = [metadata_fields]
        self.path = Path(path)
        self.question_field, self.answers_field = question_field, answers_field
        self.document_field, self.document_path_field = document_field, document_path_field
        self.id_field, self.metadata_fields = id_field, tuple(metadata_fields)
        self.default_scorer, self.instruction = scorer, instruction
        self.dataset = name or self.path.stem
        self.allow_outside_data = bool(allow_outside_data)

    def _document(self, obj: dict[str, Any], where: str, cache: dict[str, Document]) -> tuple[Document, ...]:
        if self.document_field:
            text = obj.get(self.document_field)
            if not isinstance(text, str):
                raise DataError(f"{where}: field {self.document_field!r} must be a string")
            key = _doc_id("text", text)
            if key not in cache:
                cache[key] = Document(id=key, text=text)
            return (cache[key],)
        if self.document_path_field:
            rel = obj.get(self.document_path_field)
            if not isinstance(rel, str) or not rel:
                raise DataError(f"{where}: field {self.document_path_field!r} must be a file path")
            p = Path(rel) if Path(rel).is_absolute() else self.path.parent / rel
            root = self.path.parent.resolve()
            real = p.resolve()
            if not self.allow_outside_data and not real.is_relative_to(root):
                raise DataError(f"{where}: document path {rel!r} leads outside the dataset folder {root} "
                                "(pass --allow-outside-data to read it anyway)")
            if not real.is_file():
                raise DataError(f"{where}: document file not found: {p}")
            key = _doc_id("file", str(real))
            if key not in cache:
                # the checked (resolved) path is the one read later
                cache[key] = Document(id=key, path=str(real), title=p.name)
            return (cache[key],)
        return ()

    def samples(self) -> Iterator[Sample]:
        cache: dict[str, Document] = {}
        seen: set[str] = set()
        for lineno, obj in read_jsonl(self.path):
            where = f"{self.path}:{lineno}"
            question = obj.get(self.question_field)
            if not isinstance(question, str) or not question.strip():
                raise DataError(f"{where}: missing or empty field {self.question_field!r}")
            if self.answers_field not in obj:
                raise DataError(f"{where}: missing field {self.answers_field!r}")
            answers = obj[self.answers_field]
            answers = [answers] if isinstance(answers, (str, int, float)) else answers
            if not isinstance(answers, list):
                raise DataError(f"{where}: field {self.answers_field!r} must be a string or a list")
            sid = str(obj[self.id_field]) if self.id_field and self.id_field in obj else f"{self.dataset}-{lineno}"
            if sid in seen:
                raise DataError(f"{where}: duplicate id {sid!r}")
            seen.add(sid)
            meta = {f: obj[f] for f in self.metadata_fields if f in obj}
            yield Sample(sid, question, tuple(str(a) for a in answers), self._document(obj, where, cache), meta)

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        if context.mode == "rag":
            ctx = "\n\n".join(c.text for c in context.chunks)
        else:
            ctx = context.text or ""
        parts = [self.instruction]
        if ctx:
            parts.append(f"Document:\n{ctx}")
        parts.append(f"Question: {sample.question}\nAnswer:")
        return [Message("user", "\n\n".join(parts))]
