"""Fixture writers in the real on-disk formats, shared by tests and benchmarks.

``make_fixture`` writes a miniature LaRA tree exactly as upstream lays it out (file names, JSONL
quirks, no trailing newline) so the real loader reads it; ``write_fixture`` writes two result runs
through the real record builder. Tests import these instead of copying them.
"""

from __future__ import annotations

import json
from typing import Any
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
    # the other cells exist but are empty (upstream has all 24 query files)
    for length in ("32k", "128k"):
        for t in ("book", "financial", "paper"):
            for task in ("location", "reasoning", "comp", "hallu"):
                (q / f"{length}_{t}_{task}.jsonl").touch(exist_ok=True)
    return root


def fixture_samples(root: Path) -> list[Sample]:
    """The samples of a fresh :func:`make_fixture` tree under ``root``, read by the real LaRA loader.

    Tests that need LaRA samples take them from here, so categories and metadata are spelled as the
    task emits them (a hand-made ``"hallu"`` sample once hid a judge that never saw that spelling).
    Order: book location ×2, book comparison, book hallucination, financial location, paper reasoning.
    """
    from lara.tasks.lara import LaraTask

    return LaraTask(data_dir=str(make_fixture(root))).samples()


def write_predictions(folder: Path, samples: list[Sample], answers: dict[tuple[str, str], object],
                      file_model: str = "model") -> Path:
    """Recorded predictions in LaRA's upstream layout (``{full|rag}_preds_<model>_<len>_<type>_<task>.jsonl``).

    ``answers`` maps (sample id, ``"full"`` or ``"rag"``) to the prediction: a string, or ``False``
    for a failed API call as upstream records it; a pair not in ``answers`` gets no row (a missing
    prediction). Rows carry ``question``, ``prediction``, ``ground_truth`` and the query fields.
    """
    from lara.tasks.lara import FILE_TASK

    files: dict[str, list[dict]] = {}
    for sample in samples:
        m = sample.metadata
        for mode in ("full", "rag"):
            if (sample.id, mode) not in answers:
                continue
            name = f"{mode}_preds_{file_model}_{m['length']}_{m['context_type']}_{FILE_TASK[m['category']]}.jsonl"
            row = {"level": m.get("level"), "length": m["length"], "file": m["file"], "question": sample.question,
                   "prediction": answers[(sample.id, mode)], "ground_truth": sample.references[0]}
            row.update({k: m[k] for k in ("context_order", "comp_parts") if k in m})
            files.setdefault(name, []).append(row)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        _write_jsonl(folder / name, rows)
    return folder


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
            meta: dict[str, Any] = {"category": cat, "context_type": ctype, "length": length}
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
            output: RunOutput | None = RunOutput(answer, tuple(steps), effective_context_tokens=in_tok, truncation=trunc)
            error = None
            if runner == "lc" and i == 7:
                output, error, value, status = None, ErrorInfo("BackendError", "HTTP 500 <b>boom</b>", 3, "upstream_failure"), None, "error"
            if runner == "lc" and i == 9:
                output = RunOutput(None, (), skipped="too long")
                value, status = None, "skipped"
            score = Score("judge", value, status, explanation=f"verdict for {i}", scorer="toy-judge")  # type: ignore[arg-type]
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


def write_gsm8k(root: Path, n_train: int = 8, n_test: int = 1) -> Path:
    """A GSM8K folder (``train.jsonl``, ``test.jsonl``) in the upstream format: solutions with
    calculator annotations and a final ``#### N`` line."""
    def row(name: str, fruit: str, i: int) -> dict:
        return {"question": f"{name} has {i} {fruit} and buys {i + 1} more. How many {fruit}?",
                "answer": f"{name} has {i}+{i + 1}=<<{i}+{i + 1}={2 * i + 1}>>{2 * i + 1} {fruit}.\n#### {2 * i + 1}"}
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.jsonl").write_text("".join(json.dumps(row("Tom", "apples", i)) + "\n" for i in range(n_train)))
    (root / "test.jsonl").write_text("".join(json.dumps(row("Ann", "pears", i + 3)) + "\n" for i in range(n_test)))
    return root


def write_sweep_runs(root: Path, cells: list[tuple[str, str, str, int, int, int, list[float]]],
                     tokens_per_call: int = 100) -> list[Path]:
    """One run folder per cell ``(model, task, runner, k, m, n, per-sample scores)`` in the layout a
    `lara sweep` writes (runner params k, m, n; records by the real record builder), for the
    allocation fit. Effective length grows with k, m and n so budgets can select among cells."""
    dirs = []
    for model, task, runner, k, m, n, scores in cells:
        label = f"{runner}-k{k}-m{m}-n{n}"
        run_id = f"{task}__{label}__{model.replace(':', '-')}__fixture"
        d = root / run_id
        d.mkdir(parents=True, exist_ok=True)
        calls = 1 if runner == "drag" else 2 * n + 1
        eff = calls * tokens_per_call * (m + 1) * (k + 1)
        lines = []
        for i, v in enumerate(scores):
            sample = Sample(f"{task}-{i}", f"Question {i} of {task}?", ("ref",), (), {"category": "location"})
            out = RunOutput("answer", (Step("generate", input_tokens=eff, output_tokens=5),), effective_context_tokens=eff)
            rec = build_record(run_id=run_id, spec_hash="fixture", task=task, task_version="1", sample=sample,
                               runner=runner, runner_label=label, runner_params={"k": k, "m": m, "n": n},
                               model=model, backend="openai", model_id=model, generation={}, output=out,
                               scores=[Score("exact", float(v), "ok", scorer="exact")], primary="exact", error=None,
                               started_at="2025-01-01T00:00:00Z", latency_s=0.1)
            lines.append(json.dumps(rec.to_dict(), ensure_ascii=False))
        (d / "samples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        dirs.append(d)
    return dirs


def mbpp_row(task_id: int, text: str, code: str, tests: list[str], setup: str = "") -> dict:
    """One row of upstream ``mbpp.jsonl``."""
    return {"text": text, "code": code, "task_id": task_id, "test_setup_code": setup, "test_list": tests,
            "challenge_test_list": []}


def write_mbpp(root: Path, rows: list[dict]) -> Path:
    """``mbpp.jsonl`` as upstream ships it (one JSON object a line) in ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    _write_jsonl(root / "mbpp.jsonl", rows)
    return root


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
    scores = [] if error else [Score("judge", None if skipped else score, "skipped" if skipped else status, scorer="judge")]  # type: ignore[arg-type]
    return build_record(
        run_id=run_id, spec_hash="h", task=task, task_version="1", sample=sample, runner=runner,
        runner_label=runner_label or runner, strategy=strategy or runner, runner_params={}, model=model,
        backend=model.partition(":")[0], model_id=(model.partition(":")[2] or model).rstrip("/").rsplit("/", 1)[-1],
        generation={}, output=output, scores=scores, primary="judge",
        error=ErrorInfo("BackendError", "HTTP 500", 3, "server_error") if error else None,
        started_at="2025-01-01T00:00:00Z", latency_s=0.0,
    )
