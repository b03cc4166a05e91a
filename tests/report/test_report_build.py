"""Report page, plots and diff on small result records written here in the real record schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.report.build import build_report
from lara.report.diff import correctness, diff_records, load_run, natural_key
from lara.report.plots import write_plots
from lara.results.record import Record

from lara.testing.fixtures import CTYPES, REPORT_CATS as CATS, XSS, write_fixture  # noqa: F401
from lara.testing.report_page import parse_page

pytestmark = pytest.mark.needs('matplotlib')


def read_lines(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("report")
    runs = write_fixture(tmp_path / "results")
    res = build_report([tmp_path / "results"], tmp_path / "site")
    page = res.index.read_text(encoding="utf-8")
    return runs, res, page, parse_page(page)


def test_html_is_balanced_and_embeds_parseable_json(report) -> None:
    runs, res, page, p = report
    assert p.errors == [] and p.stack == []
    assert p.scripts == 2 and len(p.json_blocks) == 1
    data = json.loads("".join(p.json_blocks))
    n = sum(len(read_lines(d)) for d in runs.values())
    assert len(data["samples"]) == n == res.n_records
    assert page.startswith("<!DOCTYPE html>")


def test_page_shows_means_recomputed_from_jsonl(report) -> None:
    runs, _res, _page, p = report
    header = p.tables["overall-table"][0]
    col = header.index("score %")
    rows = {tuple(r[:3]): r for r in p.tables["overall-table"][1:]}
    for runner, d in runs.items():
        recs = read_lines(d)
        ok = [r["score"] for r in recs if r["score_status"] == "ok" and not r["error"] and not r["skipped"]]
        want = f"{100 * sum(ok) / len(ok):.1f}"
        row = rows[("toy (openai)", runner, "lara-mini")]
        assert row[col] == want and row[header.index("n")] == str(len(recs))
        truncated = sum(1 for r in recs if (r["truncation"] or {}).get("dropped_tokens"))
        assert row[header.index("truncated")] == str(truncated)
    assert rows[("toy (openai)", "lc", "lara-mini")][header.index("truncated")] == "1"


def test_lara_gap_and_status_counts_match_records(report) -> None:
    runs, _res, _page, p = report
    lc, rag = read_lines(runs["lc"]), read_lines(runs["rag"])

    def acc(recs, cat):  # LaRA aggregation: unweighted mean over context types, ×100
        per = []
        for ct in CTYPES:
            vals = [r["score"] for r in recs if r["category"] == cat and r["context_type"] == ct and r["score_status"] == "ok" and not r["error"] and not r["skipped"]]
            per.append(sum(vals) / len(vals))
        return 100 * sum(per) / len(per)

    lara = p.tables["lara-table"]
    assert lara[0][:4] == ["task", "model", "length", "mode"]
    gap = next(r for r in lara[1:] if r[3] == "LC-RAG")
    for j, cat in enumerate(CATS):
        assert gap[4 + j] == f"{acc(lc, cat) - acc(rag, cat):+.2f}"
    status = next(t for t in p.tables.values() if t and "unparsed" in t[0] and "scorer" in t[0])
    h = status[0]
    by_runner = {r[1]: r for r in status[1:]}
    assert len(status) == 3  # one row per runner: the failed sample (no score) counts under the run's scorer
    assert by_runner["lc"][h.index("scorer")] == "judge (primary)" and by_runner["lc"][h.index("total")] == str(len(lc))
    assert by_runner["lc"][h.index("error")] == "1" and by_runner["lc"][h.index("skipped")] == "1"
    assert by_runner["rag"][h.index("unparsed")] == str(sum(r["score_status"] == "unparsed" for r in rag))
    cost = next(t for t in p.tables.values() if t and "input tokens / correct" in t[0])
    row = next(r for r in cost[1:] if r[1] == "rag")
    correct = sum(r["score"] for r in rag if r["score_status"] == "ok")
    assert row[0] == "toy (openai)"
    assert row[cost[0].index("input tokens / correct")] == f"{sum(r['input_tokens'] for r in rag) / correct:,.0f}"


def test_untrusted_text_never_becomes_markup(report) -> None:
    _runs, _res, page, p = report
    assert "<script>window.__xss" not in page and "<img src=x" not in page and "<b>boom" not in page
    data = json.loads("".join(p.json_blocks))
    assert any(s["a"] == XSS for s in data["samples"])  # round-trips exactly through the JSON block
    assert any("<b>boom</b>" in (s["err"] or "") for s in data["samples"])
    assert "&lt;/script&gt;&lt;script&gt;window.__xss" in page  # the diff section shows it escaped
    assert 'src="http' not in page and 'href="http' not in page and "//cdn" not in page


def test_drill_down_payload_has_retrieval_and_explanations(report) -> None:
    runs, _res, _page, p = report
    data = json.loads("".join(p.json_blocks))["samples"]
    rag = {s["id"]: s for s in data if s["runner"] == "rag"}
    first = rag["32k_book_location_0"]  # the fixture's sample 0
    assert first["ret"][0]["ids"] == ["doc-book#c0", "doc-book#c7"]
    assert first["expl"] == "verdict for 0" and first["refs"] == ["ref 0"]
    ids = [s["id"] for s in data if s["runner"] == "rag"]
    assert ids == sorted(ids, key=natural_key) and natural_key("q_2") < natural_key("q_10")


def test_diff_matches_manual_comparison_and_is_in_page(report) -> None:
    runs, res, page, p = report
    a, b = load_run(runs["lc"]), load_run(runs["rag"])
    d = diff_records(a, b)
    lb = {r.sample_id: correctness(r) for r in b}
    expected = {r.sample_id for r in a if correctness(r) != lb[r.sample_id]}
    assert {x.sample_id for x in d.rows} == expected and expected
    cats = [x.category for x in d.rows]
    assert cats == sorted(cats, key=CATS.index)  # LaRA's category order
    assert ("correct", "incorrect") in {(x.a_label, x.b_label) for x in d.rows}
    assert any(x.a_label == "error" for x in d.rows)  # a failed sample is shown as such, never as wrong
    assert res.diffs == 1
    diff_table = next(t for t in p.tables.values() if t and t[0][:5] == ["category", "length", "sample", "A", "B"])
    assert [r[2] for r in diff_table[1:]] == [x.sample_id for x in d.rows]
    drills = [a.get("data-drill") for a in next(v for k, v in p.rows_attrs.items() if p.tables[k] is diff_table)[1:]]
    samples = json.loads("".join(p.json_blocks))["samples"]
    i, j = map(int, drills[0].split(","))
    assert samples[i]["id"] == samples[j]["id"] == d.rows[0].sample_id and samples[i]["runner"] != samples[j]["runner"]


def test_plots_are_pngs(report, tmp_path: Path) -> None:
    runs, res, page, _p = report
    assert set(res.plots) == {"lc_vs_rag", "accuracy_vs_context", "lost_in_the_middle"}
    for name, (png,) in res.plots.items():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f'src="assets/{name}.png"' in page  # relative: works from a file URL
    recs = read_lines(runs["lc"]) + read_lines(runs["rag"])
    (svg,) = write_plots(recs, tmp_path / "plots", formats=("svg",), names=("accuracy_vs_context",))["accuracy_vs_context"]
    assert "<svg" in svg.read_text(encoding="utf-8")
    # comparison questions carry no answer position: nothing to draw for them alone
    comp = [r for r in recs if r["category"] == "comparison"]
    assert write_plots(comp, tmp_path / "p2", names=("lost_in_the_middle",)) == {}
    with pytest.raises(ValueError, match="unknown plot"):
        write_plots(recs, tmp_path / "p3", names=("nope",))


def test_cli_report_plot_diff(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from lara.cli import main

    runs = write_fixture(tmp_path / "res")
    assert main(["report", str(runs["lc"]), "--out", str(tmp_path / "site"), "--no-plots",
                 "--diff", str(runs["lc"]), str(runs["rag"])]) == 0
    out = capsys.readouterr().out
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "1 diffs" in out and 'id="diff-0"' in page and page.count('id="diff-') == 1
    assert "lara-mini__rag__toy__abc123" in page  # --diff runs join the page even when not listed
    assert main(["plot", str(runs["lc"]), "--out", str(tmp_path / "pl"), "--only", "lc_vs_rag"]) == 0
    assert (tmp_path / "pl" / "lc_vs_rag.png").exists()  # LC alone still draws its bars
    capsys.readouterr()
    assert main(["diff", str(runs["lc"]), str(runs["rag"]), "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert len(got["disagreements"]) == len(diff_records(load_run(runs["lc"]), load_run(runs["rag"])).rows)
    assert got["a"] == "lc" and got["b"] == "rag"
    assert main(["diff", str(tmp_path / "res"), str(runs["rag"])]) == 2
    assert "holds 2 runs; pass one run folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope")]) == 2  # bad input
    assert "error: no such results file or folder" in capsys.readouterr().err
    assert main(["plot", str(runs["lc"]), "--only", "nope"]) == 2
    assert "unknown plot or format nope" in capsys.readouterr().err


def test_answer_position_and_context_bins() -> None:
    from lara.report.views import accuracy_by_position, answer_position, context_bin, fmt_tokens

    def at(meta: dict) -> Record:
        return Record.coerce({"metadata": meta})

    assert answer_position(at({"context_order": 2})) == (2.0, "segment 2")
    assert answer_position(at({"context_order": "full"})) is None  # whole-document questions
    assert answer_position(at({"depth": 0.25})) == (0.25, "depth 0.25")  # synthetic task
    assert context_bin(37414) == (32768, 65536) and fmt_tokens(32768) == "32k" and context_bin(0) == (0, 0)
    recs = [Record.coerce({"task": "synthetic", "category": "location", "runner": "lc", "model_id": "m",
                           "metadata": {"depth": d}, "score": s, "score_status": "ok"})
            for d, s in ((0.5, 1.0), (0.5, 0.0), (0.0, 1.0))]
    pts = {p.x: p for p in accuracy_by_position(recs)}
    assert pts[0.5].mean == 0.5 and pts[0.5].n == 2 and pts[0.0].mean == 1.0
