"""UroLlmEval (arXiv 2501.12106) scoring, one scorer for the three steps (``sample.metadata.step``).

coding: per answer item (JSON array element, else line) the first match of ``\\b([CD][0-9]{2})\\b``
(case-sensitive: "C61.9" → C61, "c61" → none); a snippet is correct when the predicted set equals the
gold set, C77–C79 ignored on both sides. diagnosis: the answer must be a JSON array of strings
(else "unparsed"); correct when it is non-empty exactly when the snippet has a gold diagnosis.
date: normalised string equality (YYYY, YYYY-MM, YYYY-MM-DD; "0" = unknown).
"""

from __future__ import annotations

import json
import re

from lara.registry import scorers
from lara.types import RunOutput, Sample, Score

CODE_RE = re.compile(r"\b([CD][0-9]{2})\b")
IGNORED = frozenset({"C77", "C78", "C79"})
_ARRAY_RE = re.compile(r"\[.*\]", re.S)


def answer_items(answer: str) -> list[str]:
    m = _ARRAY_RE.search(answer)
    if m:
        try:
            data = json.loads(m.group(0))
            if isinstance(data, list):
                return [str(x) for x in data]
        except json.JSONDecodeError:
            pass
    return answer.splitlines()


def extract_codes(answer: str) -> list[str]:
    """First code of every item, in order, without duplicates."""
    out: list[str] = []
    for item in answer_items(answer):
        m = CODE_RE.search(item)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def parse_diagnoses(answer: str) -> list[str] | None:
    m = _ARRAY_RE.search(answer)
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        return None
    return data


_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), ("d", "m", "y")),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("m", "d", "y")),
    (re.compile(r"\b(\d{4})-(\d{1,2})\b"), ("y", "m")),
    (re.compile(r"\b(\d{1,2})[./](\d{4})\b"), ("m", "y")),
    (re.compile(r"\b(\d{4})\b"), ("y",)),
]


def normalize_date(text: str) -> str | None:
    """'2019-3-5', '05.03.2019' → '2019-03-05'; '03/2019' → '2019-03'; '0'/'unknown' → '0'."""
    t = text.strip().strip('"').strip()
    if t in ("0", "") or t.lower() in ("unknown", "unbekannt", "none", "null"):
        return "0"
    for rx, parts in _DATE_PATTERNS:
        m = rx.search(t)
        if m:
            v = dict(zip(parts, m.groups()))
            out = v["y"]
            if "m" in v:
                out += f"-{int(v['m']):02d}"
            if "d" in v:
                out += f"-{int(v['d']):02d}"
            return out
    return None


@scorers.register("icd10", aliases=("icd10_uro",))
class ICD10Scorer:
    """UroLlmEval: exact 3-character code sets, diagnosis detection, date equality."""

    name = "icd10"

    async def score(self, sample: Sample, output: RunOutput) -> Score:
        if output.answer is None:
            return Score(self.name, None, "error", "no answer was produced", self.name)
        step = sample.metadata.get("step", "coding")
        answer = output.answer
        if step == "coding":
            pred = [c for c in extract_codes(answer) if c not in IGNORED]
            gold = sorted({c for c in sample.references if c not in IGNORED})
            ok = set(pred) == set(gold)
            missing, extra = sorted(set(gold) - set(pred)), sorted(set(pred) - set(gold))
            why = "all codes found, none extra" if ok else f"missing {missing} extra {extra}"
            return Score(self.name, float(ok), "ok", why, self.name,
                         {"predicted": pred, "gold": gold, "missing": missing, "extra": extra})
        if step == "diagnosis":
            found = parse_diagnoses(answer)
            if found is None:
                return Score(self.name, None, "unparsed", "answer is not a JSON array of strings", self.name)
            has_gold = any(x["diagnosis"] not in IGNORED for x in sample.metadata.get("label", []))
            ok = bool(found) == has_gold
            return Score(self.name, float(ok), "ok", f"{len(found)} diagnoses listed, gold has {'some' if has_gold else 'none'}",
                         self.name, {"diagnoses": found, "gold_has_diagnosis": has_gold})
        if step == "date":
            gold_date = normalize_date(sample.references[0]) if sample.references else None
            pred_date = normalize_date(answer)
            if pred_date is None:
                return Score(self.name, None, "unparsed", "no date found in the answer", self.name, {"gold": gold_date})
            return Score(self.name, float(pred_date == gold_date), "ok", f"{pred_date} vs {gold_date}", self.name,
                         {"predicted": pred_date, "gold": gold_date})
        return Score(self.name, None, "error", f"unknown step {step!r}", self.name)
