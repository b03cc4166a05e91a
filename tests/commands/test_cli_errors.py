"""Bad input costs one `error:` line and exit 2 before any model call; -v adds the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lara.cli import main
from lara.testing.openai_server import LoopbackServer

BAD = [
    (["--format", "xml"], "--format: unknown value 'xml'"),
    (["--style", "paper"], "--style: unknown value 'paper'"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--limit", "-3"], "--limit must be at least 1"),
    (["--task", "nosuch"], "unknown task 'nosuch'"),
    (["--runner", "lcc"], "unknown runner 'lcc'"),
    (["-T", "lengths=oops"], "task 'synthetic': parameter lengths='oops'"),
    (["-T", "lenghts=1000"], "did you mean 'lengths'"),
    (["-R", "k=many"], "runner 'rag': parameter k='many'"),
    (["-R", "kk=3"], "--runner-param 'kk' is not a parameter of any of lc, rag"),
    (["-M", "nope=1"], "backend 'openai' has no parameter 'nope'"),
    (["-M", "novalue"], "expected key=value"),
    (["--executor", "dask"], "unknown executor 'dask'"),
    (["--max-error-rate", "2"], "--max-error-rate"),
    (["--scorer", "nosuch"], "unknown scorer 'nosuch'"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_option_is_one_line_exit_2_and_no_call(args, message, tmp_path: Path, capsys) -> None:
    with LoopbackServer() as srv:
        code = main(["run", "--model", "openai:m", "--base-url", srv.base_url, "-n", "2",
                     "-o", str(tmp_path / "res"), *args])
        calls = srv.request_count
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert calls == 0
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "res").exists()  # nothing touched the disk


def test_missing_data_folder_is_one_line(tmp_path: Path, capsys) -> None:
    code = main(["run", "--task", "lara-32k", "--model", "mock", "--data-dir", str(tmp_path / "none"),
                 "-o", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: LaRA data not found"), err
    assert "Traceback" not in err and not (tmp_path / "res").exists()


def test_verbose_shows_the_traceback(tmp_path: Path, capsys) -> None:
    code = main(["-v", "run", "--task", "nosuch", "-o", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "error: unknown task 'nosuch'" in err


def test_unreadable_results_path_is_one_line(tmp_path: Path, capsys) -> None:
    code = main(["leaderboard", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no such results file or folder") and "Traceback" not in err
    code = main(["leaderboard", str(tmp_path), "--by", "modle"])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'model'" in err
