"""LaRA-style aggregation: a hand-computed small table, status handling, and the paper's gaps."""

from __future__ import annotations

import itertools

import pytest

from lara.results.record import Record

from lara.results.lara_table import (
    aggregate,
    average_gaps,
    check_paper_gaps,
    gap_rows,
    paper_table,
    record_mode,
    render_markdown,
    table_cells,
)


def rec(runner, ctype, category, score, status="ok", model="m", length="32k", error=None, skipped=None, **kw):
    return {
        "runner": runner,
        "model": model,
        "length": length,
        "context_type": ctype,
        "category": category,
        "score": score,
        "score_status": status,
        "error": error,
        "skipped": skipped,
        **kw,
    }


def fixture_records() -> list[dict]:
    """LC location: book 1/2, financial 3/4, paper 0/1 -> mean(0.5, 0.75, 0) = 41.67.
    RAG location: book 1/1, financial 1/2, paper 1/1 -> mean(1, .5, 1) = 83.33.
    LC comp (file-name alias): book 1/1 only -> 100.  RAG comp: book 0/1 -> 0.
    Plus non-ok records that must be counted, not averaged."""
    recs = []
    for ctype, scores in {"book": [1, 0], "financial": [1, 1, 1, 0], "paper": [0]}.items():
        recs += [rec("long_context", ctype, "location", s) for s in scores]
    for ctype, scores in {"book": [1], "financial": [1, 0], "paper": [1]}.items():
        recs += [rec("rag", ctype, "location", s) for s in scores]
    recs.append(rec("lc", "book", "comp", 1))
    recs.append(rec("rag", "book", "comparison", 0, runner_label="rag-lara"))
    # excluded from denominators, shown as counts
    recs.append(rec("long_context", "paper", "location", None, status="unparsed"))
    recs.append(rec("long_context", "paper", "location", None, status="error"))
    recs.append(rec("long_context", "paper", "location", None, status=None, error={"type": "BackendError", "message": "x"}))
    recs.append(rec("rag", "book", "location", None, status="skipped", skipped="truncation"))
    # not a LaRA mode / not a LaRA task: ignored
    recs.append(rec("self_route", "book", "location", 1))
    recs.append(rec("rag", "book", "sentiment", 1))
    return recs


def test_hand_computed_table() -> None:
    rows = {(r.model, r.length, r.mode): r for r in aggregate(fixture_records())}
    assert set(rows) == {("m", "32k", "LC"), ("m", "32k", "RAG")}
    lc, rag = rows[("m", "32k", "LC")], rows[("m", "32k", "RAG")]
    assert lc.location == pytest.approx(100 * (0.5 + 0.75 + 0.0) / 3)
    assert rag.location == pytest.approx(100 * (1 + 0.5 + 1) / 3)
    assert lc.comparison == pytest.approx(100.0) and rag.comparison == pytest.approx(0.0)
    assert lc.reasoning is None and lc.hallucination is None
    assert lc.overall == pytest.approx((lc.location + 100.0) / 2)  # mean of the tasks present
    assert (lc.judged, lc.unparsed, lc.error, lc.skipped) == (8, 1, 2, 0)
    assert (rag.judged, rag.unparsed, rag.error, rag.skipped) == (5, 0, 0, 1)

    (gap,) = gap_rows(rows.values())
    assert gap.mode == "LC-RAG"
    assert gap.location == pytest.approx(lc.location - rag.location)
    assert gap.comparison == pytest.approx(100.0)
    assert average_gaps(rows.values())["32k"]["location"] == pytest.approx(gap.location)


def test_unweighted_over_context_types_and_overall_of_four_tasks() -> None:
    # book has 10 samples at 100%, paper 1 sample at 0%: unweighted mean is 50, not 10/11.
    recs = [rec("rag", "book", "reasoning", 1) for _ in range(10)] + [rec("rag", "paper", "reasoning", 0)]
    for task, val in zip(("location", "comp", "hallu"), (1, 0, 1)):
        recs.append(rec("rag", "book", task, val))
    (row,) = aggregate(recs)
    assert row.reasoning == pytest.approx(50.0)
    assert row.overall == pytest.approx((100 + 50 + 0 + 100) / 4)


def test_mode_comes_from_the_runner_strategy() -> None:
    """Schema 2 records carry the runner class's strategy; schema 1 lines get it from the runner name."""
    def mode(**kw):
        return record_mode(Record.coerce({"schema_version": 2, **kw}))

    assert mode(runner="my_lc", strategy="long_context") == "LC"
    assert mode(runner="custom", runner_label="rag-lara", strategy="rag") == "RAG"
    assert mode(runner="self_route", strategy="self_route") is None
    assert mode(runner="iterdrag", strategy="iterative_rag") is None
    v1 = [Record.coerce({"schema_version": 1, "runner": name}) for name in ("long_context", "lc", "rag", "self_route")]
    assert [record_mode(r) for r in v1] == ["LC", "LC", "RAG", None]


def test_rendering_puts_lc_rag_and_gap_side_by_side() -> None:
    rows = aggregate(fixture_records())
    cells = table_cells(rows)
    assert [c[2] for c in cells] == ["LC", "RAG", "LC-RAG"]
    assert cells[2][3].startswith("-")  # LC location 41.67 < RAG 83.33: signed gap
    md = render_markdown(rows)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| model |") and len(lines) == 2 + 3
    assert "| 41.67 |" in lines[2] and "| 83.33 |" in lines[3]


def test_paper_table_and_average_gaps_reproduce(shared_data) -> None:
    path = shared_data / "lara" / "paper_main_table.csv"
    rows = paper_table(path)
    assert len(rows) == 44
    for r in rows:  # Overall is the mean of the four tasks in every published row
        assert r.overall == pytest.approx(
            (r.location + r.reasoning + r.comparison + r.hallucination) / 4, abs=0.006
        )
    diffs = check_paper_gaps(path)
    assert all(abs(d) <= 0.006 for d in itertools.chain.from_iterable(v.values() for v in diffs.values()))
    assert len(gap_rows(rows)) == 22


def test_check_paper_gaps_rejects_a_changed_table(tmp_path, shared_data) -> None:
    src = (shared_data / "lara" / "paper_main_table.csv").read_text(encoding="utf-8").splitlines()
    header, first, rest = src[0], src[1].split(","), src[2:]
    first[4] = f"{float(first[4]) + 5:.2f}"  # shift one LC location cell by 5 points
    bad = tmp_path / "table.csv"
    bad.write_text("\n".join([header, ",".join(first), *rest]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="location"):
        check_paper_gaps(bad)
