"""GSM8K through `datasets`: a DatasetDict saved with save_to_disk and the hub's parquet layout give
the same samples and train corpus as the local JSONL loader; errors name the source; the CLI path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.cli import main
from lara.errors import DataError
from lara.registry import tasks

datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")


def write_local(root: Path) -> Path:
    train = [{"question": f"Tom has {i} apples and buys {i + 1} more. How many?",
              "answer": f"{i} + {i + 1} = <<{i}+{i + 1}={2 * i + 1}>>{2 * i + 1}\n#### {2 * i + 1}"} for i in range(5)]
    test = [{"question": "Ann has 1,000 pears and eats 1. How many are left?", "answer": "1000 - 1 = 999\n#### 999"},
            {"question": "Bob has 3 apples and buys 4 more. How many?", "answer": "3+4=7\n#### 7"}]
    root.mkdir(parents=True)
    for name, rows in (("train", train), ("test", test)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def as_datasets(local: Path, tmp: Path) -> tuple[Path, Path]:
    """The local files written by `datasets` itself: save_to_disk, and parquet as the hub lays it out."""
    dd = datasets.load_dataset("json", data_files={s: str(local / f"{s}.jsonl") for s in ("train", "test")},
                               cache_dir=str(tmp / "hf-cache"))
    saved = tmp / "saved"
    dd.save_to_disk(str(saved))
    parquet = tmp / "parquet"
    for split in ("train", "test"):
        (parquet / "main").mkdir(parents=True, exist_ok=True)
        dd[split].to_parquet(str(parquet / "main" / f"{split}-00000-of-00001.parquet"))
    return saved, parquet


def view(task) -> tuple:
    samples = list(task.samples())
    return ([(s.id, s.question, s.references, dict(s.metadata)) for s in samples],
            [c.text for c in task.chunk(samples[0].documents[0])])


def test_saved_and_parquet_datasets_give_the_local_samples(tmp_path: Path) -> None:
    local = write_local(tmp_path / "local")
    saved, parquet = as_datasets(local, tmp_path)
    gsm8k = tasks.get("gsm8k")
    expected = view(gsm8k(data_dir=str(local)))
    assert len(expected[0]) == 2 and len(expected[1]) == 5
    assert view(gsm8k(source=str(saved))) == expected
    assert view(gsm8k(source=str(parquet))) == expected
    one = gsm8k(source=str(parquet / "main" / "test-00000-of-00001.parquet"), prompt_style="cot8")
    assert [s.references for s in one.samples()] == [("999",), ("7",)]


def test_bad_sources_name_what_is_wrong(tmp_path: Path) -> None:
    gsm8k = tasks.get("gsm8k")
    with pytest.raises(DataError, match="source not found"):
        list(gsm8k(source=str(tmp_path / "nope")).samples())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither a dataset saved with save_to_disk nor parquet"):
        list(gsm8k(source=str(tmp_path / "empty")).samples())
    saved, _ = as_datasets(write_local(tmp_path / "local"), tmp_path)
    with pytest.raises(DataError, match="no split 'dev'"):
        list(gsm8k(source=str(saved), split="dev").samples())
    with pytest.raises(DataError, match="Hugging Face hub"):  # tests run offline (HF_HUB_OFFLINE=1)
        list(gsm8k(source="hf:lara-test/no-such-dataset").samples())


def test_cli_runs_gsm8k_from_a_saved_dataset(tmp_path: Path, capsys) -> None:
    saved, _ = as_datasets(write_local(tmp_path / "local"), tmp_path)
    assert main(["run", "--task", "gsm8k", "-T", f"source={saved}", "--runner", "lc", "--model", "mock",
                 "-M", "answer=The answer is 7.", "-o", str(tmp_path / "r"), "--format", "csv"]) == 0
    assert "gsm8k" in capsys.readouterr().out


@pytest.mark.realdata
def test_real_gsm8k_through_datasets_equals_the_jsonl_loader(shared_data: Path, tmp_path: Path) -> None:
    saved, parquet = as_datasets(shared_data / "gsm8k", tmp_path)
    gsm8k = tasks.get("gsm8k")
    a = [(s.id, s.question, s.references) for s in gsm8k(data_dir=str(shared_data / "gsm8k")).samples()]
    b = [(s.id, s.question, s.references) for s in gsm8k(source=str(parquet)).samples()]
    assert len(a) == 1319 and a == b
