"""Fixture writers in the real on-disk formats, shared by tests and benchmarks.

``make_fixture`` writes a miniature LaRA tree exactly as upstream lays it out (file names, JSONL
quirks, no trailing newline) so the real loader reads it; ``write_fixture`` writes two result runs
through the real record builder. Tests import these instead of copying them.
"""

from __future__ import annotations

import json
from pathlib import Path

from lara.results.record import Record, build_record
from lara.types import ErrorInfo, RetrievedRef, RunOutput, Sample, Score, Step, TruncationReport

BOOK = "Chapter I\nGordon was dead: to begin with.\n\nHartman signed it.\n"
PAPERS = "<paper 0>\n# Paper zero\nAlpha.\n</end of paper 0>\n\n<paper 1>\n# Paper one\nBeta.\n</end of paper 1>"
FIN = "ACME Corp. Net loss was $5."


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    # no trailing newline, like the real files
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")


def make_fixture(root: Path) -> Path:
    ds = root / "datasets"
    (ds / "query").mkdir(parents=True)
    for sub, name, text in [("book", "Carol.txt", BOOK), ("paper", "32k_paper_0.md", PAPERS), ("financial", "ACME.txt", FIN)]:
        (ds / "32k" / sub).mkdir(parents=True)
        (ds / "32k" / sub / name).write_text(text, encoding="utf-8")
    q = ds / "query"
    _write_jsonl(q / "32k_book_location.jsonl", [
        {"type": "novelette_fake", "level": "location", "length": "32k", "file": "Carol.txt",
         "context": "inline slice " * 500, "context_order": i, "question": f"Who signed {i}?", "answer": "Hartman."}
        for i in range(2)
    ])
    _write_jsonl(q / "32k_book_comp.jsonl", [
        {"type": "novelette", "level": "comp", "length": "32k", "file": "Carol.txt", "comp_parts": [0, 2],
         "question": "How do the parts differ?", "answer": "They differ."}
    ])
    _write_jsonl(q / "32k_book_hallu.jsonl", [
        {"type": "book", "level": "hallu", "length": "32k", "file": "Carol.txt", "context_order": "full",
         "question": "What is Gordon's shoe size?", "answer": "Not mentioned."}
    ])
    _write_jsonl(q / "32k_paper_reasoning.jsonl", [
        {"type": "paper", "level": "reasoning", "length": "32k", "file": "32k_paper_0.md", "context_order": 1,
         "question": "In paper 1, what is said?", "answer": "Beta."}
    ])
    _write_jsonl(q / "32k_financial_location.jsonl", [
        {"type": "financial", "level": "location", "length": "32k", "file": "ACME.txt", "context_order": 0,
         "question": "What was the net loss?", "answer": "$5."}
    ])
    # the other cells exist but are empty
    for t in ("book", "financial", "paper"):
        for task in ("location", "reasoning", "comp", "hallu"):
            (q / f"32k_{t}_{task}.jsonl").touch(exist_ok=True)
    return root



XSS = '</script><script>window.__xss = 1; alert("x")</script><img src=x onerror="window.__xss=2">'
REPORT_CATS = ("location", "reasoning", "comparison", "hallucination")
CTYPES = ("book", "paper")


def _outcome(runner: str, i: int) -> tuple[float | None, str]:
    """Deterministic but runner-dependent correctness, plus a few unparsed judge verdicts."""
    if runner == "rag" and i % 11 == 5:
        return None, "unparsed"
    salt = 3 if runner == "lc" else 5
    return (1.0 if (i * salt) % 7 < 4 else 0.0), "ok"


