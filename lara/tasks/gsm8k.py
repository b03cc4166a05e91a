"""GSM8K on the in-context-learning axis: many-shot LC versus retrieved demonstrations (RAG).

The knowledge source is the solved train split, one Document ("train corpus") shared by every
sample: LC = as many train demonstrations as the window holds (fixed order, capped by
``max_demos``), RAG = the k train problems most similar to the question (``chunk`` yields one chunk
per solved problem). ``prompt_style="cot8"`` is the fixed 8-shot chain-of-thought baseline of
Wei et al. (exemplars in lara/data/gsm8k_cot8.json). Data: local JSONL (``data_dir``,
$GSM8K_DATA_DIR or $LARA_SHARED_DATA/gsm8k), or through ``datasets`` (``source=hf:openai/gsm8k``, a
folder saved with ``save_to_disk``, parquet files; :mod:`lara.tasks.hf_data`), which is also the
fallback when there is no local folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator

from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.tasks.demos import DataError, Demo, DemoCorpus, block_texts, read_jsonl, require
from lara.types import Chunk, Document, Message, Sample, TruncationReport
from lara.errors import MissingDataError

log = logging.getLogger(__name__)

HUB_ID = "openai/gsm8k"
STYLES = ("demos", "cot8")
INSTRUCTION = (
    "Solve the math word problem. Reason step by step, then finish with \"The answer is N.\" "
    "where N is the final number."
)
GOLD_RE = re.compile(r"#### (\-?[0-9\.\,]+)")  # the official extraction
_CALC_RE = re.compile(r"<<[^>]*>>")


def gold_answer(answer: str) -> str | None:
    """Official reference extraction: ``#### N``, stripped, commas removed."""
    m = GOLD_RE.search(answer)
    return m.group(1).strip().replace(",", "") if m else None


def cot_text(answer: str) -> str:
    """A train solution as a CoT demonstration: calculator annotations out, ``#### N`` → sentence."""
    body, _, final = answer.partition("####")
    body = _CALC_RE.sub("", body).strip()
    return f"{body}\nThe answer is {final.strip()}." if final else body


def render(question: str, answer: str) -> str:
    return f"Q: {question}\nA: {answer}"


def load_cot8() -> list[tuple[str, str]]:
    data = json.loads((Path(__file__).parent.parent / "data" / "gsm8k_cot8.json").read_text(encoding="utf-8"))
    return [(e["question"], e["answer"]) for e in data["exemplars"]]


def resolve_data_dir(data_dir: str | None) -> Path | None:
    if data_dir:
        return Path(data_dir)
    if os.environ.get("GSM8K_DATA_DIR"):
        return Path(os.environ["GSM8K_DATA_DIR"])
    shared = os.environ.get("LARA_SHARED_DATA")
    if shared and (Path(shared) / "gsm8k").is_dir():
        return Path(shared) / "gsm8k"
    return None


def load_split(data_dir: Path | None, split: str, source: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{question, answer}`` from ``source`` (through ``datasets``), else
    ``<data_dir>/<split>.jsonl``, else the hub."""
    if source is None and data_dir is not None:
        path = data_dir / f"{split}.jsonl"
        rows = []
        for lineno, obj in read_jsonl(path):
            where = f"{path}:{lineno}"
            rows.append({"question": require(obj, "question", where), "answer": require(obj, "answer", where)})
        return rows
    from lara.tasks.hf_data import describe, load_rows

    src = source or f"hf:{HUB_ID}"
    out = []
    for i, r in enumerate(load_rows(src, split=split, config="main", what="GSM8K")):
        where = f"{describe(src)} [{split}] row {i + 1}"
        out.append({"question": require(r, "question", where), "answer": require(r, "answer", where)})
    return out


@tasks.register("gsm8k")
class GSM8KTask:
    """GSM8K math word problems: many-shot LC vs retrieved train demonstrations."""

    name = "gsm8k"
    version = "1"
    default_scorer = "gsm8k"

    def __init__(self, data_dir: str | None = None, split: str = "test", prompt_style: str = "demos",
                 max_demos: int | None = 16, train_split: str = "train", source: str | None = None) -> None:
        if prompt_style not in STYLES:
            raise ValueError(f"unknown prompt_style {prompt_style!r}; valid: {', '.join(STYLES)}")
        if max_demos is not None and max_demos < 0:
            raise ValueError(f"max_demos must be >= 0, got {max_demos}")
        self.data_dir = resolve_data_dir(data_dir)
        self.source = source  # hf:<id>, a save_to_disk folder or parquet files (lara.tasks.hf_data)
        self.split, self.train_split = split, train_split
        self.prompt_style, self.max_demos = prompt_style, max_demos
        self._corpus: DemoCorpus | None = None

    def corpus(self) -> DemoCorpus:
        """The train corpus, loaded once per task instance and shared by all samples."""
        if self._corpus is None:
            demos = []
            for i, row in enumerate(load_split(self.data_dir, self.train_split, self.source)):
                cot = cot_text(row["answer"])
                demos.append(Demo(f"train-{i}", row["question"], cot, render(row["question"], cot)))
            self._corpus = DemoCorpus(f"gsm8k-{self.train_split}-corpus", demos, "GSM8K solved train problems")
        return self._corpus

    def samples(self) -> Iterator[Sample]:
        docs: tuple[Document, ...] = () if self.prompt_style == "cot8" else (self.corpus().document,)
        for i, row in enumerate(load_split(self.data_dir, self.split, self.source)):
            gold = gold_answer(row["answer"])
            if gold is None:
                raise DataError(f"GSM8K {self.split} row {i + 1}: answer has no '#### N' line")
            yield Sample(
                id=f"gsm8k-{self.split}-{i}",
                question=row["question"],
                references=(gold,),
                documents=docs,
                metadata={"category": "math", "context_type": "demonstrations", "solution": row["answer"]},
            )

    def chunk(self, doc: Document) -> list[Chunk]:
        corpus = self.corpus()
        if doc.id != corpus.document.id:
            raise ValueError(f"gsm8k: unknown document {doc.id!r}")
        return corpus.chunks()

    def fit_context(self, sample: Sample, max_tokens: int | None, tokenizer: Any) -> tuple[ContextBlock, TruncationReport]:
        if self.prompt_style == "cot8":
            demos = tuple(load_cot8())
            n = sum(tokenizer.count(render(q, a)) for q, a in demos)
            return ContextBlock(mode="long_context", demonstrations=demos), TruncationReport("fixed_8shot", n, n, 0)
        return self.corpus().fit(max_tokens, tokenizer, self.max_demos)

    def retrieval_query(self, sample: Sample) -> str:
        return sample.question

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        if self.prompt_style == "cot8":
            shots = [render(q, a) for q, a in load_cot8()]
        else:
            shots = block_texts(context, render)
        parts = [INSTRUCTION, *shots, render(sample.question, "").rstrip()]
        return [Message("user", "\n\n".join(parts))]
