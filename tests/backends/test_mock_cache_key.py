"""Mock answers scripted differently never share cached replies: the response cache keys on the
endpoint, so the mock's endpoint carries a fingerprint of its answer source."""

from __future__ import annotations

from pathlib import Path

from lara.config import resolve_spec
from lara.engine import RunOptions, run
from lara.results.collect import collect


def answers(tmp_path: Path, text: str) -> list[str | None]:
    spec = resolve_spec("synthetic", "lc", "mock", model_params={"answer": text}, limit=2)
    res = run(spec, RunOptions(output_root=tmp_path / text.replace(" ", "-"), cache_path=tmp_path / "shared.sqlite"))
    return [r.answer for r in collect([res.run_dir]).records]


def test_different_scripted_answers_do_not_share_the_cache(tmp_path: Path) -> None:
    assert answers(tmp_path, "first answer") == ["first answer"] * 2
    assert answers(tmp_path, "second answer") == ["second answer"] * 2  # not the cached first one


def test_answers_file_content_is_part_of_the_key(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    out = []
    for text in ("one", "two"):
        f.write_text("".join(f'{{"sample_id": "synthetic-1000-0-{c}", "answer": "{text}"}}\n'
                             for c in ("location", "comparison")), encoding="utf-8")
        spec = resolve_spec("synthetic", "lc", "mock", model_params={"answers": str(f)}, limit=2)
        res = run(spec, RunOptions(output_root=tmp_path / text, cache_path=tmp_path / "shared.sqlite"))
        out.append({r.answer for r in collect([res.run_dir]).records})
    assert out == [{"one"}, {"two"}]