def write_fixture(root: Path, n_per_cell: int = 4, model: str = "openai:toy",
                  lengths: tuple[str, ...] = ("32k",)) -> dict[str, Path]:
    """Two runs (lc, rag) of a LaRA-like task: 4 categories × 2 context types × n samples (per
    length), with one error, one skipped sample, one truncated context and one answer that tries to
    inject a script. ``model`` is the model spec (``replay:/path/name`` for replayed predictions)."""
    runs = {}
    model_id = model.partition(":")[2].rstrip("/").rsplit("/", 1)[-1] or model
    backend = model.partition(":")[0]
    for runner, registered in (("lc", "long_context"), ("rag", "rag")):
        run_id = f"lara-mini__{runner}__{model_id}__abc123"
        d = root / run_id
        d.mkdir(parents=True)
        lines = []
        i = 0
        for length, cat, ctype, k in ((ln, c, t, k) for ln in lengths for c in REPORT_CATS for t in CTYPES
                                      for k in range(n_per_cell)):
            meta = {"category": cat, "context_type": ctype, "length": length}
            if cat != "comparison":
                meta["context_order"] = k % 3
            sample = Sample(f"{length}_{ctype}_{cat}_{k}", f"Question {cat} {ctype} {k}?", (f"ref {k}",), (), meta)
            value, status = _outcome(runner, i)
            steps = []
            if runner == "rag":
                steps.append(Step("retrieve", query=sample.question,
                                  retrieved=(RetrievedRef(f"doc-{ctype}#c{k}", 0.9, 0), RetrievedRef(f"doc-{ctype}#c{k + 7}", 0.5, 1))))
            in_tok = 30000 + 1000 * k if runner == "lc" else 2500 + 10 * k
            steps.append(Step("generate", input_tokens=in_tok, output_tokens=20, output="a"))
            answer = XSS if (runner == "rag" and i == 2) else f"answer {runner} {i}"
            trunc = TruncationReport("middle", 140_000, 127_000, 13_000) if runner == "lc" and i == 4 else None
            output = RunOutput(answer, tuple(steps), effective_context_tokens=in_tok, truncation=trunc)
            error = None
            if runner == "lc" and i == 7:
                output, error, value, status = None, ErrorInfo("BackendError", "HTTP 500 <b>boom</b>", 3, "upstream_failure"), None, "error"
            if runner == "lc" and i == 9:
                output = RunOutput(None, (), skipped="too long")
                value, status = None, "skipped"
            score = Score("judge", value, status, explanation=f"verdict for {i}", scorer="toy-judge")
            rec = build_record(
                run_id=run_id, spec_hash="abc123", task="lara-mini", task_version="1", sample=sample,
                runner=registered, runner_label=runner, strategy=registered, runner_params={"k": 5} if runner == "rag" else {},
                model=model, backend=backend, model_id=model_id, generation={}, output=output,
                scores=[] if error else [score], primary="judge", error=error, started_at="2025-01-01T00:00:00Z", latency_s=0.1,
            )
            lines.append(json.dumps(rec.to_dict(), ensure_ascii=False))
            i += 1
        (d / "samples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        runs[runner] = d
    return runs


def scored_record(
    run_id: str,
    sample_id: str,
    score: float | None,
    *,
    status: str = "ok",
    runner: str = "long_context",
    runner_label: str | None = None,
    strategy: str | None = None,
    task: str = "lara-mini",
    model: str = "replay:/data/predictions/toy-model",
    category: str | None = "location",
    length: str | None = "32k",
    truncated: bool = False,
    error: bool = False,
    skipped: bool = False,
    answer: str = "an answer",
) -> Record:
    """One result record built by the real record builder, with the outcome asked for: a score and
    its status, a run error, a length skip or a middle-truncated context."""

    meta = {"category": category, "length": length, "context_type": "book"}
    sample = Sample(sample_id, f"Question {sample_id}?", (f"ref {sample_id}",), (), meta)
    trunc = TruncationReport("middle", 140_000, 127_000, 13_000) if truncated else None
    output = None if error else RunOutput(None if skipped else answer, (Step("generate", input_tokens=100, output_tokens=5),),
                                          effective_context_tokens=100, truncation=trunc,
                                          skipped="context_too_long" if skipped else None)
    scores = [] if error else [Score("judge", None if skipped else score, "skipped" if skipped else status, scorer="judge")]
    return build_record(
        run_id=run_id, spec_hash="h", task=task, task_version="1", sample=sample, runner=runner,
        runner_label=runner_label or runner, strategy=strategy or runner, runner_params={}, model=model,
        backend=model.partition(":")[0], model_id=(model.partition(":")[2] or model).rstrip("/").rsplit("/", 1)[-1],
        generation={}, output=output, scores=scores, primary="judge",
        error=ErrorInfo("BackendError", "HTTP 500", 3, "server_error") if error else None,
        started_at="2025-01-01T00:00:00Z", latency_s=0.0,
    )
