"""CLI polish: --version, flags documented as flags in every command's help, '--flag true'
explained, usage errors exit 2, progress with ETA (terminal) or plain lines every interval (pipe),
third-party progress bars silenced, and where results and the cache are."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer

from lara import __version__
from lara.cli import QUIET_ENV, _silence_third_party, app, main
from lara.progress import RichProgress

pytestmark = pytest.mark.needs('bm25s')

ROOT = Path(__file__).resolve().parents[2]


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lara {__version__}"


def all_command_paths() -> list[list[str]]:
    main(["--version"])  # registers the command modules
    paths: list[list[str]] = []

    def walk(cmd, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_no_command_shows_a_value_type_for_a_flag(capsys) -> None:
    paths = all_command_paths()
    assert ["run"] in paths and ["estimate"] in paths and ["serve", "mock"] in paths and ["crossover"] in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "<bool>" not in out, path


@pytest.mark.parametrize("argv", [["run", "--unsafe-exec", "true"], ["run", "--log-prompts=false"],
                                  ["estimate", "--no-cache", "yes"]])
def test_a_value_after_a_flag_is_explained(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is a flag and takes no value" in err and "error:" in err


def test_usage_errors_exit_2_with_clicks_message(capsys) -> None:
    assert main(["run", "--no-such-option"]) == 2
    assert "No such option: --no-such-option" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2


def fake_record(tokens: int = 100, cached: bool = False, outcome: str = "correct") -> SimpleNamespace:
    return SimpleNamespace(cached=cached, outcome=outcome, input_tokens=tokens, output_tokens=1)


def test_plain_progress_lines_every_interval_when_not_a_terminal() -> None:
    from rich.console import Console

    buf = io.StringIO()
    p = RichProgress("synthetic · lc · openai:x", console=Console(file=buf, force_terminal=False), interval_s=0.05)
    p.start(total=10, already_done=2)
    for _ in range(4):
        p.update(fake_record())
        time.sleep(0.04)
    time.sleep(0.15)
    assert p.eta() is not None and p.eta() == pytest.approx(4 * p.elapsed() / 4, rel=0.2)
    p.stop()
    lines = [x for x in buf.getvalue().splitlines() if x]
    assert len(lines) >= 3  # periodic lines while running + the last one
    assert all(x.startswith("synthetic · lc · openai:x: ") for x in lines)  # ':x' stays text
    assert "6/10 (60%)" in lines[-1] and lines[-1].endswith("done") and "ETA" in lines[0]


def test_terminal_progress_shows_an_eta() -> None:
    from rich.console import Console

    buf = io.StringIO()
    p = RichProgress("run", console=Console(file=buf, force_terminal=True, width=160))
    p.start(total=4, already_done=0)
    p.update(fake_record())
    p.stop()
    assert "ETA" in buf.getvalue() and "1/4" in buf.getvalue()


@pytest.mark.needs("transformers")
def test_third_party_progress_bars_are_silenced(monkeypatch) -> None:
    for key in QUIET_ENV:
        monkeypatch.delenv(key, raising=False)
    _silence_third_party(["-v", "run"])
    assert not any(k in os.environ for k in QUIET_ENV)  # -v keeps them
    code = ("from lara.cli import _silence_third_party; _silence_third_party(['run'])\n"
            "from tqdm import tqdm\n"
            "from transformers.utils.logging import tqdm as hf_tqdm\n"
            "list(tqdm(range(3), desc='Loading weights')); list(hf_tqdm(range(3), desc='Loading weights'))\n")
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Loading weights" not in out.stderr + out.stdout


def test_run_says_where_results_and_the_cache_are(tmp_path: Path, capsys) -> None:
    assert main(["run", "--model", "mock", "-n", "1", "-o", str(tmp_path / "res"), "--format", "md"]) == 0
    err = capsys.readouterr().err
    assert f"results under {tmp_path / 'res'}/" in err and "response cache" in err and "responses.sqlite" in err
