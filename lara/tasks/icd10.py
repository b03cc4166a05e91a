"""Tumour-documentation ICD-10 coding (UroLlmEval format) with the ICD-10 catalogue as knowledge.

Data: rows ``text`` + ``label`` (list of ``{"diagnosis": <3-char code>, "date": ...}``, or that list
as a JSON string) from a local parquet/JSONL file (``data_path``) or, when online, the hub dataset
``stefan-m-lenz/UroLlmEvalSet`` (split ``eval``). Steps (UroLlmEval (arXiv 2501.12106)): ``diagnosis`` (is there
a tumour diagnosis; answer a JSON array of strings), ``coding`` (3-character codes) and ``date``
(date of first diagnosis, one sample per labelled diagnosis). The LC-versus-RAG axis is the ICD-10
chapter II catalogue: LC = the whole catalogue in context, RAG = the top-k code descriptions for the
snippet (``chunk`` = one chunk per code). Default catalogue: lara/data/icd10_chapter2.tsv (US
ICD-10-CM titles, public domain); ``catalogue=<tsv>`` takes e.g. ICD-10-GM with German titles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from lara.protocols import ContextBlock
from lara.registry import tasks
from lara.tasks.demos import DataError, Demo, DemoCorpus, block_texts, read_jsonl
from lara.types import Chunk, Document, Message, Sample, TruncationReport
from lara.errors import MissingDataError

HUB_ID = "stefan-m-lenz/UroLlmEvalSet"
STEPS = ("diagnosis", "coding", "date")
IGNORED = frozenset({"C77", "C78", "C79"})  # secondary (metastatic) sites: not scored
DEFAULT_CATALOGUE = Path(__file__).parent.parent / "data" / "icd10_chapter2.tsv"
INSTRUCTIONS = {
    "diagnosis": "List every tumour diagnosis mentioned in the clinical text as a JSON array of strings "
                 "(an empty array [] if there is none). Answer with the JSON array only.",
    "coding": "Give the 3-character ICD-10 code of every tumour diagnosis in the clinical text, "
              "one code per line, nothing else.",
    "date": "When was the tumour diagnosis {code} first diagnosed according to the clinical text? Answer "
            "with the date only as YYYY, YYYY-MM or YYYY-MM-DD, or 0 if the text does not say.",
}


def render(code: str, title: str) -> str:
    return f"{code}: {title}"


def load_catalogue(path: str | Path) -> list[tuple[str, str]]:
    """``code<TAB>title`` lines; ``#`` comments and a ``code`` header line are skipped."""
    path = Path(path)
    if not path.exists():
        raise MissingDataError(f"ICD-10 catalogue not found: {path}")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#") or line.lower().startswith("code\t"):
            continue
        code, sep, title = line.partition("\t")
        if not sep or not code.strip() or not title.strip():
            raise DataError(f"{path}:{lineno}: expected 'code<TAB>title'")
        out.append((code.strip(), title.strip()))
    return out


def parse_label(label: Any, where: str) -> list[dict[str, str]]:
    if isinstance(label, str):
        try:
            label = json.loads(label) if label.strip() else []
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: label is not valid JSON: {exc.msg}") from exc
    if label is None:
        return []
    if hasattr(label, "tolist"):  # numpy array from parquet
        label = label.tolist()
    if not isinstance(label, list) or not all(isinstance(x, dict) and "diagnosis" in x for x in label):
        raise DataError(f"{where}: label must be a list of {{diagnosis, date}} objects")
    return [{"diagnosis": str(x["diagnosis"]), "date": str(x.get("date", "0"))} for x in label]


