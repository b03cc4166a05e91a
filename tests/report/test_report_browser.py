"""The report in a real browser: Debian's Chromium, headless, driven by Playwright's Python package
(no `playwright install`: the system binary is used). Sorts and filters the leaderboard, narrows the
LaRA view and the paired table with the same filters, opens a collapsed diff and a drill-down,
checks that the injected-script answer stays text, and takes a screenshot."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lara.report.build import build_report

pytestmark = pytest.mark.needs('matplotlib')

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def _chromium() -> str:
    path = os.environ.get("LARA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip("no chromium binary (install.sh installs Debian's chromium when run as root)")
    return path


@pytest.fixture()
def browser_page(tmp_path: Path):
    exe = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip package) is not installed")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, offline=True,
        )
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page, errors
        ctx.close()


def _column(page, table: str, header: str) -> list[str]:
    return page.evaluate(
        """([t, h]) => { const tb = document.getElementById(t);
             const i = Array.from(tb.tHead.rows[0].cells).findIndex(c => c.textContent.trim() === h);
             return Array.from(tb.tBodies[0].rows).filter(r => !r.hidden).map(r => r.cells[i].textContent.trim()); }""",
        [table, header],
    )


def _as_num(v: str) -> float:
    return float("-inf") if v == "–" else float(v)


def exercise(page, errors: list[str], index: Path, shot: Path, runner: str) -> dict:
    page.goto(index.resolve().as_uri())
    page.wait_for_selector("#samples-table tbody tr")
    samples = json.loads(page.locator("#lara-data").text_content())["samples"]
    page.wait_for_load_state("load")
    imgs = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
    assert imgs and all(ok for _, ok in imgs), imgs  # plots load from the relative assets/ folder

    # sort the full leaderboard by score, both directions
    page.click("#leaderboard-table th:text-is('score %')")
    up = [_as_num(v) for v in _column(page, "leaderboard-table", "score %")]
    assert up == sorted(up) and len(up) > 1
    page.click("#leaderboard-table th:text-is('score %')")
    down = [_as_num(v) for v in _column(page, "leaderboard-table", "score %")]
    assert down == sorted(down, reverse=True)

    # filter by runner: leaderboard rows and the sample list follow
    page.select_option("#filters select[data-filter='runner']", runner)
    runners = _column(page, "leaderboard-table", "runner")
    assert runners and set(runners) == {runner}
    want = sum(1 for s in samples if s["runner"] == runner)
    assert page.locator("#samples-count").text_content().startswith(f"{want} of {len(samples)}")
    page.select_option("#filters select[data-filter='category']", "location")
    assert set(_column(page, "leaderboard-table", "category")) == {"location"}

    # open one drill-down: it shows that sample's question and reference
    first = page.locator("#samples-table tbody tr").first
    idx = int(first.get_attribute("data-idx"))
    first.click()
    dialog = page.locator("dialog#drill")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert samples[idx]["q"].strip() in text and samples[idx]["refs"][0].strip()[:40] in text
    assert samples[idx]["runner"] == runner and samples[idx]["category"] == "location"
    page.screenshot(path=str(shot))
    page.click("#drill-close")
    assert not errors, errors
    return {"samples": samples, "drill": text}


def _visible(page, selector: str) -> list[str]:
    return page.evaluate(
        "s => Array.from(document.querySelectorAll(s)).filter(e => e.offsetParent !== null).map(e => e.textContent.trim())",
        selector)


def exercise_lara_view_and_diffs(page, errors: list[str]) -> None:
    """The filters narrow the LaRA view (rows by model and runner, columns by category) and the
    paired table; diff tables open collapsed and expand on a click."""
    page.click("#f-reset")
    assert _visible(page, "#lara-table tbody tr td:nth-child(2)")  # every LaRA row shown unfiltered
    models = sorted(set(_visible(page, "#lara-table tbody tr td:nth-child(2)")))
    assert len(models) == 2
    page.select_option("#filters select[data-filter='model']", models[0])
    assert set(_visible(page, "#lara-table tbody tr td:nth-child(2)")) == {models[0]}
    page.select_option("#filters select[data-filter='runner']", "rag")
    assert set(_visible(page, "#lara-table tbody tr td:nth-child(4)")) == {"RAG", "LC-RAG"}
    page.select_option("#filters select[data-filter='category']", "comparison")
    assert _visible(page, "#lara-table thead th") == ["task", "model", "length", "mode", "comparison", "overall",
                                                     "judged", "unparsed", "error", "skipped"]
    paired = _visible(page, "#lara table[id^='paired-'] tbody tr td:first-child")
    assert paired == ["comparison", "overall"]  # this model's paired rows: the chosen category and overall
    page.click("#f-reset")
    assert "reasoning" in _visible(page, "#lara-table thead th")

    # diffs: collapsed until opened, then a row opens both answers side by side
    assert not page.locator("#diff-0 tr[data-drill]").first.is_visible()
    page.click("#diff-0 details > summary")
    page.locator("#diff-0 tr[data-drill]").first.click()
    assert page.locator("dialog#drill .drill-card").count() == 2
    page.click("#drill-close")
    assert not errors, errors


def test_report_in_chromium(browser_page, tmp_path: Path) -> None:
    from lara.testing.fixtures import XSS, write_fixture

    page, errors = browser_page
    write_fixture(tmp_path / "results")
    write_fixture(tmp_path / "results", model="replay:/long/path/predictions/gpt-4o-mini")
    res = build_report([tmp_path / "results"], tmp_path / "site")
    shot = tmp_path / "report.png"
    got = exercise(page, errors, res.index, shot, runner="rag")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # the injected answer is displayed as text and never executed
    page.click("#f-reset")
    page.fill("#f-text", "window.__xss")
    page.locator("#samples-table tbody tr").first.click()
    assert XSS in page.locator("dialog#drill pre").nth(1).inner_text()
    assert page.evaluate("window.__xss === undefined")
    page.click("#drill-close")
    exercise_lara_view_and_diffs(page, errors)
    assert got["samples"]


@pytest.fixture()
def replay_report(shared_data: Path, tmp_path: Path):
    """LC and RAG (BM25) runs on replayed gpt-4o-mini LaRA predictions, built before the browser
    starts (Playwright's sync API owns the thread's event loop while it runs)."""
    from lara.config import resolve_spec
    from lara.engine import run

    pred = shared_data / "lara" / "predictions" / "gpt-4o-mini"
    if not pred.is_dir():
        pytest.skip(f"no replay predictions at {pred}")
    data_dir = str(shared_data / "lara" / "datasets")
    for runner in ("lc", "rag"):
        spec = resolve_spec("lara-32k", runner, f"replay:{pred}", task_params={"data_dir": data_dir},
                            scorer="lexical", limit=24)
        run(spec, output_root=tmp_path / "results")
    return build_report([tmp_path / "results"], tmp_path / "site")


@pytest.mark.realdata
def test_replayed_lara_report_in_chromium(replay_report, browser_page, tmp_path: Path) -> None:
    """The page a reader gets from replayed LaRA predictions works in a browser."""
    res = replay_report
    assert res.n_runs == 2 and res.n_records == 48 and "lc_vs_rag" in res.plots
    page, errors = browser_page
    shot = tmp_path / "replay.png"
    got = exercise(page, errors, res.index, shot, runner="rag")
    assert "retrieved chunks" in got["drill"] and "#1" in got["drill"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("LARA_REPORT_SHOT"):
        shutil.copy(shot, os.environ["LARA_REPORT_SHOT"])
