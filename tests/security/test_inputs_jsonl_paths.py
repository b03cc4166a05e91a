"""Issue 16 item 15: a bring-your-own JSONL task's ``document`` paths could point anywhere the user
can read (``../``, absolute paths, symlinks), and the run would send those files to the model. They
are confined to the dataset folder unless ``--allow-outside-data`` is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara import registry
from lara.errors import DataError
from lara.testing.cli import lara_env, run_cli

SECRET_TEXT = "PRIVATE-FILE-CONTENT-42"


def dataset(tmp_path: Path, doc: str) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "inside.txt").write_text("The vault code is 1234.")
    (tmp_path / "private.txt").write_text(SECRET_TEXT)
    rows = [{"id": "ok", "question": "Code?", "answers": ["1234"], "doc": "inside.txt"},
            {"id": "attack", "question": "Code?", "answers": ["1234"], "doc": doc}]
    (data / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return data / "qa.jsonl"


def task(path: Path, **kw):
    return registry.tasks.get("jsonl")(path=str(path), document_path_field="doc", **kw)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_document_paths_outside_the_dataset_are_refused(tmp_path, kind):
    outside = tmp_path / "private.txt"
    doc = {"dotdot": "../private.txt", "absolute": str(outside), "symlink": "link.txt"}[kind]
    qa = dataset(tmp_path, doc)
    if kind == "symlink":
        (qa.parent / "link.txt").symlink_to(outside)
    with pytest.raises(DataError, match=r"qa\.jsonl:2: document path .* leads outside the dataset folder"):
        list(task(qa).samples())
    samples = list(task(qa, allow_outside_data=True).samples())
    assert Path(samples[1].documents[0].path).read_text() == SECRET_TEXT


def test_cli_refuses_then_allows_with_the_flag(tmp_path):
    qa = dataset(tmp_path, "../private.txt")
    args = ["run", "--task", "jsonl", "-T", f"path={qa}", "-T", "document_path_field=doc", "--runner", "lc",
            "--model", "mock", "-M", "answer=1234", "--log-prompts", "--format", "md"]
    env = lara_env(cache_dir=tmp_path / "cache")
    r = run_cli([*args, "-o", str(tmp_path / "res")], env=env)
    assert r.returncode == 2 and "leads outside the dataset folder" in r.stderr and "--allow-outside-data" in r.stderr
    assert not (tmp_path / "res").exists()
    r = run_cli([*args, "--allow-outside-data", "-o", str(tmp_path / "res2")], env=env)
    assert r.returncode == 0, r.stderr
    (samples,) = (tmp_path / "res2").glob("*/samples.jsonl")
    assert SECRET_TEXT in samples.read_text()  # read because the user said so


def test_paths_inside_the_dataset_work_including_subfolders(tmp_path):
    qa = dataset(tmp_path, "sub/../inside.txt")
    (qa.parent / "sub").mkdir()
    samples = list(task(qa).samples())
    assert samples[0].documents[0].id == samples[1].documents[0].id  # the same file, one document
