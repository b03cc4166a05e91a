"""MBPP through `datasets`: the hub's split layout (train/test/validation/prompt) saved with
save_to_disk, and parquet folders per configuration (full/, sanitized/), give the local samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.registry import tasks

datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
HUB_SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}


def row(tid: int) -> dict:
    return {"task_id": tid, "text": f"Write a function to add {tid} to a number.",
            "code": f"def add_{tid}(x):\n    return x + {tid}", "test_setup_code": "",
            "test_list": [f"assert add_{tid}(1) == {tid + 1}"], "challenge_test_list": []}


def sanitized(tid: int) -> dict:
    return {"source_file": "x", "task_id": tid, "prompt": f"Add {tid}.", "code": f"def add_{tid}(x):\n    return x + {tid}",
            "test_imports": ["import math"], "test_list": [f"assert add_{tid}(1) == {tid + 1}"]}


def split_of(tid: int) -> str:
    return next(name for name, (lo, hi) in HUB_SPLITS.items() if lo <= tid <= hi)


def write(tmp: Path, rows: list[dict], clean: list[dict]) -> tuple[Path, Path, Path]:
    local = tmp / "local"
    local.mkdir()
    (local / "mbpp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (local / "sanitized-mbpp.json").write_text(json.dumps(clean), encoding="utf-8")
    # the hub order: train, test, validation, prompt (not task_id order)
    dd = datasets.DatasetDict({s: datasets.Dataset.from_list([r for r in rows if split_of(r["task_id"]) == s])
                               for s in ("train", "test", "validation", "prompt")})
    saved = tmp / "saved"
    dd.save_to_disk(str(saved))
    parquet = tmp / "parquet"
    for config, data in (("full", rows), ("sanitized", clean)):
        for s in ("train", "test", "validation", "prompt"):
            part = [r for r in data if split_of(r["task_id"]) == s]
            if part:
                (parquet / config).mkdir(parents=True, exist_ok=True)
                datasets.Dataset.from_list(part).to_parquet(str(parquet / config / f"{s}-00000-of-00001.parquet"))
    return local, saved, parquet


def view(task) -> tuple:
    samples = list(task.samples())
    docs = [c.text for c in task.chunk(samples[0].documents[0])] if samples and samples[0].documents else []
    return [(s.id, s.question, s.references, dict(s.metadata)) for s in samples], docs


def test_saved_and_parquet_datasets_give_the_local_samples(tmp_path: Path) -> None:
    ids = (2, 3, 4, 11, 12, 600, 601, 602, 603)
    local, saved, parquet = write(tmp_path, [row(t) for t in ids], [sanitized(t) for t in (2, 11, 12, 601)])
    mbpp = tasks.get("mbpp")
    expected = view(mbpp(data_dir=str(local)))
    assert [m["task_id"] for *_, m in expected[0]] == [11, 12] and len(expected[1]) == 3
    assert view(mbpp(source=str(saved))) == expected
    assert view(mbpp(source=str(parquet))) == expected
    want = view(mbpp(data_dir=str(local), variant="sanitized", prompt_style="3shot"))
    got = view(mbpp(source=str(parquet), variant="sanitized", prompt_style="3shot"))
    assert got == want and [m["test_setup_code"] for *_, m in got[0]] == ["import math"] * 2
    three = mbpp(source=str(parquet), variant="sanitized", prompt_style="3shot")
    assert [q for q, _ in three._three_shot()] == [q for q, _ in mbpp(data_dir=str(local), prompt_style="3shot")._three_shot()]
