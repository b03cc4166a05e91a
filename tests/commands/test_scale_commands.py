"""`lara serve vllm` (against a stand-in `vllm` executable that serves /health) and `lara merge`."""

from __future__ import annotations

import os
import socket
import stat
import sys
import textwrap

import httpx
from typer.testing import CliRunner

from lara.backends._vllm_server import ServeError, start_vllm_server, vllm_serve_argv
import typer

from lara.commands.scale import register


def make_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


app = make_app()

FAKE_VLLM = textwrap.dedent('''\
    #!{python}
    import json, sys, http.server
    args = sys.argv[1:]
    assert args[0] == "serve", args
    port = int(args[args.index("--port") + 1])
    open({log!r}, "w").write(json.dumps(args))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404); self.end_headers()
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_vllm_on_path(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "vllm"
    log = tmp_path / "argv.json"
    exe.write_text(FAKE_VLLM.format(python=sys.executable, log=str(log)))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_argv_has_prefix_caching_and_max_len():
    argv = vllm_serve_argv("org/m", port=9000, max_model_len=32000)
    assert argv[:3] == ["vllm", "serve", "org/m"] and "--enable-prefix-caching" in argv
    assert argv[argv.index("--max-model-len") + 1] == "32000" and argv[argv.index("--port") + 1] == "9000"


def test_serve_starts_waits_for_health_and_prints_url(tmp_path, monkeypatch):
    import json

    log = fake_vllm_on_path(tmp_path, monkeypatch)
    port = free_port()
    proc, url = start_vllm_server("org/m", port=port, max_model_len=4096, timeout_s=30)
    try:
        assert url == f"http://127.0.0.1:{port}/v1"
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        args = json.loads(log.read_text())
        assert "--enable-prefix-caching" in args and args[args.index("--max-model-len") + 1] == "4096"
    finally:
        proc.terminate()
        proc.wait()
    port = free_port()
    res = CliRunner().invoke(app, ["serve", "vllm", "org/m", "--port", str(port), "--max-model-len", "8k", "--detach"])
    assert res.exit_code == 0, res.output
    assert f"http://127.0.0.1:{port}/v1" in res.output
    pid = int(res.output.rsplit("server pid ", 1)[1].split(")")[0])
    os.kill(pid, 15)


def test_serve_without_vllm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    res = CliRunner().invoke(app, ["serve", "vllm", "org/m"])
    assert res.exit_code == 2 and "vLLM is not installed" in res.output
    try:
        start_vllm_server("org/m")
    except ServeError as exc:
        assert "pip install 'lara[vllm]'" in str(exc)
    else:
        raise AssertionError("expected ServeError")


def test_merge_command(tmp_path):
    from lara.config import resolve_spec
    from lara.engine import run
    from lara.testing.openai_server import LoopbackServer

    with LoopbackServer() as srv:
        spec = resolve_spec("synthetic", "lc", "openai:m", task_params={"lengths": [100], "n_docs": 4},
                            model_params={"base_url": srv.base_url, "max_retries": 0},
                            runner_params={"tokenizer": "words"})
        dirs = [str(run(spec, output_root=tmp_path, use_cache=False, shard=(i, 2)).run_dir) for i in range(2)]
    out = tmp_path / "merged"
    for _ in range(2):
        res = CliRunner().invoke(app, ["merge", *dirs, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "16/16 records" in res.output
    res = CliRunner().invoke(app, ["merge", str(tmp_path / "nope"), "--out", str(out)])
    assert res.exit_code == 2 and "not a run folder" in res.output
