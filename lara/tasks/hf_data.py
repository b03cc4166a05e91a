"""Task rows through Hugging Face ``datasets`` (the ``hf`` extra): ``-T source=...`` for GSM8K, MBPP, LaRA.

A source is ``hf:<hub id>`` (downloaded by ``datasets`` when online), a folder written by
``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, a ``.parquet`` file, or a folder of
parquet files (the hub's layout, e.g. ``main/test-00000-of-00001.parquet``). Rows come back as
plain dicts in file order, so each task builds exactly the samples its local loader builds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lara.errors import DataError, MissingDataError

log = logging.getLogger(__name__)
HUB_PREFIX = "hf:"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise MissingDataError("loading through `datasets` needs the hf extra: pip install 'lara[hf]' "
                        "(./install.sh installs it)") from exc
    return datasets


def describe(source: str) -> str:
    return source if source.startswith(HUB_PREFIX) else str(Path(source).expanduser())


def load_rows(source: str, *, split: str | None = None, config: str | None = None, what: str = "dataset") -> list[dict[str, Any]]:
    """Rows of ``split`` (all splits in order when None) from a hub id, a saved dataset or parquet.

    ``config`` is the hub configuration (``main`` for GSM8K, ``full``/``sanitized`` for MBPP); in a
    parquet folder it selects the sub-folder of that name when there is one.
    """
    if source.startswith(HUB_PREFIX):
        return _hub(source[len(HUB_PREFIX):], split, config, what)
    path = Path(source).expanduser()
    if not path.exists():
        raise MissingDataError(f"{what}: source not found: {path} (give hf:<hub id>, a folder saved with "
                        "save_to_disk, or parquet files)")
    ds = _datasets()
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        data = ds.load_from_disk(str(path))
        return _rows(ds, data, split, f"{what} ({path})")
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files or any(f.suffix != ".parquet" for f in files):
        raise DataError(f"{what}: {path} is neither a dataset saved with save_to_disk nor parquet files")
    if path.is_dir():
        if config and any(config in f.relative_to(path).parts[:-1] for f in files):
            files = [f for f in files if config in f.relative_to(path).parts[:-1]]
        if split:
            chosen = [f for f in files if f.name.startswith(f"{split}-") or f.name == f"{split}.parquet"
                      or split in f.relative_to(path).parts[:-1]]
            if not chosen:
                raise DataError(f"{what}: no parquet file for split {split!r} in {path} "
                                f"(found: {', '.join(f.name for f in files[:6])})")
            files = chosen
    table = ds.Dataset.from_parquet([str(f) for f in files])
    return list(table.to_list())


def _hub(hub_id: str, split: str | None, config: str | None, what: str) -> list[dict[str, Any]]:
    ds = _datasets()
    try:
        data = ds.load_dataset(hub_id, config, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, unknown id, hub error: one clear line
        raise MissingDataError(f"{what}: cannot load {hub_id!r} from the Hugging Face hub ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); offline, save it once with save_to_disk and pass the folder") from None
    return _rows(ds, data, split, f"{what} ({hub_id})")


def _rows(ds: Any, data: Any, split: str | None, what: str) -> list[dict[str, Any]]:
    if isinstance(data, ds.DatasetDict):
        if split is None:
            return [row for name in data.keys() for row in data[name].to_list()]
        if split not in data:
            raise DataError(f"{what}: no split {split!r}; splits: {', '.join(data.keys())}")
        return list(data[split].to_list())
    return list(data.to_list())
