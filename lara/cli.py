"""The ``lara`` command line. Thin: parse options, build RunSpecs, call the library.

Commands of other areas live in ``lara/commands/<area>.py`` (each exposes ``register(app)``) and are
added here, so this file stays small.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any, List, Optional

import typer

app = typer.Typer(
    help=(
        "lara: measure when long context beats RAG (and iterative RAG beats both).\n\n"
        "Quickstart (offline): `lara run` runs the synthetic task with the long-context and RAG "
        "runners on the embedded SmolLM2 model and prints a leaderboard."
    ),
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("lara")


_STATE = {"verbose": False}  # set by the callback; read by main() to show tracebacks


def _show_version(value: bool) -> None:
    if value:
        from lara import __version__

        typer.echo(f"lara {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging, and tracebacks for errors."),
    version: bool = typer.Option(False, "--version", help="Print lara's version and exit.", is_eager=True,
                                 callback=_show_version),
) -> None:
    from lara.secrets import install_log_redaction

    _STATE["verbose"] = verbose
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # some libraries (bm25s) force DEBUG on their logger
        handler.setLevel(level)
    # every log line, traceback (chained causes included) and warning passes one redacting filter
    install_log_redaction()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _listing(kind: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from lara import registry
    from lara.config import list_presets, load_preset

    from rich.markup import escape

    reg = getattr(registry, kind)
    table = Table(title=f"{kind}: presets and registered names")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("description")
    for name, path in list_presets(kind).items() if kind != "backends" else []:
        p = load_preset(kind, name) or {}
        table.add_row(name, f"preset → {p.get(kind[:-1])}", escape(str(p.get("description", ""))))
    for name, doc in reg.describe():
        table.add_row(name, "registered", escape(doc))
    Console().print(table)


@app.command()
def tasks() -> None:
    """List task presets and registered tasks."""
    _listing("tasks")


@app.command()
def runners() -> None:
    """List runner presets and registered runners."""
    _listing("runners")


@app.command()
def models() -> None:
    """List model backends (use as --model <backend>[:<model id>]) and the embedded local models."""
    _listing("backends")
    from rich.console import Console
    from rich.table import Table

    from lara.backends.local import list_models

    table = Table(title="embedded local models (--model local)")
    for col in ("model", "context window", "package", "installed", "converted cache"):
        table.add_column(col)
    for m in list_models():
        table.add_row(str(m.get("id") or m.get("model")), str(m.get("context_window")), str(m.get("package")),
                      str(m.get("installed")), str(m.get("cached")))
    Console().print(table)


FIRST = ("run",)  # listed first in --help


def _register_commands() -> None:
    import lara.commands as pkg

    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    for name in [*FIRST, *sorted(set(names) - set(FIRST))]:
        importlib.import_module(f"lara.commands.{name}").register(app)


def _print_traceback() -> None:
    """``-v``: the traceback (chained causes included) on stderr, through the same redaction as logs."""
    from lara.secrets import redact_text

    sys.stderr.write(redact_text(traceback.format_exc()))


# Other libraries' progress bars ("Loading weights", "Batches", downloads) would interleave with
# lara's own; they are off unless the user set these variables, or asked for -v.
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error",
             "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
_FLAG_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def _silence_third_party(argv: list[str]) -> None:
    import os

    if "-v" in argv or "--verbose" in argv:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def _commands(cmd: Any) -> list[Any]:
    """The command and every subcommand below it."""
    out = [cmd]
    for sub in getattr(cmd, "commands", {}).values():
        out += _commands(sub)
    return out


def _flags(cmd: Any) -> list[Any]:
    return [p for c in _commands(cmd) for p in getattr(c, "params", [])
            if getattr(p, "is_flag", False) and not getattr(p, "count", False)]


def _flag_options(cmd: Any) -> dict[str, Any]:
    """Boolean flags of the command tree by option name (``--unsafe-exec`` -> an option of that name)."""
    return {name: p for p in _flags(cmd) for name in [*p.opts, *p.secondary_opts]}


def _document_flags_as_flags(cmd: Any) -> None:
    """Typer's rich help prints ``<bool>`` after a flag as if it took a value; an empty metavar
    shows a flag as a flag (``--unsafe-exec`` alone turns it on). ``--help`` is made per context."""
    for param in _flags(cmd):
        param.metavar = ""
    for c in _commands(cmd):
        make_help = c.get_help_option

        def help_option(ctx: Any, _make: Any = make_help) -> Any:
            opt = _make(ctx)
            if opt is not None:
                opt.metavar = ""
            return opt

        c.get_help_option = help_option


def _flag_hint(argv: list[str], flags: dict[str, Any]) -> str | None:
    """A clear message for ``--flag true`` / ``--flag=false``: flags take no value."""
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if eq and name in flags:
            return _flag_message(name, value, flags[name])
        if arg in flags and i + 1 < len(argv) and argv[i + 1].lower() in _FLAG_WORDS:
            return _flag_message(arg, argv[i + 1], flags[arg])
    return None


def _flag_message(name: str, value: str, param: Any) -> str:
    off = next((o for o in param.secondary_opts), None)
    how = f"write {name} to turn it on" + (f" or {off} to turn it off" if off else ", leave it out for off")
    return f"{name} is a flag and takes no value (got {value!r}): {how}"


def _error(message: str, code: int) -> int:
    from lara.secrets import redact_text

    typer.secho(f"error: {redact_text(message)}", fg=typer.colors.RED, err=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure a user can cause ends as one ``error:`` line and an exit status
    (2 bad input, 1 a run that could not complete, 3 too many error records, 130 interrupted);
    ``-v`` adds the traceback."""
    import click
    from typer._click import exceptions as typer_click  # typer >= 0.20 vendors its own click

    from lara.errors import LaraError

    args = list(sys.argv[1:] if argv is None else argv)
    _silence_third_party(args)
    if not any(c.name == "run" for c in app.registered_commands):
        _register_commands()
    command = typer.main.get_command(app)
    _document_flags_as_flags(command)
    try:
        rv = command.main(args=args, prog_name="lara", standalone_mode=False)
        return rv if isinstance(rv, int) else 0  # click returns an Exit's code without standalone mode
    except (typer.Exit, click.exceptions.Exit) as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except (click.ClickException, typer_click.ClickException) as exc:  # usage errors: exit 2
        hint = _flag_hint(args, _flag_options(command)) if isinstance(exc, (click.UsageError, typer_click.UsageError)) else None
        if hint:
            return _error(hint, 2)
        exc.show()
        return int(exc.exit_code)
    except (click.Abort, typer.Abort, KeyboardInterrupt):
        return _error("interrupted", 130)
    except LaraError as exc:
        if _STATE["verbose"]:
            _print_traceback()
        return _error(str(exc), exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - one line for users; -v for developers
        if _STATE["verbose"]:
            _print_traceback()
        where = ""
        if isinstance(exc, OSError) and getattr(exc, "filename", None):
            where = f" ({exc.filename})"
        return _error(f"{type(exc).__name__}: {exc}{where} (run with -v for the traceback)", 1)


if __name__ == "__main__":
    sys.exit(main())
