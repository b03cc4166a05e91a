"""Issue 16 items 6 and 7: an API key echoed by a server never reaches records, reports, error lines
or logs — neither whole nor cut in half where error bodies are truncated."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from lara.secrets import MASK, RedactingFilter, install_log_redaction, known_secrets, redact_data, redact_text
from lara.testing.cli import TINY_RUN, lara_env, run_cli
from lara.testing.openai_server import Fault, LoopbackServer

CANARY = "sk-SECRET-CANARY-1"
KEY_ENV = "LARA_CANARY_API_KEY"


def leaked(text: str) -> bool:
    """The canary or any prefix of it of 8+ characters (what a cut message would keep)."""
    return CANARY[:8] in text


def all_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


def test_redact_text_masks_whole_keys_cut_prefixes_and_json_escapes(monkeypatch):
    monkeypatch.setenv("SOME_API_KEY", CANARY)
    monkeypatch.setenv("QUOTED_API_KEY", 'ab"cd\\efgh-12')
    assert CANARY in known_secrets()
    assert redact_text(f"key {CANARY} end") == f"key {MASK} end"
    # cut where error bodies are cut: 11 characters of the key survive the cut, none survive redaction
    body = ("x" * 189 + " " + CANARY)[:200]
    assert not leaked(redact_text(body)) and redact_text(body).endswith(MASK)
    assert redact_text("short sk-SECR") == "short sk-SECR"  # 7 characters: not a prefix we can tell apart
    assert redact_text('{"k": "ab\\"cd\\\\efgh-12"}') == '{"k": "' + MASK + '"}'  # JSON-escaped spelling
    assert redact_data({"a": [f"x{CANARY}"], CANARY: 1}) == {"a": [f"x{MASK}"], MASK: 1}


def test_placeholder_keys_are_not_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")  # what vLLM users set; must not rewrite answers
    assert "EMPTY" not in known_secrets()
    assert redact_text("the set is EMPTY") == "the set is EMPTY"


def test_logging_filter_redacts_messages_and_chained_tracebacks(monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY)
    logger = logging.getLogger("lara.test.redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            try:
                raise ValueError(f"401 body: invalid key {CANARY}")
            except ValueError as inner:
                raise RuntimeError("request failed") from inner
        except RuntimeError:
            logger.exception("call failed for %s", CANARY[:12])
        logger.warning("args %s", {"auth": f"Bearer {CANARY}"})
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "Traceback" in out and "ValueError" in out and "RuntimeError" in out
    assert not leaked(out) and MASK in out


def test_install_log_redaction_covers_every_root_handler_and_warnings(monkeypatch):
    import warnings

    monkeypatch.setenv(KEY_ENV, CANARY)
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():  # pytest records warnings itself; route them as the CLI does
            warnings.simplefilter("always")
            logging.captureWarnings(False)  # an earlier CLI call in this process may have captured them
            install_log_redaction()
            install_log_redaction()  # idempotent: one filter per handler
            assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
            logging.getLogger("some.library").error("library says %s", CANARY)
            warnings.warn(f"deprecated use with {CANARY}", UserWarning, stacklevel=1)
    finally:
        root.removeHandler(handler)
        logging.captureWarnings(False)
    out = stream.getvalue()
    assert "library says" in out and "deprecated use with" in out and not leaked(out)


@pytest.mark.parametrize("status,pad", [(200, 166), (401, 196)], ids=["non-json-200-cut-at-200", "401-cut-at-300"])
def test_key_echoed_in_a_cut_error_body_is_stored_nowhere(tmp_path, status, pad):
    """Item 6: the server echoes the key in a non-JSON body; request i pads it by ``pad + 3i``
    characters, so the cuts (200 characters of a non-JSON reply, 300 of an error message) fall at
    every place inside the key. Records, summary, run.json, the report and stderr stay clean."""
    res = tmp_path / "res"
    with LoopbackServer(faults=lambda i, body: Fault.echo_key(status, pad + 3 * (i % 8))) as srv:
        r = run_cli([*TINY_RUN, "--model", "openai:m", "--base-url", srv.base_url, "-M", f"api_key_env={KEY_ENV}",
                     "-M", "max_retries=0", "-M", "tokenizer=words", "-o", str(res), "--max-error-rate", "1"],
                    env=lara_env({KEY_ENV: CANARY}, tmp_path / "cache"))
        assert srv.request_count >= 8
    assert r.returncode == 0, r.stderr
    from lara.results.store import read_records

    records = list(read_records(res))
    assert len(records) == 8 and all(rec["error"] for rec in records)
    messages = [rec["error"]["message"] for rec in records]
    assert sum(MASK in m for m in messages) >= 2  # keys (whole or cut) were there, and were masked
    report = run_cli(["report", str(res), "-o", str(tmp_path / "report"), "--no-plots"],
                     env=lara_env({KEY_ENV: CANARY}, tmp_path / "cache"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "index.html").exists()
    for text in (all_text(res), all_text(tmp_path / "report"), r.stdout, r.stderr, report.stdout, report.stderr):
        assert not leaked(text)


def test_key_in_debug_traceback_of_a_401_is_redacted(tmp_path):
    """Item 7: `lara -v run` against a 401 whose JSON error echoes the key logs the chained
    exception's traceback (the openai library's error holds the body); the key is masked there."""
    res = tmp_path / "res"
    with LoopbackServer(faults=lambda i, body: Fault.echo_key(401, 10, as_json=True)) as srv:
        r = run_cli(["-v", *TINY_RUN, "--model", "openai:m", "--base-url", srv.base_url,
                     "-M", f"api_key_env={KEY_ENV}", "-M", "transport=openai", "-M", "max_retries=0",
                     "-M", "tokenizer=words", "-o", str(res), "--max-error-rate", "1"],
                    env=lara_env({KEY_ENV: CANARY}, tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    assert "Traceback" in r.stderr and "AuthenticationError" in r.stderr  # the chained cause was logged
    assert MASK in r.stderr
    assert not leaked(r.stderr) and not leaked(r.stdout) and not leaked(all_text(res))


@pytest.mark.parametrize("transport", ["aiohttp", "openai"])
@pytest.mark.parametrize("status,pad", [(200, 175), (401, 270)])
def test_transport_redacts_an_error_body_before_cutting_it(monkeypatch, transport, status, pad):
    """The transports' own cuts (200 characters of a non-JSON reply, 300 of an error body) with the
    key straddling them, seen on the raw backend's exception (no retry wrapper redacting after)."""
    import asyncio

    from lara.backends.base import EndpointLimits
    from lara.backends.openai_compat import OpenAICompatBackend
    from lara.types import GenerateConfig, Message

    monkeypatch.setenv(KEY_ENV, CANARY)
    with LoopbackServer(faults=[Fault.echo_key(status, pad)]) as srv:
        backend = OpenAICompatBackend(EndpointLimits(), "m", base_url=srv.base_url, api_key_env=KEY_ENV,
                                      transport=transport, tokenizer="words")
        async def call() -> None:
            try:
                await backend.generate([Message("user", "hi")], GenerateConfig())
            finally:
                await backend.aclose()

        with pytest.raises(Exception) as err:  # noqa: PT011 - each transport raises its own type
            asyncio.run(call())
    assert not leaked(str(err.value))


def test_verbose_error_traceback_printed_by_main_is_redacted(tmp_path, monkeypatch, capsys):
    """`lara -v` prints the traceback of the error it reports; a key quoted in that error (here
    PyYAML quoting the preset line that holds it) is masked in the traceback and the error line."""
    from lara.cli import main

    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "leaky.yaml").write_text(f"task: synthetic\nparams: {{key: {CANARY}\n  bad: [\n")
    monkeypatch.setenv("LARA_PRESET_PATH", str(tmp_path))
    monkeypatch.setenv(KEY_ENV, CANARY)
    code = main(["-v", "run", "--task", "leaky", "--model", "mock", "-o", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and "error: malformed YAML" in err
    assert MASK in err and not leaked(err)
