"""Crossover analysis on records built by the real record builder: exact McNemar and Wilson
figures, pairing by sample id, the 'from this length on' rule, unpaired records left out."""

from __future__ import annotations

import math

import pytest

from lara.results import crossover as X
from lara.results.record import build_record
from lara.types import ErrorInfo, RunOutput, Sample, Score


def rec(strategy: str, runner: str, sid: str, length: str, words: int, ok: bool | None, category: str = "location"):
    sample = Sample(id=sid, question="q", references=("a",),
                    metadata={"category": category, "length": length, "target_words": words})
    error = ErrorInfo("BackendError", "boom") if ok is None else None
    score = [] if ok is None else [Score("exact", float(ok), "ok", "", "exact")]
    return build_record(run_id=f"run-{runner}", spec_hash="h", task="synthetic", task_version="1", sample=sample,
                        runner=runner, runner_label=runner, strategy=strategy, runner_params={}, model="m",
                        backend="mock", model_id="m", generation={},
                        output=None if ok is None else RunOutput(answer="x"), scores=score, primary="exact",
                        error=error, started_at="", latency_s=0.0)


def pairs(length: str, words: int, lc: list[bool], rag: list[bool], category: str = "location") -> list:
    out = []
    for i, (a, b) in enumerate(zip(lc, rag)):
        sid = f"{length}-{category}-{i}"
        out += [rec("long_context", "lc", sid, length, words, a, category), rec("rag", "rag", sid, length, words, b, category)]
    return out


def test_mcnemar_exact_and_wilson_values() -> None:
    assert X.mcnemar_exact(0, 8) == pytest.approx(2 / 2**8)
    assert X.mcnemar_exact(8, 0) == X.mcnemar_exact(0, 8)
    assert X.mcnemar_exact(0, 0) == 1.0 and X.mcnemar_exact(3, 3) == 1.0
    assert X.mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 2**10)
    lo, hi = X.wilson(8, 8)
    assert hi == 1.0 and lo == pytest.approx(0.6756, abs=1e-3)
    lo, hi = X.wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    assert all(math.isnan(x) for x in X.wilson(0, 0))


def test_crossover_is_the_start_of_the_final_significant_run() -> None:
    records = (pairs("2k", 2000, [True] * 8, [True] * 8)
               + pairs("8k", 8000, [False] * 8, [True] * 8)     # RAG better here ...
               + pairs("16k", 16000, [True] * 8, [True] * 8)    # ... but not here
               + pairs("32k", 32000, [False] * 8, [True] * 8)
               + pairs("64k", 64000, [False] * 7 + [True], [True] * 8))
    (loc, everything) = X.curves(records)
    assert loc.category == "location" and everything.category == X.ALL
    assert [p.length for p in loc.points] == ["2k", "8k", "16k", "32k", "64k"]
    assert loc.crossover == "32k"
    assert loc.points[1].rag_better() and not loc.points[2].rag_better()
    assert loc.points[4].rag_only == 7 and loc.points[4].p_value == pytest.approx(2 / 2**7)


def test_no_crossover_when_rag_is_never_significantly_better_and_lengths_sort_by_size() -> None:
    records = pairs("128k", 128000, [False] * 3, [True] * 3) + pairs("32k", 32000, [True] * 3, [True] * 3)
    (c, _) = X.curves(records)
    assert [p.length for p in c.points] == ["32k", "128k"]
    assert c.crossover is None  # 3 discordant pairs cannot reach p < 0.05
    assert "none" in X.summary_lines([c])[0]


def test_unpaired_and_error_records_are_left_out_and_counted() -> None:
    records = pairs("2k", 2000, [True] * 4, [True] * 4) + pairs("8k", 8000, [True] * 4, [True] * 4)
    records.append(rec("long_context", "lc", "8k-extra", "8k", 8000, True))  # no RAG partner
    records += [rec("long_context", "lc", "8k-err", "8k", 8000, None), rec("rag", "rag", "8k-err", "8k", 8000, True)]
    (c, _) = X.curves(records)
    p8 = c.points[1]
    assert p8.pairs == 4 and p8.unpaired == 2


def test_single_length_gives_no_curve_and_html_section_renders(tmp_path) -> None:
    assert X.curves(pairs("2k", 2000, [True], [True])) == []
    html = X.html_section([])
    assert 'id="crossover"' in html and "lara crossover" in html
    cs = X.curves(pairs("2k", 2000, [True] * 6, [True] * 6) + pairs("8k", 8000, [False] * 6, [True] * 6))
    html = X.html_section(cs, "assets/crossover.png")
    assert "crossover-table" in html and "assets/crossover.png" in html and "8k" in html
    path = X.plot(cs, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
