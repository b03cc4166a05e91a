"""`lara data fetch lara` / `lara data path lara`: get the LaRA data into the user cache, or say where it is.

The download is the upstream GitHub archive of Alibaba-NLP/LaRA at a pinned commit (so every user
evaluates the same 2,326 questions). Only the dataset folder (``datasets/`` or, in some upstream
revisions, ``dataset/``) and the recorded predictions (``evaluation/prediction/`` -> ``predictions/``)
are unpacked; the unpacking is safe against absolute or ``..`` member paths and is atomic (a
half-finished fetch never looks like data).
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from lara.errors import LaraError

log = logging.getLogger(__name__)

LARA_REPO = "Alibaba-NLP/LaRA"
LARA_COMMIT = "c17155376f4e"  # pinned revision (short hash; GitHub resolves it in archive URLs)
LARA_URL = f"https://github.com/{LARA_REPO}/archive/{LARA_COMMIT}.tar.gz"
# archive sub-folder -> destination sub-folder
LARA_FOLDERS = {"datasets": "datasets", "dataset": "datasets", "evaluation/prediction": "predictions"}
DATASETS = ("lara",)


class DataFetchError(LaraError, RuntimeError):
    """A download or unpack that failed; the message says what to do instead."""


def _members(archive: Path) -> Iterator[tuple[str, Any, Any]]:
    """(posix path, opener, is_file) for each member of a .tar(.gz) or .zip archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                yield info.filename, (lambda i=info: zf.open(i)), not info.is_dir()
        return
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError as exc:
        raise DataFetchError(f"{archive}: not a tar or zip archive ({exc})") from exc
    with tf:
        for m in tf:
            yield m.name, (lambda m=m: tf.extractfile(m)), m.isfile()


def unpack_lara(archive: str | Path, dest: str | Path, folders: dict[str, str] = LARA_FOLDERS) -> dict[str, int]:
    """Unpack the LaRA folders of ``archive`` (GitHub layout: one top-level ``<repo>-<sha>/``)
    into ``dest``; returns files written per destination folder. Replaces ``dest`` atomically."""
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".lara-unpack-") as tmp:
        stage = Path(tmp) / "out"
        for name, opener, is_file in _members(archive):
            parts = PurePosixPath(name).parts
            if not is_file or len(parts) < 2:
                continue
            rel = PurePosixPath(*parts[1:])  # drop the <repo>-<sha>/ root
            if rel.is_absolute() or ".." in rel.parts:
                raise DataFetchError(f"{archive}: unsafe member path {name!r}")
            for src, target in folders.items():
                src_parts = PurePosixPath(src).parts
                if rel.parts[: len(src_parts)] == src_parts and len(rel.parts) > len(src_parts):
                    out = stage / target / PurePosixPath(*rel.parts[len(src_parts):])
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with opener() as fin, out.open("wb") as fout:
                        shutil.copyfileobj(fin, fout)
                    counts[target] = counts.get(target, 0) + 1
                    break
        if not (stage / "datasets" / "query").is_dir():
            raise DataFetchError(f"{archive}: no datasets/query folder inside (not a LaRA archive?)")
        if dest.exists():  # moved into the temporary folder, removed with it
            dest.rename(Path(tmp) / "old")
        stage.rename(dest)
    return counts


def download(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Stream ``url`` to ``target`` with httpx; offline or HTTP errors become DataFetchError."""
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(target.suffix + ".part")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as resp:
            resp.raise_for_status()
            with part.open("wb") as fh:
                for block in resp.iter_bytes(1 << 20):
                    fh.write(block)
    except httpx.HTTPStatusError as exc:
        part.unlink(missing_ok=True)
        raise DataFetchError(f"download failed: {url}: HTTP {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DataFetchError(
            f"cannot download {url} ({type(exc).__name__}: {exc}). Are you offline? Copy the LaRA "
            "data folder (with datasets/query) by hand and set LARA_DATA_DIR to it, or pass "
            "--archive with a downloaded archive."
        ) from exc
    part.replace(target)
    return target


def fetch_lara(dest: Path | None = None, url: str = LARA_URL, archive: Path | None = None) -> tuple[Path, dict[str, int]]:
    """Download (unless ``archive`` is given) and unpack LaRA into ``dest`` (default: user cache)."""
    from lara.tasks.lara import default_data_root

    dest = Path(dest) if dest else default_data_root()
    if archive is None:
        with tempfile.TemporaryDirectory(prefix="lara-dl-") as tmp:
            path = download(url, Path(tmp) / "lara.tar.gz")
            counts = unpack_lara(path, dest)
    else:
        counts = unpack_lara(archive, dest)
    return dest, counts


def register(app: Any) -> None:
    import typer

    data_app = typer.Typer(help="Fetch benchmark data into the user cache, or show where it is found.")
    app.add_typer(data_app, name="data")

    def _check(name: str) -> None:
        if name not in DATASETS:
            raise typer.BadParameter(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")

    @data_app.command("fetch")
    def fetch(
        name: str = typer.Argument(..., help="Dataset to fetch: lara."),
        dest: Path = typer.Option(None, "--dest", help="Target folder (default: <user cache>/data/lara)."),
        archive: Path = typer.Option(None, "--archive", help="Use this downloaded .tar.gz/.zip instead of the network."),
        url: str = typer.Option(LARA_URL, "--url", help="Archive URL (pinned upstream commit by default)."),
    ) -> None:
        """Download LaRA (Alibaba-NLP/LaRA at a pinned commit) and unpack datasets/ and predictions/."""
        _check(name)
        try:
            out, counts = fetch_lara(dest, url=url, archive=archive)
        except DataFetchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"LaRA unpacked to {out} ({', '.join(f'{k}: {v} files' for k, v in sorted(counts.items()))})")

    @data_app.command("path")
    def path(name: str = typer.Argument(..., help="Dataset: lara.")) -> None:
        """Print the folder the LaRA task reads (data_dir param > LARA_DATA_DIR > user cache)."""
        _check(name)
        from lara.tasks.lara import resolve_data_dir

        try:
            typer.echo(str(resolve_data_dir(None)))
        except FileNotFoundError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
