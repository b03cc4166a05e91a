"""LaRA (Li et al., ICML 2025): 2,326 questions over books, financial statements and papers.

Data layout (``<data>/datasets``): ``query/{len}_{type}_{task}.jsonl`` and the long contexts as
plain files ``{len}/{type}/<file>``. Quirks handled here (from the upstream data, commit c17155376f4e):
context type and task come from the *file name* (the ``type`` field is inconsistent); files have no
trailing newline; book location files carry an unused inline ``context`` slice (10.7 MB at 128k)
that is dropped line by line while loading; ``context_order`` is an int or ``"full"`` and comparison
questions carry ``comp_parts`` instead; paper files join 2–5 papers delimited by ``<paper k>`` ...
``</end of paper k>`` (:func:`split_papers`). Documents are shared per file and read on demand.
``source=`` reads the same questions as a ``datasets`` table instead (:mod:`lara.tasks.lara_hf`).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

from lara.jsonl import read_jsonl
from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.types import Document, Message, Sample, TruncationReport
from lara.errors import DataError, MissingDataError
from lara.vocabulary import CATEGORIES

LENGTHS = ("32k", "128k")
CONTEXT_TYPES = ("book", "financial", "paper")
# The one category vocabulary (lara.vocabulary); FILE_TASK is how upstream spells them in file names.
FILE_TASK = {"location": "location", "reasoning": "reasoning", "comparison": "comp", "hallucination": "hallu"}
CATEGORY_OF = {v: k for k, v in FILE_TASK.items()}
REQUIRED_FIELDS = ("file", "question", "answer")
PROMPTS_FILE = Path(__file__).resolve().parent.parent / "prompts" / "lara.yaml"
_PAPER_RE = re.compile(r"<paper (\d+)>\n?(.*?)\n?</end of paper \1>", re.S)


@functools.lru_cache(maxsize=1)
def load_prompts() -> dict[str, Any]:
    """The paper's prompt strings (data file with its source, see lara/prompts/lara.yaml)."""
    import yaml

    return yaml.safe_load(PROMPTS_FILE.read_text(encoding="utf-8"))


def default_data_root() -> Path:
    """Where ``lara data fetch lara`` puts the data: <user cache>/data/lara."""
    from lara.cache import default_cache_dir

    return default_cache_dir() / "data" / "lara"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the ``datasets`` folder: param, else $LARA_DATA_DIR, else the fetched copy.

    Accepts the folder that holds ``datasets/`` or the ``datasets`` folder itself.
    """
    candidates: list[tuple[str, Path]] = []
    if data_dir:
        candidates.append(("data_dir", Path(data_dir)))
    elif os.environ.get("LARA_DATA_DIR"):
        candidates.append(("LARA_DATA_DIR", Path(os.environ["LARA_DATA_DIR"])))
    else:
        candidates.append(("user cache", default_data_root()))
    source, base = candidates[0]
    base = base.expanduser()
    for p in (base, base / "datasets", base / "lara" / "datasets"):
        if (p / "query").is_dir():
            return p
    hint = "" if source != "user cache" else " (run `lara data fetch lara` or set LARA_DATA_DIR)"
    raise MissingDataError(f"LaRA data not found at {base} ({source}): no query/ folder{hint}")


def split_papers(text: str) -> list[tuple[int, str]]:
    """(k, text) for each ``<paper k>`` ... ``</end of paper k>`` block of a paper file."""
    return [(int(m.group(1)), m.group(2)) for m in _PAPER_RE.finditer(text)]


def iter_query_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, row) of a query file, without the unused inline ``context``.

    Parsed line by line so that at most one inline context slice (~43 KB) is alive at a time.
    """
    for line_no, row in read_jsonl(path, what="LaRA query file"):
        row.pop("context", None)
        missing = [f for f in REQUIRED_FIELDS if f not in row]
        if missing:
            raise DataError(f"missing field(s) {', '.join(missing)}", where=f"{path}:{line_no}")
        yield line_no, row


