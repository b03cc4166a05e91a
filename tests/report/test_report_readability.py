"""Report readability: one display name per model, lengths by number, the paired LC-vs-RAG table and
headline, collapsed diffs, filter attributes on every table (the LaRA view included), run identity."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lara.report.build import build_report
from lara.report.names import display_names, short_model
from lara.report.paired_table import cells, headline
from lara.results.collect import collect
from lara.results.paired import compare_runs, strategy_pairings
from lara.testing.fixtures import REPORT_CATS, write_fixture
from lara.testing.report_page import parse_page

SPEC = "replay:/very/long/path/to/predictions/gpt-4o-mini"


@pytest.fixture(scope="module")
def two_lengths(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("readable")
    write_fixture(root / "results", model=SPEC, lengths=("32k", "128k"))
    res = build_report([root / "results"], root / "site", plots=False)
    page = res.index.read_text(encoding="utf-8")
    return root, res, page, parse_page(page)


def test_short_model_names() -> None:
    assert short_model(SPEC, "gpt-4o-mini", "replay") == "gpt-4o-mini (replay)"
    assert short_model("openai:gpt-4o") == "gpt-4o (openai)"
    assert short_model("mock", "mock", "mock") == "mock"
    assert short_model("local", "SmolLM2-135M-Instruct", "local") == "SmolLM2-135M-Instruct (local)"
    from lara.testing.fixtures import scored_record

    same = [scored_record("a", "q", 1.0, model="replay:/a/gpt-4o-mini"), scored_record("b", "q", 1.0, model="replay:/b/gpt-4o-mini"),
            scored_record("c", "q", 1.0, model="openai:gpt-4o")]
    # two different specs that would read alike keep their full spec instead of merging
    assert display_names(same) == {"replay:/a/gpt-4o-mini": "replay:/a/gpt-4o-mini",
                                   "replay:/b/gpt-4o-mini": "replay:/b/gpt-4o-mini", "openai:gpt-4o": "gpt-4o (openai)"}


def test_one_display_name_in_every_table_and_filter(two_lengths) -> None:
    _root, _res, page, p = two_lengths
    name = "gpt-4o-mini (replay)"
    for tid in ("overall-table", "leaderboard-table", "lara-table"):
        col = p.tables[tid][0].index("model")
        assert {row[col] for row in p.tables[tid][1:]} == {name}, tid
        assert {a.get("data-model") for a in p.rows_attrs[tid][1:]} == {name}
    runs = next(t for t in p.tables.values() if t[0][:2] == ["run", "task"])
    assert {r[3] for r in runs[1:]} == {name} and {r[4] for r in runs[1:]} == {SPEC}  # the spec stays visible there
    samples = json.loads("".join(p.json_blocks))["samples"]
    assert {s["model"] for s in samples} == {name}
    assert f'<option value="{name}">' in page and f'<option value="{SPEC}">' not in page


def test_lengths_sort_by_number(two_lengths) -> None:
    _root, _res, page, p = two_lengths
    t = p.tables["leaderboard-table"]
    h = t[0]
    rows = [r for r in t[1:] if r[h.index("runner")] == "lc" and r[h.index("category")] == "location"]
    assert [r[h.index("length")] for r in rows] == ["32k", "128k"]
    assert [r[h.index("category")] for r in t[1:] if r[h.index("runner")] == "lc" and r[h.index("length")] == "32k"] == list(REPORT_CATS)
    assert page.index('<option value="32k">') < page.index('<option value="128k">')
    assert 'data-v="32000.0">32k</td>' in page and 'data-v="128000.0">128k</td>' in page  # header clicks sort by number
    lara = p.tables["lara-table"]
    assert [r[2] for r in lara[1:]] == ["32k"] * 3 + ["128k"] * 3


def test_paired_table_and_headline_match_the_statistics(two_lengths) -> None:
    root, res, page, p = two_lengths
    rows = compare_runs(strategy_pairings(collect([root / "results"]).records))
    names = {SPEC: "gpt-4o-mini (replay)"}
    table = next(t for t in p.tables.values() if t and t[0][:3] == ["category", "length", "pairs"])
    assert table[1:] == [cells(r) for r in rows]
    assert [r[0] for r in table[1:]] == [c for c in REPORT_CATS for _ in (0, 1)] + ["overall"]
    assert [r[1] for r in table[1:9]] == ["32k", "128k"] * 4
    overall = rows[-1]
    assert res.headlines == [headline(overall, names)]
    assert headline(overall, names) in page  # in the page header
    assert "gpt-4o-mini (replay)" in res.headlines[0] and "lc" in res.headlines[0] and overall.verdict in (
        "no significant difference", "A better", "B better")
    # the section names which mean is which
    assert "per-question means" in page and "mean over context types" in page


def test_diffs_are_collapsed_and_rows_carry_filter_attributes(two_lengths) -> None:
    _root, res, _page, p = two_lengths
    assert res.diffs == 1
    diff_id = next(k for k, t in p.tables.items() if t and t[0][:5] == ["category", "length", "sample", "A", "B"])
    assert p.collapsed[diff_id] is True
    assert p.collapsed["leaderboard-table"] is False
    attrs = p.rows_attrs[diff_id][1:]
    assert attrs and all(a["data-runner"] == "lc\trag" and a["data-model"] == "gpt-4o-mini (replay)" for a in attrs)
    # the LaRA view: per-row task/model/length/runner, per-column category
    lara_rows = p.rows_attrs["lara-table"][1:]
    assert {a["data-runner"] for a in lara_rows} == {"lc", "rag", "lc\trag"}
    assert {a["data-task"] for a in lara_rows} == {"lara-mini"} and {a["data-length"] for a in lara_rows} == {"32k", "128k"}
    cats = [a.get("data-category") for a in p.header_attrs["lara-table"]]
    assert [c for c in cats if c] == list(REPORT_CATS)
    # the points tables of the figures are filterable too
    points = [k for k, t in p.tables.items() if t and t[0][:2] == ["task / facet", "runner · model"]]
    assert points and all(p.rows_attrs[k][1]["data-model"] == "gpt-4o-mini (replay)" for k in points)


def test_report_shows_one_record_per_sample_and_warns_on_overlapping_runs(tmp_path: Path) -> None:
    runs = write_fixture(tmp_path / "results")
    old = tmp_path / "results" / "lara-mini__lc__toy__older"
    old.mkdir()
    lines = (runs["lc"] / "samples.jsonl").read_text().splitlines()
    flipped = []
    for line in lines[:10]:
        d = json.loads(line)
        d["run_id"], d["score"], d["score_status"], d["error"], d["skipped"] = old.name, 0.0, "ok", None, None
        flipped.append(json.dumps(d))
    (old / "samples.jsonl").write_text("\n".join(flipped) + "\n")
    then = time.time() - 3600
    os.utime(old / "samples.jsonl", (then, then))  # the older run: its records lose to the newer run's
    res = build_report([tmp_path / "results"], tmp_path / "site", plots=False)
    assert res.n_records == 64 and any("share sample ids" in w for w in res.warnings)
    page = res.index.read_text(encoding="utf-8")
    assert "share sample ids" in page
    samples = json.loads("".join(parse_page(page).json_blocks))["samples"]
    assert old.name not in {s["run"] for s in samples}  # each sample's record from the newest run
    pooled = build_report([tmp_path / "results"], tmp_path / "site2", plots=False, combine=True)
    assert pooled.n_records == 74 and pooled.diffs == 1 and pooled.headlines == res.headlines
