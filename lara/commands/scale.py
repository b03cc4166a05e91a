"""`lara serve vllm MODEL` (a prefix-caching vLLM server), `lara serve mock` (the package's
OpenAI-compatible test server, to try the OpenAI path offline) and `lara merge` (shards into one run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional


def register(app: Any) -> None:
    import typer

    serve_app = typer.Typer(help="Start a model server for lara runs (prefix caching on).")
    app.add_typer(serve_app, name="serve")

    @serve_app.command("vllm")
    def serve_vllm(
        model: str = typer.Argument(..., help="Model id or path, as `vllm serve` takes it."),
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        max_model_len: str = typer.Option("131072", "--max-model-len", help="Context length, e.g. 131072 or 32k."),
        prefix_caching: bool = typer.Option(True, "--prefix-caching/--no-prefix-caching"),
        timeout: float = typer.Option(900.0, "--timeout", help="Seconds to wait for /health."),
        detach: bool = typer.Option(False, "--detach", help="Print the URL and leave the server running."),
        vllm_arg: Optional[List[str]] = typer.Option(None, "--vllm-arg", help="Extra argument for vllm serve (repeatable)."),
    ) -> None:
        """Start `vllm serve MODEL` with --enable-prefix-caching and --max-model-len, wait until
        /health is ok, print the base URL. Then: lara run --model openai:MODEL --base-url URL."""
        from lara.backends._vllm_server import ServeError, start_vllm_server
        from lara.config import parse_tokens

        try:
            length = parse_tokens(max_model_len)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--max-model-len") from exc
        try:
            proc, url = start_vllm_server(model, host=host, port=port, max_model_len=length,
                                          prefix_caching=prefix_caching, extra=vllm_arg or (), timeout_s=timeout)
        except ServeError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        typer.echo(url)
        typer.echo(f"ready: lara run --model openai:{model} --base-url {url}   (server pid {proc.pid})", err=True)
        if detach:
            return
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()

    @serve_app.command("mock")
    def serve_mock(
        port: int = typer.Option(8000, "--port", help="Port on --host (0: a free one, printed)."),
        host: str = typer.Option("127.0.0.1", "--host"),
        answers: Optional[Path] = typer.Option(
            None, "--answers", help='JSONL lines {"question": ..., "answer": ...}: answer those questions.'),
        length_sensitive: Optional[str] = typer.Option(
            None, "--length-sensitive", help="Answer like a reader whose accuracy falls with prompt length: "
            "half right at this many prompt words (e.g. 16k). Reads the synthetic task's facts from the prompt."),
        steepness: float = typer.Option(8.0, "--steepness", help="How sharply accuracy falls around --length-sensitive."),
        latency_ms: float = typer.Option(0.0, "--latency-ms", help="Delay per answer."),
        fail_rate: float = typer.Option(0.0, "--fail-rate", help="Share of requests answered with HTTP 503 (0-1)."),
        seed: int = typer.Option(0, "--seed", help="Seed of --fail-rate and --length-sensitive decisions."),
    ) -> None:
        """Serve an OpenAI-compatible mock model in the foreground (Ctrl-C stops it), so that
        `lara run --model openai:any --base-url http://127.0.0.1:8000/v1` works without a GPU or a key."""
        from lara.config import parse_tokens
        from lara.errors import ConfigError
        from lara.testing.openai_server import build_server, serve_forever

        if answers is not None and not answers.is_file():
            raise ConfigError(f"--answers: no such file: {answers}")
        try:
            words = parse_tokens(length_sensitive) if length_sensitive else None
            server = build_server(host=host, port=port, answers=str(answers) if answers else None,
                                  length_sensitive=words, steepness=steepness, latency_ms=latency_ms,
                                  fail_rate=fail_rate, seed=seed)
        except ValueError as exc:
            raise ConfigError(f"lara serve mock: {exc}") from None

        def announce(url: str) -> None:
            typer.echo(url)
            typer.echo(f"mock server ready (Ctrl-C stops it): lara run --model openai:any --base-url {url} -n 5", err=True)

        try:
            serve_forever(server, announce)
        except RuntimeError as exc:
            raise ConfigError(f"lara serve mock: {exc}") from None

    @app.command("merge")
    def merge(
        run_dirs: List[Path] = typer.Argument(..., help="Shard run folders (same spec) to merge."),
        out: Path = typer.Option(..., "--out", "-o", help="Merged run folder (created or updated)."),
    ) -> None:
        """Merge shard run folders into one run folder: each sample once (rerunning is safe)."""
        from lara.sharding import MergeError, merge_runs

        try:
            s = merge_runs(run_dirs, out)
        except (MergeError, FileNotFoundError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"{out}: {s['n_records']}/{s['n_expected']} records, {s['errors']} errors, "
                   f"mean score {s['mean_score'] if s['mean_score'] is None else round(s['mean_score'], 4)}")