def _as_list(value: Any, name: str, valid: Sequence[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in items if v not in valid]
    if bad:
        raise ValueError(f"lara task: unknown {name} {bad}; valid: {', '.join(valid)}")
    return items


@tasks.register("lara")
class LaraTask:
    """LaRA: LC vs RAG over 32k/128k books, financial statements and papers (2,326 questions)."""

    name = "lara"
    version = "1"
    default_scorer = "lexical"

    def __init__(
        self,
        data_dir: str | None = None,
        lengths: Sequence[str] | str = LENGTHS,
        context_types: Sequence[str] | str = CONTEXT_TYPES,
        categories: Sequence[str] | str = CATEGORIES,
        lc_max_prompt_tokens: int | None = None,
        source: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.source = source  # hf:<id>, a save_to_disk folder or parquet files (lara.tasks.lara_hf)
        self.lengths = _as_list(lengths, "lengths", LENGTHS)
        self.context_types = _as_list(context_types, "context_types", CONTEXT_TYPES)
        self.categories = _as_list(categories, "categories", CATEGORIES)
        limit = lc_max_prompt_tokens if lc_max_prompt_tokens is not None else load_prompts()["lc_max_prompt_tokens"]
        self.lc_max_prompt_tokens = int(limit)
        self._samples: list[Sample] | None = None
        self._heads: dict[tuple[str, str], list[Any]] = {}  # (doc, type) -> [bytes, tokens]

    # -- loading -----------------------------------------------------------------------------
    def samples(self) -> list[Sample]:
        if self._samples is None:
            self._samples = list(self._load())
        return self._samples

    def _load(self) -> Iterator[Sample]:
        if self.source:
            from lara.tasks.lara_hf import iter_samples

            yield from iter_samples(self, self.source)
            return
        root = resolve_data_dir(self.data_dir)
        docs: dict[tuple[str, str, str], Document] = {}
        for length in self.lengths:
            for ctype in self.context_types:
                for category in self.categories:
                    task = FILE_TASK[category]
                    qpath = root / "query" / f"{length}_{ctype}_{task}.jsonl"
                    for index, (line_no, row) in enumerate(iter_query_rows(qpath)):
                        key = (length, ctype, row["file"])
                        doc = docs.get(key)
                        if doc is None:
                            path = root / length / ctype / row["file"]
                            if not path.is_file():
                                raise MissingDataError(
                                    f"{qpath}:{line_no}: context file missing: {path}"
                                )
                            doc = docs[key] = Document(
                                id=f"lara/{length}/{ctype}/{row['file']}",
                                path=str(path),
                                title=row["file"],
                                metadata={"length": length, "context_type": ctype},
                            )
                        yield self._sample(row, doc, length, ctype, category, task, index, qpath, line_no)

    @staticmethod
    def _sample(
        row: dict[str, Any], doc: Document, length: str, ctype: str, category: str, task: str,
        index: int, qpath: Path, line_no: int,
    ) -> Sample:
        meta: dict[str, Any] = {
            "category": category,
            "context_type": ctype,
            "length": length,
            "file": row["file"],
            "level": row.get("level"),
            "type_field": row.get("type"),
            "query_file": qpath.name,
            "line": line_no,
        }
        if "comp_parts" in row:
            meta["comp_parts"] = [int(p) for p in row["comp_parts"]]
        elif "context_order" in row:
            order = row["context_order"]
            meta["context_order"] = order if order == "full" else int(order)
        else:
            raise DataError("neither context_order nor comp_parts", where=f"{qpath}:{line_no}")
        return Sample(
            id=f"{length}_{ctype}_{task}_{index}",
            question=row["question"],
            references=(row["answer"],),
            documents=(doc,),
            metadata=meta,
        )

    # -- prompts -----------------------------------------------------------------------------
    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        p = load_prompts()
        return [Message("system", p["system"]), Message("user", self.user_prompt(sample, context))]

    def user_prompt(self, sample: Sample, context: ContextBlock) -> str:
        p = load_prompts()
        ctype = sample.metadata["context_type"]
        if context.mode == "long_context":
            text = context.text if context.text is not None else sample.documents[0].load_text()
            return p["long_context"][ctype].format(context=text, question=sample.question)
        if context.mode == "rag":
            body = "".join(p["rag_chunk"].format(i=i, text=c.text) for i, c in enumerate(context.chunks))
            return p["rag"][ctype].format(context=body, question=sample.question)
        if context.mode == "none":
            return p["none"][ctype].format(question=sample.question)
        raise ValueError(f"lara task: unknown context mode {context.mode!r}; valid: long_context, rag, none")

    def fit_context(
        self, sample: Sample, max_tokens: int | None, tokenizer: Any
    ) -> tuple[ContextBlock, TruncationReport]:
        """The paper's LC truncation: cut the middle of the whole *prompt* (not just the context).

        If the prompt exceeds ``min(max_tokens, lc_max_prompt_tokens)`` tokens (127,000 in the
        paper), keep the first half and the last half of that many tokens and decode them together
        (``eval_utils.create_msgs``). The returned context is the part between the template's prefix
        and suffix, so :meth:`messages` rebuilds exactly the paper's truncated prompt. The report
        counts prompt tokens.
        """
        limit = self.lc_max_prompt_tokens if max_tokens is None else min(max_tokens, self.lc_max_prompt_tokens)
        text = sample.documents[0].load_text()
        prompt = self.user_prompt(sample, ContextBlock(mode="long_context", text=text))
        n = tokenizer.count(prompt)
        if n <= limit:
            return ContextBlock(mode="long_context", text=text), TruncationReport("middle", n, n, 0)
        ids = tokenizer.encode(prompt)
        head = limit // 2
        cut = tokenizer.decode(list(ids[:head]) + list(ids[len(ids) - (limit - head):]))
        template = load_prompts()["long_context"][sample.metadata["context_type"]]
        prefix, _, suffix = template.partition("{context}")
        suffix = suffix.format(question=sample.question)
        if not (cut.startswith(prefix) and cut.endswith(suffix)) or len(cut) < len(prefix) + len(suffix):
            raise ValueError(f"{sample.id}: truncation limit {limit} too small to keep the prompt frame")
        kept = cut[len(prefix): len(cut) - len(suffix)]
        return ContextBlock(mode="long_context", text=kept), TruncationReport("middle", len(ids), limit, len(ids) - limit)

    def prefix_key(self, sample: Sample, tokenizer: Any) -> str | None:
        """Scheduling hint (lara.scheduling): what this sample's LC prompt shares a prefix with.

        A prompt that fits keeps its whole document, so the document key applies (None). A prompt
        that :meth:`fit_context` cuts keeps the head and the last ``limit - limit // 2`` tokens, so
        where its kept tail starts in the document depends on the question's token count: prompts
        share head + tail slice only when those counts are equal, hence the key ``doc#tail<n>``.
        The prompt is split before ``Question:`` (a newline-then-letter point, where cl100k counts
        add up exactly, see :func:`lara.tokenizers_cl100k.stable_split`); the head (template +
        document) is counted once per document, only when its UTF-8 size (an upper bound on the
        token count) could exceed the limit; each question tail is short. The limit is the paper's
        ``lc_max_prompt_tokens``; a smaller model window cuts more prompts than this key knows of,
        which only makes the schedule less cache-friendly, never wrong.
        """
        if not sample.documents:
            return None
        ctype = sample.metadata["context_type"]
        prefix, _, suffix = load_prompts()["long_context"][ctype].partition("{context}")
        at = suffix.find("Question")
        at = at if at > 0 else 0
        doc = sample.documents[0]
        head = self._heads.get((doc.id, ctype))
        if head is None:
            text = prefix + doc.load_text() + suffix[:at]
            head = self._heads[(doc.id, ctype)] = [len(text.encode("utf-8")), None]
        tail = suffix[at:].format(question=sample.question)
        limit = self.lc_max_prompt_tokens
        if limit is None or head[0] + len(tail.encode("utf-8")) <= limit:  # a token is at least one byte
            return None
        if head[1] is None:
            head[1] = tokenizer.count(prefix + doc.load_text() + suffix[:at])
        n_tail = tokenizer.count(tail)
        if head[1] + n_tail <= limit:
            return None
        return f"{doc.id}#tail{n_tail}"

def lc_truncation_report(
    data_dir: str | os.PathLike[str] | None = None, limit: int | None = None, tokenizer: Any = None
) -> dict[str, Any]:
    """Which questions the paper's LC truncation cuts (prompt > ``limit`` cl100k tokens).

    Each document is counted once; prompts are counted only for documents within 2,000 tokens of
    the limit or above it (template + question add far fewer). Those prompts are counted exactly
    as head (template + document up to a :func:`~lara.tokenizers_cl100k.stable_split` point,
    counted once) + per-question tail, which is exact for cl100k.
    """
    from lara.tokenizers_cl100k import stable_split

    if tokenizer is None:
        from lara.tokens import get_tokenizer

        tokenizer = get_tokenizer("cl100k")
    task = LaraTask(data_dir=str(data_dir) if data_dir else None, lc_max_prompt_tokens=limit)
    limit = task.lc_max_prompt_tokens
    by_doc: dict[str, list[Sample]] = {}
    for s in task.samples():
        by_doc.setdefault(s.documents[0].id, []).append(s)
    truncated: list[str] = []
    docs: dict[str, dict[str, Any]] = {}
    for doc_id, samples in by_doc.items():
        doc_tokens = tokenizer.count(samples[0].documents[0].load_text())
        if doc_tokens < limit - 2000:
            continue
        text = samples[0].documents[0].load_text()
        cut = []
        head_tokens: dict[str, int] = {}
        for s in samples:
            prompt = task.user_prompt(s, ContextBlock(mode="long_context", text=text))
            split = stable_split(prompt, prompt.rfind("\n\nQuestion: "))
            if split is None or tokenizer.name != "cl100k":
                n = tokenizer.count(prompt)
            else:
                head = prompt[:split]
                if head not in head_tokens:
                    head_tokens[head] = tokenizer.count(head)
                n = head_tokens[head] + tokenizer.count(prompt[split:])
            if n > limit:
                cut.append(s.id)
        if cut:
            docs[doc_id] = {"document_tokens": doc_tokens, "questions": len(cut)}
            truncated.extend(cut)
    return {
        "limit": limit,
        "questions": len(task.samples()),
        "documents_checked": len(by_doc),
        "truncated_questions": len(truncated),
        "truncated_documents": docs,
        "sample_ids": truncated,
    }
