"""Issue 16 item 14: a YAML alias bomb in a preset ran for over 60 s at 690 MB and growing. Preset
loading now refuses aliases outright (where they appear), so it fails in milliseconds."""

from __future__ import annotations

import time

import pytest

from lara.config import PresetError, load_preset, load_yaml
from lara.testing.cli import lara_env, run_cli

BOMB = """\
task: synthetic
description: billion laughs
params:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_alias_bomb_preset_is_refused_fast_with_one_error_line(tmp_path):
    (tmp_path / "presets" / "tasks").mkdir(parents=True)
    (tmp_path / "presets" / "tasks" / "bomb.yaml").write_text(BOMB)
    t0 = time.monotonic()
    r = run_cli(["run", "--task", "bomb", "--model", "mock", "-o", str(tmp_path / "res")],
                env=lara_env({"LARA_PRESET_PATH": str(tmp_path / "presets")}, tmp_path / "cache"), timeout=60)
    elapsed = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bomb.yaml:5: YAML alias *a refused" in lines[0]
    assert elapsed < 30  # the interpreter's start-up; the bomb itself is never expanded
    assert not (tmp_path / "res").exists()


def test_load_preset_refuses_aliases_and_merge_keys(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("task: synthetic\nbase: &base {n_docs: 2}\nparams:\n  <<: *base\n")
    with pytest.raises(PresetError, match=r"x\.yaml:4: YAML alias \*base refused"):
        load_preset("tasks", str(p))


def test_plain_presets_and_anchors_without_aliases_still_load(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("task: synthetic\nparams: &p\n  n_docs: 2\n")
    assert load_preset("tasks", str(p))["params"] == {"n_docs": 2}
    for name in ("lara-32k", "synthetic", "jsonl"):  # every shipped preset kind still parses
        assert load_preset("tasks", name) is not None


def test_non_utf8_preset_names_file_and_line(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes(b"task: synthetic\ndescription: caf\xe9\n")
    with pytest.raises(PresetError, match=r"latin\.yaml:2: preset is not UTF-8 \(byte 0xe9\)"):
        load_preset("tasks", str(p))


def test_oversized_yaml_is_refused_before_parsing():
    with pytest.raises(PresetError, match="refusing to parse"):
        load_yaml("a: " + "x" * (2 << 20), "big.yaml")
