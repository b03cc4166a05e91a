"""MBPP on the in-context-learning axis: many-shot LC versus retrieved solved train problems.

Splits by task_id (Austin et al. 2021): test 11–510, few-shot 2–4, validation 511–600, train
601–974. The knowledge source is the train split rendered in the paper's prompt format, one
Document shared by all samples; LC = as many train demonstrations as fit (capped by ``max_demos``),
RAG = the k most similar train problems. ``prompt_style="3shot"`` is the paper's fixed baseline
(tasks 2–4). ``variant="sanitized"`` uses the 427 hand-checked problems (``sanitized-mbpp.json``).
Data: ``data_dir``, $MBPP_DATA_DIR or $LARA_SHARED_DATA/mbpp; or through ``datasets``
(``source=hf:google-research-datasets/mbpp``, a ``save_to_disk`` folder, parquet files:
:mod:`lara.tasks.hf_data`; every split of the variant, in order), also the fallback without a folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.tasks.demos import DataError, Demo, DemoCorpus, block_texts, read_jsonl, require
from lara.types import Chunk, Document, Message, Sample, TruncationReport
from lara.errors import MissingDataError

HUB_ID = "google-research-datasets/mbpp"
VARIANTS = ("full", "sanitized")
STYLES = ("demos", "3shot")
SPLITS = {"test": (11, 510), "prompt": (2, 4), "validation": (511, 600), "train": (601, 974)}
INSTRUCTION = "Write the Python code between [BEGIN] and [DONE]."


def task_prompt(text: str, tests: list[str]) -> str:
    tests_s = "\n".join(tests)
    return f"You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\n\n{tests_s}\n"


def render(prompt: str, code: str) -> str:
    """The paper's demonstration: prompt, then the code between [BEGIN] and [DONE]."""
    return f"{prompt}[BEGIN]\n{code}\n[DONE]"


def resolve_data_dir(data_dir: str | None) -> Path | None:
    if data_dir:
        return Path(data_dir)
    if os.environ.get("MBPP_DATA_DIR"):
        return Path(os.environ["MBPP_DATA_DIR"])
    shared = os.environ.get("LARA_SHARED_DATA")
    if shared and (Path(shared) / "mbpp").is_dir():
        return Path(shared) / "mbpp"
    return None


def _normalise(obj: dict[str, Any], where: str, sanitized: bool) -> dict[str, Any]:
    tests = require(obj, "test_list", where)
    if not isinstance(tests, list):
        raise DataError(f"{where}: test_list must be a list")
    if sanitized:
        setup = "\n".join(obj.get("test_imports") or [])
        text = require(obj, "prompt", where)
    else:
        setup = obj.get("test_setup_code") or ""
        text = require(obj, "text", where)
    return {"task_id": int(require(obj, "task_id", where)), "text": text, "code": require(obj, "code", where),
            "tests": list(tests), "setup": setup}


def load_rows(data_dir: Path | None, variant: str, source: str | None = None) -> list[dict[str, Any]]:
    """All rows of a variant, normalised to {task_id, text, code, tests, setup}."""
    sanitized = variant == "sanitized"
    if source is None and data_dir is not None:
        if sanitized:
            path = data_dir / "sanitized-mbpp.json"
            if not path.exists():
                raise MissingDataError(f"data file not found: {path}")
            raw = path.read_text(encoding="utf-8")
            if raw.lstrip().startswith("["):
                try:
                    items = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from exc
                return [_normalise(o, f"{path}: item {i + 1}", True) for i, o in enumerate(items)]
            return [_normalise(o, f"{path}:{n}", True) for n, o in read_jsonl(path)]
        path = data_dir / "mbpp.jsonl"
        return [_normalise(o, f"{path}:{n}", False) for n, o in read_jsonl(path)]
    from lara.tasks.hf_data import describe, load_rows as hf_rows

    src = source or f"hf:{HUB_ID}"
    rows = hf_rows(src, config=variant, what="MBPP")
    rows.sort(key=lambda r: int(r.get("task_id") or 0))  # splits come in the dataset's order; files by task_id
    return [_normalise(dict(r), f"{describe(src)} [{variant}] task_id {r.get('task_id')}", sanitized) for r in rows]