def load_rows(data_path: str | None, split: str = "eval") -> list[dict[str, Any]]:
    if data_path:
        path = Path(data_path)
        if not path.exists():
            raise MissingDataError(f"UroLlmEval data file not found: {path}")
        if path.suffix == ".parquet":
            import pandas as pd  # lazy

            recs = pd.read_parquet(path).to_dict("records")
            items = [(f"{path}: row {i + 1}", r) for i, r in enumerate(recs)]
        else:
            items = [(f"{path}:{n}", r) for n, r in read_jsonl(path)]
    else:
        try:
            import datasets  # lazy: only for hub loading

            ds = datasets.load_dataset(HUB_ID, split=split)
        except Exception as exc:
            raise MissingDataError(
                f"UroLlmEval: no data_path given and the hub dataset {HUB_ID} is unavailable: {exc}"
            ) from exc
        items = [(f"{HUB_ID}[{i}]", dict(r)) for i, r in enumerate(ds)]
    rows = []
    for where, r in items:
        if "text" not in r:
            raise DataError(f"{where}: missing field 'text'")
        rows.append({"text": str(r["text"]), "label": parse_label(r.get("label"), where)})
    return rows


@tasks.register("icd10_uro", aliases=("icd10-uro", "icd10"))
class ICD10UroTask:
    """UroLlmEval tumour documentation: diagnosis, ICD-10 coding, date; catalogue LC vs RAG."""

    name = "icd10_uro"
    version = "1"
    default_scorer = "icd10"

    def __init__(self, data_path: str | None = None, step: str = "coding", catalogue: str | None = None,
                 split: str = "eval", data_dir: str | None = None) -> None:
        if data_dir and not data_path:  # `lara run --data-dir`: a folder holding the eval file
            found = sorted(Path(data_dir).glob("*.parquet")) + sorted(Path(data_dir).glob("*.jsonl"))
            if not found:
                raise MissingDataError(f"no .parquet or .jsonl file in {data_dir}")
            data_path = str(found[0])
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; valid: {', '.join(STEPS)}")
        self.data_path, self.step, self.split = data_path, step, split
        self.catalogue_path = Path(catalogue) if catalogue else DEFAULT_CATALOGUE
        self._corpus: DemoCorpus | None = None

    def corpus(self) -> DemoCorpus:
        if self._corpus is None:
            entries = load_catalogue(self.catalogue_path)
            demos = [Demo(code, code, title, render(code, title)) for code, title in entries]
            self._corpus = DemoCorpus(f"icd10-catalogue-{self.catalogue_path.stem}", demos, "ICD-10 chapter II catalogue")
        return self._corpus

    def samples(self) -> Iterator[Sample]:
        doc = self.corpus().document
        for i, row in enumerate(load_rows(self.data_path, self.split)):
            codes = [x["diagnosis"] for x in row["label"]]
            meta = {"step": self.step, "label": row["label"], "category": self.step, "context_type": "catalogue",
                    "snippet": i}
            if self.step == "date":
                for j, x in enumerate(row["label"]):
                    yield Sample(f"uro-{i}-{j}", row["text"], (x["date"],), (doc,), {**meta, "code": x["diagnosis"]})
                continue
            refs = tuple(sorted({c for c in codes if c not in IGNORED}))
            if self.step == "coding" and not refs:
                continue  # coding is evaluated on snippets that carry a scored diagnosis
            yield Sample(f"uro-{i}", row["text"], refs, (doc,), meta)

    def chunk(self, doc: Document) -> list[Chunk]:
        corpus = self.corpus()
        if doc.id != corpus.document.id:
            raise ValueError(f"icd10_uro: unknown document {doc.id!r}")
        return corpus.chunks()

    def fit_context(self, sample: Sample, max_tokens: int | None, tokenizer: Any) -> tuple[ContextBlock, TruncationReport]:
        """The whole catalogue (as many whole entries as fit; the report says if any were dropped)."""
        return self.corpus().fit(max_tokens, tokenizer, None)

    def retrieval_query(self, sample: Sample) -> str:
        return sample.question

    def messages(self, sample: Sample, context: ContextBlock) -> list[Message]:
        entries = block_texts(context, render)
        instruction = INSTRUCTIONS[self.step].format(code=sample.metadata.get("code", ""))
        parts = []
        if entries:
            parts.append("ICD-10 codes:\n" + "\n".join(entries))
        parts += [instruction, f"Clinical text:\n{sample.question}"]
        return [Message("user", "\n\n".join(parts))]
