"""``lara export-batch`` and ``lara import-batch``: a batch run by hand, e.g. through vLLM's
``run_batch`` on a GPU box, or OpenAI's batch page.

``export-batch RUNSPEC -o requests.jsonl`` runs a round of an ``openai-batch:<model>`` run (see
:mod:`lara.engine.deferred`): samples answerable from earlier results get their records, the
requests of the others are written in the Batch API input format and the run stops.
``import-batch RUN results.jsonl`` reads the output lines (OpenAI's and ``run_batch``'s format),
keeps the answers in the run folder and runs the next round; runners that make several calls
(IterDRAG) need more rounds, whose requests go to ``--next`` (the command says so).

RUNSPEC is a run folder (or its run.json) or a YAML/JSON file with the fields of a run spec::

    task: lara-32k
    runner: lc
    model: openai-batch:Qwen/Qwen2.5-7B-Instruct
    limit: 100
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Optional

import typer

from lara.errors import ConfigError, DataError

SPEC_FIELDS = ("task", "runner", "model", "task_params", "runner_params", "model_params", "scorer",
               "scorer_params", "generation", "limit")


def load_runspec(path: Path) -> tuple[Any, Path | None, tuple[int, int] | None]:
    """(RunSpec, run folder it came from or None, shard) from a run folder, run.json or spec file."""
    from lara.config import RunSpec, resolve_spec
    from lara.results.store import RUN_JSON

    run_json = path / RUN_JSON if path.is_dir() else path
    if not run_json.exists():
        raise ConfigError(f"{path}: no such run folder or spec file")
    text = run_json.read_text(encoding="utf-8")
    if run_json.name == RUN_JSON:
        info = json.loads(text)
        return RunSpec.from_json(info["spec"]), run_json.parent, tuple(info["shard"]) if info.get("shard") else None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not a YAML/JSON run spec: {exc}") from None
    if not isinstance(data, dict) or not {"task", "runner", "model"} <= set(data):
        raise ConfigError(f"{path}: a run spec needs at least task, runner and model")
    unknown = set(data) - set(SPEC_FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown run spec field(s) {sorted(unknown)}; valid: {', '.join(SPEC_FIELDS)}")
    spec = resolve_spec(data["task"], data["runner"], data["model"], task_params=data.get("task_params"),
                        runner_params=data.get("runner_params"), model_params=data.get("model_params"),
                        scorer=data.get("scorer"), scorer_params=data.get("scorer_params"),
                        generation=data.get("generation"), limit=data.get("limit"))
    return spec, None, None


def _batcher(prepared: Any) -> Any:
    from lara.engine.deferred import batch_backend

    batcher = batch_backend(prepared.backend)
    if batcher is None:
        raise ConfigError(f"model {prepared.spec.model!r} is not a batch model: use openai-batch:<model>")
    return batcher


async def _round(spec: Any, options: Any, export_to: Path, results: Path | None = None) -> tuple[Any, int, int]:
    """Prepare, optionally take the imported lines, run a round; (result, imported lines, exported requests)."""
    from lara.engine import prepare, run_prepared
    from lara.engine.run import run_dir_for
    from lara.jsonl import read_jsonl

    prepared = prepare(spec, options)
    async with prepared.stack:
        batcher = _batcher(prepared)
        imported = 0
        if results is not None:
            run_dir = run_dir_for(prepared)
            batcher.bind(run_dir, prepared.run_id)
            for line_no, row in read_jsonl(results, "batch results file"):
                if not isinstance(row.get("custom_id"), str):
                    raise DataError(f"{results}:{line_no}: a batch output line needs a custom_id")
                batcher.accept(row)
                imported += 1
            for entry in batcher.state.get("batches", []):
                if entry.get("mode") == "manual" and entry.get("status") == "exported":
                    entry["status"] = "imported"
            batcher.save_state()
        batcher.export_to = export_to
        before = batcher.submitted
        result = await run_prepared(prepared)
        return result, imported, batcher.submitted - before


def _report(result: Any, exported: int, export_to: Path) -> None:
    s = result.summary
    typer.echo(f"{result.run_dir}: {s['n_records']}/{s['n_expected']} records ({s['errors']} errors)", err=True)
    if exported:
        typer.echo(f"wrote {exported} request(s) to {export_to}; after running them (OpenAI batch, or "
                   f"`python -m vllm.entrypoints.openai.run_batch -i {export_to} -o results.jsonl --model MODEL`):\n"
                   f"  lara import-batch {result.run_dir} results.jsonl")
    elif s["n_records"] >= (s["n_expected"] or 0):
        typer.echo("run complete: nothing left to export")


def register(app: typer.Typer) -> None:
    @app.command("export-batch")
    def export_batch(
        runspec: Path = typer.Argument(..., help="A run folder (or its run.json), or a YAML/JSON run spec file."),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the batch requests (JSONL)."),
        output: Path = typer.Option(Path("results"), "--output", help="Results root for a spec file's run."),
    ) -> None:
        """Write the requests of a batch model's next round as a Batch API input file."""
        from lara.engine import RunOptions

        spec, run_dir, shard = load_runspec(runspec)
        options = RunOptions(output_root=run_dir.parent if run_dir else output, shard=shard)
        result, _, exported = asyncio.run(_round(spec, options, out))
        _report(result, exported, out)

    @app.command("import-batch")
    def import_batch(
        run: Path = typer.Argument(..., help="The run folder the requests were exported from."),
        results: Path = typer.Argument(..., help="Batch output lines (OpenAI batch output or vLLM run_batch)."),
        next_requests: Optional[Path] = typer.Option(None, "--next", help="Where the next round's requests go (multi-call runners)."),
    ) -> None:
        """Take batch results into a run, write the records they complete, export the next round."""
        from lara.engine import RunOptions

        spec, run_dir, shard = load_runspec(run)
        if run_dir is None:
            raise ConfigError(f"{run}: import-batch needs the run folder the requests came from")
        export_to = next_requests or run_dir / "next-requests.jsonl"
        options = RunOptions(output_root=run_dir.parent, shard=shard)
        result, imported, exported = asyncio.run(_round(spec, options, export_to, results))
        typer.echo(f"imported {imported} result line(s)", err=True)
        _report(result, exported, export_to)