def in_split(task_id: int, split: str) -> bool:
    lo, hi = SPLITS[split]
    return lo <= task_id <= hi


@tasks.register("mbpp")
class MBPPTask:
    """MBPP Python problems: many-shot LC vs retrieved train demonstrations; pass@1 in a sandbox."""

    name = "mbpp"
    version = "1"
    default_scorer = "mbpp_pass"

    def __init__(self, data_dir: str | None = None, variant: str = "full", split: str = "test",
                 prompt_style: str = "demos", max_demos: int | None = 8, source: str | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
        if prompt_style not in STYLES:
            raise ValueError(f"unknown prompt_style {prompt_style!r}; valid: {', '.join(STYLES)}")
        if split not in SPLITS and split != "all":
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}, all")
        self.data_dir = resolve_data_dir(data_dir)
        self.source = source  # hf:<id>, a save_to_disk folder or parquet files (lara.tasks.hf_data)
        self.variant, self.split, self.prompt_style, self.max_demos = variant, split, prompt_style, max_demos
        self._rows: list[dict[str, Any]] | None = None
        self._full: list[dict[str, Any]] | None = None
        self._corpus: DemoCorpus | None = None

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = load_rows(self.data_dir, self.variant, self.source)
        return self._rows

    def _full_rows(self) -> list[dict[str, Any]]:
        """Demonstrations always come from the full set (the sanitized one has few train rows)."""
        if self._full is None:
            self._full = self.rows() if self.variant == "full" else load_rows(self.data_dir, "full", self.source)
        return self._full

    def corpus(self) -> DemoCorpus:
        if self._corpus is None:
            demos = [
                Demo(f"task-{r['task_id']}", task_prompt(r["text"], r["tests"]), r["code"],
                     render(task_prompt(r["text"], r["tests"]), r["code"]))
                for r in sorted(self._full_rows(), key=lambda r: r["task_id"]) if in_split(r["task_id"], "train")
            ]
            self._corpus = DemoCorpus(f"mbpp-train-corpus", demos, "MBPP solved train problems")
        return self._corpus

    def _three_shot(self) -> list[tuple[str, str]]:
        rows = sorted((r for r in self._full_rows() if in_split(r["task_id"], "prompt")), key=lambda r: r["task_id"])
        return [(task_prompt(r["text"], r["tests"]), r["code"]) for r in rows]

    def samples(self) -> Iterator[Sample]:
        docs: tuple[Document, ...] = () if self.prompt_style == "3shot" else (self.corpus().document,)
        for r in self.rows():
            if self.split != "all" and not in_split(r["task_id"], self.split):
                continue
            yield Sample(
                id=f"mbpp-{self.variant}-{r['task_id']}",
                question=task_prompt(r["text"], r["tests"]),
                references=(r["code"],),
                documents=docs,
                metadata={"task_id": r["task_id"], "tests": r["tests"], "test_setup_code": r["setup"],
                          "text": r["text"], "category": "code", "context_type": "demonstrations"},
            )

    def chunk(self, doc: Document) -> list[Chunk]:
        corpus = self.corpus()
        if doc.id != corpus.document.id:
            raise ValueError(f"mbpp: unknown document {doc.id!r}")
        return corpus.chunks()

    def fit_context(self, sample: Sample, max_tokens: int | None, tokenizer: Any) -> tuple[ContextBlock, TruncationReport]:
        if self.prompt_style == "3shot":
            demos = tuple(self._three_shot())
            n = sum(tokenizer.count(render(q, a)) for q, a in demos)
            return ContextBlock(mode="long_context", demonstrations=demos), TruncationReport("fixed_3shot", n, n, 0)
        return self.corpus().fit(max_tokens, tokenizer, self.max_demos)

    def retrieval_query(self, sample: Sample) -> str:
        return str(sample.metadata.get("text") or sample.question)

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        if self.prompt_style == "3shot":
            shots = [render(q, a) for q, a in self._three_shot()]
        else:
            shots = block_texts(context, render)
        parts = [INSTRUCTION, *shots, sample.question + "[BEGIN]"]
        return [Message("user", "\n\n".join(parts))]
