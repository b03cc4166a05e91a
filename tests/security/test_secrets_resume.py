"""Issue 16 item 8: an edited run.json cannot make `lara resume` send a key to another host or read
it from another variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lara.testing.cli import TINY_RUN, lara_env, run_cli
from lara.testing.openai_server import LoopbackServer

KEY = "sk-run-owner-key-0001"
OTHER_SECRET = "aws-secret-value-0123456789"


def interrupted_run(tmp_path: Path, server: LoopbackServer) -> Path:
    """A finished 8-sample run cut back to its first 3 records, as if it had been killed."""
    res = tmp_path / "res"
    r = run_cli([*TINY_RUN, "--model", "openai:m", "--base-url", server.base_url, "-M", "api_key_env=OWNER_API_KEY",
                 "-M", "tokenizer=words", "-o", str(res)], env=env(tmp_path))
    assert r.returncode == 0, r.stderr
    (run_dir,) = [p.parent for p in res.glob("*/run.json")]
    lines = (run_dir / "samples.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "samples.jsonl").write_text("".join(lines[:3]))
    return run_dir


def env(tmp_path: Path) -> dict[str, str]:
    return lara_env({"OWNER_API_KEY": KEY, "LARA_OTHER_SECRET": OTHER_SECRET}, tmp_path / "cache")


def edit(run_dir: Path, **model_params: object) -> None:
    p = run_dir / "run.json"
    info = json.loads(p.read_text())
    info["spec"]["model_params"].update(model_params)
    p.write_text(json.dumps(info))


def sent(server: LoopbackServer) -> set[str]:
    return set(server.authorizations)


def test_run_json_keeps_the_key_variable_name_and_origin_but_no_key(tmp_path):
    with LoopbackServer() as a:
        run_dir = interrupted_run(tmp_path, a)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["spec"]["model_params"]["api_key_env"] == "OWNER_API_KEY"
    assert info["origin"] == {"model_params.api_key_env": "OWNER_API_KEY", "model_params.base_url": a.base_url}
    assert KEY not in (run_dir / "run.json").read_text()


def test_untouched_run_resumes_against_its_own_endpoint_and_key(tmp_path):
    with LoopbackServer() as a:
        run_dir = interrupted_run(tmp_path, a)
        before = a.request_count
        r = run_cli(["resume", str(run_dir)], env=env(tmp_path) | {"LARA_CACHE_DIR": str(tmp_path / "cache2")})
        assert r.returncode == 0, r.stderr
        assert a.request_count - before == 5 and sent(a) == {f"Bearer {KEY}"}
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == 8


def test_edited_endpoint_and_key_variable_are_refused(tmp_path):
    """The attack: base_url -> the attacker's host, api_key_env -> any variable. Nothing is sent."""
    with LoopbackServer() as a, LoopbackServer() as evil:
        run_dir = interrupted_run(tmp_path, a)
        edit(run_dir, base_url=evil.base_url, api_key_env="LARA_OTHER_SECRET")
        r = run_cli(["resume", str(run_dir)], env=env(tmp_path))
        assert r.returncode == 2, r.stderr
        assert "run.json was edited" in r.stderr and "--allow-endpoint-change" in r.stderr
        assert evil.request_count == 0
        # the variable rule holds even when the user accepts an endpoint change
        r = run_cli(["resume", str(run_dir), "--allow-endpoint-change"], env=env(tmp_path))
        assert r.returncode == 2 and "LARA_OTHER_SECRET is not an *_API_KEY variable" in r.stderr
        assert evil.request_count == 0
    assert OTHER_SECRET not in r.stderr + r.stdout


def test_key_variable_swap_alone_is_refused(tmp_path):
    """base_url untouched, only the key variable swapped for another *_API_KEY: the origin catches it."""
    with LoopbackServer() as a:
        run_dir = interrupted_run(tmp_path, a)
        edit(run_dir, api_key_env="ANTHROPIC_API_KEY")
        before = a.request_count
        r = run_cli(["resume", str(run_dir)], env=env(tmp_path) | {"ANTHROPIC_API_KEY": "sk-ant-not-for-this-host"})
        assert r.returncode == 2 and "model_params.api_key_env" in r.stderr, r.stderr
        assert a.request_count == before


def test_edited_endpoint_in_a_run_json_without_origin_is_caught_by_the_spec_hash(tmp_path):
    with LoopbackServer() as a, LoopbackServer() as evil:
        run_dir = interrupted_run(tmp_path, a)
        info = json.loads((run_dir / "run.json").read_text())
        del info["origin"]  # a run.json written before origins existed, or stripped by the attacker
        info["spec"]["model_params"]["base_url"] = evil.base_url
        (run_dir / "run.json").write_text(json.dumps(info))
        r = run_cli(["resume", str(run_dir)], env=env(tmp_path))
        assert r.returncode == 2 and "spec hashes to" in r.stderr, r.stderr
        assert evil.request_count == 0


def test_named_variable_and_allowed_endpoint_change_proceed(tmp_path):
    """What the user asks for on the command line is done: another server, a key variable named."""
    with LoopbackServer() as a, LoopbackServer() as moved:
        run_dir = interrupted_run(tmp_path, a)
        edit(run_dir, base_url=moved.base_url, api_key_env="LARA_OTHER_SECRET")
        r = run_cli(["resume", str(run_dir), "--allow-endpoint-change", "--api-key-env", "LARA_OTHER_SECRET"],
                    env=env(tmp_path))
        assert r.returncode == 0, r.stderr
        assert moved.request_count == 8 and sent(moved) == {f"Bearer {OTHER_SECRET}"}


def test_a_key_pasted_into_run_json_is_scrubbed_on_read(tmp_path):
    with LoopbackServer() as a:
        run_dir = interrupted_run(tmp_path, a)
        edit(run_dir, api_key="sk-pasted-into-run-json")
        r = run_cli(["resume", str(run_dir)], env=env(tmp_path) | {"LARA_CACHE_DIR": str(tmp_path / "cache2")})
        assert r.returncode == 0, r.stderr  # the backend never saw api_key= (it refuses that parameter)
        assert "Bearer sk-pasted-into-run-json" not in sent(a)
    assert "sk-pasted-into-run-json" not in (run_dir / "run.json").read_text()


@pytest.mark.parametrize("name,ok", [("OPENAI_API_KEY", True), ("GROQ_API_KEY", True), ("API_KEY", True),
                                     ("AWS_SECRET_ACCESS_KEY", False), ("HOME", False), ("X;rm", False)])
def test_key_variable_rule(name, ok):
    from lara.secrets import check_key_env

    assert (check_key_env(name) is None) is ok
    assert check_key_env(name, allowed=[name]) is None
