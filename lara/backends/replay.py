"""Replay backend: answers with the LaRA authors' recorded model outputs, no GPU or API needed.

``replay:<dir>`` where ``<dir>`` is one model folder of ``predictions/`` holding
``{full|rag}_preds_<name>_<len>_<type>_<task>.jsonl`` (fields ``question``, ``prediction``,
``ground_truth`` + the query fields). The runner only hands us messages, so a call is matched by
(mode, context type, question): the mode and context type come from the paper prompt's first
sentence ("Read the ..." = LC, "Here are some chunks ..." = RAG) unless ``mode=`` is given, and the
question from the prompt's final "Question: ..." part. The file name's model part is ignored
(the gpt-4o-0806 folder's files are named gpt-4o-mini).

Duplicates: in the LaRA data the same question text occurs for several documents (32k financial
location: "What was the net loss for the three months ended March 31, 2024?" for 6 filings, three
more questions twice) and once twice for the same document (128k financial hallu, Paratek). A
duplicated question is resolved by the document the prompt shows (a snippet of the context or of
chunk 0 must occur in the candidate's file, read from the LaRA data folder); candidates that share
a document (identical prompts) resolve to the first row in (length, task, line) order.

Recorded JSON ``false`` predictions (upstream API failures) raise ``BackendError`` with
``kind="upstream_failure"``; a question with no recorded row raises ``BackendError`` with
``kind="missing"``: both become error records, never crashes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from lara.protocols import Failure
from lara.jsonl import DataError, read_jsonl
from lara.backends.base import BackendError, EndpointLimits
from lara.registry import backends
from lara.tokenizers_cl100k import stable_split
from lara.types import GenerateConfig, Generation, Message, ModelInfo

log = logging.getLogger(__name__)

FILE_RE = re.compile(
    r"^(full|rag)_preds_(?P<name>.+)_(?P<len>32k|128k)_(?P<type>book|financial|paper)_"
    r"(?P<task>location|reasoning|comp|hallu)\.jsonl$"
)
FILE_MODE = {"full": "long_context", "rag": "rag"}
MODE_ALIASES = {"long_context": "long_context", "lc": "long_context", "full": "long_context", "rag": "rag"}
QUESTION_MARK = "\n\nQuestion: "
SUFFIXES = ("\n\n Be concise.", "\n\nBe concise.")
SNIPPET_CHARS = 200
CONTEXT_WINDOW = 128_000
SPLIT_MIN_CHARS = 4_000  # below this, counting the whole text is cheap enough


@dataclass(frozen=True)
class Recorded:
    """One recorded row: where it came from and what the model said (``False`` = failed call)."""

    prediction: Any
    length: str
    task: str
    file: str
    source: str
    line: int


def recorded_answer(rec: Recorded) -> str:
    """The recorded answer text, or ``BackendError`` for a failed call (JSON ``false``) or non-text.

    The one rule for what a recorded prediction means: :meth:`ReplayBackend.generate` applies it, and
    so does ``benchmarks/judge_fidelity.py``, so a failed prediction counts the same in both (an
    error record, outside the accuracy denominator).
    """
    if rec.prediction is False:
        raise BackendError(
            f"upstream_failure: recorded prediction is JSON false (failed API call upstream) "
            f"in {rec.source}:{rec.line}",
            kind="upstream_failure",
        )
    if not isinstance(rec.prediction, str):
        raise BackendError(f"replay: prediction is not text in {rec.source}:{rec.line}")
    return rec.prediction


def _templates() -> dict[tuple[str, str], tuple[str, str]]:
    """(mode, context type) -> (prefix before {context}, suffix after {question})."""
    from lara.tasks.lara import load_prompts

    p = load_prompts()
    out = {}
    for mode in ("long_context", "rag"):
        for ctype, tpl in p[mode].items():
            prefix, _, rest = tpl.partition("{context}")
            out[(mode, ctype)] = (prefix, rest.partition("{question}")[2])
    return out


@backends.register("replay")
class ReplayBackend:
    """Recorded LaRA predictions served as a chat model (offline; matched by mode + question)."""

    def __init__(
        self,
        limits: EndpointLimits | None = None,
        model: str | None = None,
        mode: str | None = None,
        data_dir: str | None = None,
        predictions_root: str | None = None,
    ) -> None:
        if not model:
            raise ValueError("replay backend needs a predictions folder: --model replay:<dir>")
        self.dir = self._resolve_dir(model, predictions_root)
        if mode is not None and mode not in MODE_ALIASES:
            raise ValueError(f"replay: unknown mode {mode!r}; valid: {', '.join(MODE_ALIASES)}")
        self.mode = MODE_ALIASES.get(mode) if mode else None
        self.data_dir = data_dir
        self.info = ModelInfo(
            id=self.dir.name, backend="replay", context_window=CONTEXT_WINDOW, endpoint=f"replay://{self.dir}"
        )
        self._index: dict[tuple[str, str, str], list[Recorded]] | None = None
        self._token_cache: dict[str, int] = {}
        self._tokenizer: Any = None
        self._datasets: Path | None | bool = False  # False = not looked up yet
        self.duplicates: dict[tuple[str, str, str], int] = {}

    @staticmethod
    def _resolve_dir(model: str, root: str | None) -> Path:
        p = Path(model).expanduser()
        if p.is_dir():
            return p.resolve()
        root = root or os.environ.get("LARA_PREDICTIONS_DIR")
        if root and (Path(root) / model).is_dir():
            return (Path(root) / model).resolve()
        raise ValueError(
            f"replay: predictions folder not found: {model!r} (give a path, or a folder name with "
            "predictions_root= / LARA_PREDICTIONS_DIR)"
        )

    # -- index -----------------------------------------------------------------------------
    def index(self) -> dict[tuple[str, str, str], list[Recorded]]:
        """(mode, context type, question) -> recorded rows; built once, on first use."""
        if self._index is not None:
            return self._index
        index: dict[tuple[str, str, str], list[Recorded]] = {}
        files = sorted(self.dir.glob("*_preds_*.jsonl"))
        if not files:
            raise BackendError(f"replay: no *_preds_*.jsonl files in {self.dir}", kind="missing")
        for path in files:
            m = FILE_RE.match(path.name)
            if m is None:
                log.warning("replay: ignoring %s (unexpected file name)", path)
                continue
            mode = FILE_MODE[m.group(1)]
            try:
                for line_no, row in read_jsonl(path, what="replay predictions file"):
                    key = (mode, m.group("type"), row["question"])
                    index.setdefault(key, []).append(
                        Recorded(row.get("prediction"), m.group("len"), m.group("task"),
                                 row.get("file", ""), path.name, line_no)
                    )
            except DataError as exc:
                raise BackendError(f"replay: {exc}", kind="corrupt_data") from exc
        for key, rows in index.items():
            rows.sort(key=lambda r: (r.length, r.task, r.line))
            if len(rows) > 1:
                self.duplicates[key] = len(rows)
        self._index = index
        return index

    def _datasets_dir(self) -> Path | None:
        """The LaRA data folder (for resolving duplicated questions), looked up once."""
        if self._datasets is False:
            from lara.tasks.lara import default_data_root, resolve_data_dir

            self._datasets = None
            for cand in (self.data_dir, os.environ.get("LARA_DATA_DIR"), self.dir.parent.parent, default_data_root()):
                if not cand:
                    continue
                try:
                    self._datasets = resolve_data_dir(cand)
                    break
                except FileNotFoundError:
                    continue
        return self._datasets if isinstance(self._datasets, Path) else None

    # -- matching ------------------------------------------------------------------------------
    def parse(self, prompt: str) -> tuple[str | None, str | None, str, str]:
        """(mode, context type, question, context body) from a paper-format user prompt."""
        mode = ctype = None
        body = prompt
        suffix_found = None
        for (m, c), (prefix, suffix) in _templates().items():
            if prompt.startswith(prefix) and (self.mode is None or self.mode == m):
                mode, ctype, body = m, c, prompt[len(prefix):]
                suffix_found = suffix
                break
        mode = self.mode or mode
        cut = body.rfind(QUESTION_MARK)
        if cut < 0:
            raise BackendError("no recorded prediction: no 'Question:' part in the prompt", kind="missing")
        question, context = body[cut + len(QUESTION_MARK):], body[:cut]
        for suffix in ((suffix_found,) if suffix_found else SUFFIXES):
            if question.endswith(suffix):
                question = question[: -len(suffix)]
                break
        return mode, ctype, question, context

    def lookup(self, prompt: str) -> Recorded:
        mode, ctype, question, context = self.parse(prompt)
        index = self.index()
        modes = (mode,) if mode else ("long_context", "rag")
        ctypes = (ctype,) if ctype else ("book", "financial", "paper")
        rows = [r for m in modes for c in ctypes for r in index.get((m, c, question), ())]
        if not rows:
            raise BackendError(
                f"no recorded prediction for {mode or 'any mode'} question {question[:80]!r} in {self.dir}",
                kind="missing",
            )
        if len({(r.length, r.file) for r in rows}) > 1:
            rows = self._by_document(rows, ctype, context) or rows
        return rows[0]

    def _by_document(self, rows: list[Recorded], ctype: str | None, context: str) -> list[Recorded]:
        """Keep the rows whose document contains the start of the shown context (or chunk 0)."""
        root = self._datasets_dir()
        if root is None or ctype is None:
            log.warning("replay: duplicated question resolved by order (LaRA data folder not found)")
            return []
        text = context[len("chunk 0: "):] if context.startswith("chunk 0: ") else context
        end = text.find(".\n\nchunk 1: ")
        snippet = text[: min(SNIPPET_CHARS, end if end >= 0 else len(text))]
        if len(snippet) < 20:
            return []
        keep = []
        for r in rows:
            path = root / r.length / ctype / r.file
            try:
                if snippet in path.read_text(encoding="utf-8"):
                    keep.append(r)
            except FileNotFoundError:
                continue
        return keep

    # -- Backend protocol --------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """cl100k count with the long shared part cached.

        Prompts of one document differ only after the context, so the text is split at the last
        newline-then-letter position before the question (:func:`stable_split`: the two parts'
        counts add up exactly); the head's count is cached by its hash, so each 128k context is
        tokenized once per run, not once per question.
        """
        q = text.rfind(QUESTION_MARK)
        end = q if q >= 0 else len(text)
        s = stable_split(text, end, SPLIT_MIN_CHARS)
        if s is None:
            return self._cached_count(text)
        return self._cached_count(text[:s]) + self._count(text[s:])

    def _cached_count(self, text: str) -> int:
        key = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        n = self._token_cache.get(key)
        if n is None:
            n = self._token_cache[key] = self._count(text)
        return n

    def _count(self, text: str) -> int:
        if self._tokenizer is None:
            from lara.tokens import get_tokenizer

            self._tokenizer = get_tokenizer("cl100k")
        return self._tokenizer.count(text)

    def classify(self, exc: BaseException) -> Failure:
        """A recorded answer is there or not: retrying never changes it."""
        return Failure(getattr(exc, "kind", None) or type(exc).__name__, "fatal")

    async def aclose(self) -> None:
        return None

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        start = time.perf_counter()
        user = next((m.content for m in reversed(messages) if m.role == "user"), None)
        if user is None:
            raise BackendError("no recorded prediction: the messages have no user turn", kind="missing")
        rec = self.lookup(user)
        text = recorded_answer(rec)
        return Generation(
            text=text,
            input_tokens=sum(self.count_tokens(m.content) for m in messages),
            output_tokens=self.count_tokens(rec.prediction),
            finish_reason="stop",
            latency_s=time.perf_counter() - start,
            cached=False,
            model=self.info.id,
        )
