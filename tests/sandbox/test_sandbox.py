"""The sandbox's security promises, each shown by its own test against the real bubblewrap sandbox."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest

from lara.sandbox import BubblewrapSandbox, SubprocessSandbox, make_sandbox, run_many

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) not installed")


@pytest.fixture(scope="module")
def sandbox() -> BubblewrapSandbox:
    return BubblewrapSandbox()


def _procs_with(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                continue
    return found


def test_runs_code_and_reports_status(sandbox: BubblewrapSandbox) -> None:
    ok = sandbox.run("print(6 * 7)", timeout_s=10)
    assert ok.status == "ok" and ok.returncode == 0 and ok.stdout.strip() == "42"
    assert ok.isolation == "bubblewrap"
    bad = sandbox.run("assert 1 == 2", timeout_s=10)
    assert bad.status == "error" and "AssertionError" in bad.stderr


def test_infinite_loop_is_killed_at_timeout(sandbox: BubblewrapSandbox) -> None:
    start = time.monotonic()
    res = sandbox.run("while True:\n    pass\n", timeout_s=1.0)
    assert res.status == "timeout"
    assert time.monotonic() - start < 5


def test_4gb_allocation_fails(sandbox: BubblewrapSandbox) -> None:
    res = sandbox.run("x = bytearray(4 * 1024 ** 3)\nprint('allocated')", timeout_s=10)
    assert res.status == "error"
    assert "allocated" not in res.stdout
    assert "MemoryError" in res.stderr


def test_writing_outside_the_sandbox_dir_does_not_reach_host(sandbox: BubblewrapSandbox, tmp_path: Path) -> None:
    targets = [tmp_path / "escape.txt", Path("/tmp") / f"lara-escape-{uuid.uuid4().hex}", Path("/usr") / "lara-escape"]
    code = "\n".join(
        f"try:\n    open({str(t)!r}, 'w').write('pwned')\nexcept OSError as e:\n    print('blocked', e)"
        for t in targets
    ) + "\nopen('inside.txt', 'w').write('fine')\nprint(open('inside.txt').read())"
    res = sandbox.run(code, timeout_s=10)
    assert res.status == "ok", res.stderr
    assert "fine" in res.stdout  # the throw-away working dir is writable
    for t in targets:
        assert not t.exists(), f"{t} reached the host"


def test_reading_a_host_secret_fails(sandbox: BubblewrapSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    token = f"SECRET-{uuid.uuid4().hex}"
    secret.write_text(token)
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)  # readable by anyone on the host: only the sandbox may stop it
    res = sandbox.run(f"print(open({str(secret)!r}).read())", timeout_s=10)
    assert res.status == "error"
    assert token not in res.stdout


def test_network_connection_to_loopback_listener_fails(sandbox: BubblewrapSandbox) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('connected')"
        res = sandbox.run(code, timeout_s=10)
        assert res.status == "error" and "connected" not in res.stdout
        srv.settimeout(0.2)
        with pytest.raises((socket.timeout, BlockingIOError)):
            srv.accept()


def test_fork_bomb_is_capped_and_nothing_outlives_the_sandbox(sandbox: BubblewrapSandbox) -> None:
    marker = f"lara-fork-{uuid.uuid4().hex}"
    code = f"""
import os
n = 0
for i in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.execv('/usr/bin/sleep', [{marker!r}, '60'])
    n += 1
print('forked', n)
"""
    res = sandbox.run(code, timeout_s=10)
    assert res.status == "ok", res.stderr
    forked = int(res.stdout.split()[-1])
    assert 0 < forked < 200
    deadline = time.monotonic() + 3
    while _procs_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _procs_with(marker) == []


def test_children_die_with_a_timed_out_sandbox(sandbox: BubblewrapSandbox) -> None:
    marker = f"lara-orphan-{uuid.uuid4().hex}"
    code = f"import os, time\nif os.fork() == 0:\n    os.execv('/usr/bin/sleep', [{marker!r}, '60'])\ntime.sleep(60)"
    res = sandbox.run(code, timeout_s=1.0)
    assert res.status == "timeout"
    deadline = time.monotonic() + 3
    while _procs_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _procs_with(marker) == []


def test_environment_variables_are_not_visible(sandbox: BubblewrapSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("LARA_TEST_TOKEN", key)
    res = sandbox.run("import os\nprint(sorted(os.environ.items()))", timeout_s=10)
    assert res.status == "ok"
    assert key not in res.stdout and "OPENAI_API_KEY" not in res.stdout


def test_unsafe_subprocess_requires_explicit_flag(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError):
        SubprocessSandbox()
    with caplog.at_level(logging.WARNING):
        sb = make_sandbox(unsafe=True)
    assert sb.isolation == "subprocess-unsafe"
    assert any("UNSAFE" in r.getMessage() for r in caplog.records)
    assert sb.run("print('x')", timeout_s=10).stdout.strip() == "x"


def test_run_many_keeps_order(sandbox: BubblewrapSandbox) -> None:
    res = run_many(sandbox, [f"print({i})" for i in range(6)], timeout_s=10, workers=2)
    assert [r.stdout.strip() for r in res] == [str(i) for i in range(6)]
