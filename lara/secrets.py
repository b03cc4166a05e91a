"""Known secrets and their redaction: the one place every output path (records, run.json, error
lines, logs, reports) calls before text leaves the process.

Known secrets are the values of the environment variables backends read keys from: every
``*_API_KEY`` variable, plus any variable a backend names with :func:`register_env` (its
``api_key_env``). Values shorter than :data:`MIN_SECRET_LEN` are placeholders that local servers
accept (``EMPTY``, ``none``), not credentials; redacting them would rewrite ordinary words in model
answers.

Redaction replaces a whole secret and also any *prefix* of one of at least ``MIN_SECRET_LEN``
characters: error bodies are cut to a few hundred characters, and a key cut in half no longer
matches itself (issue 16 item 6). The JSON-escaped spelling of a secret is covered too, so a
serialised record line can be redacted as text.

The same module decides which environment variables a run folder may name as its key variable
(:func:`check_key_env`) and what "the endpoint a run was created with" is (:func:`origin_of`), so
``lara resume`` cannot be pointed at another host or another variable by editing run.json.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Iterable, Mapping

MASK = "***"
MIN_SECRET_LEN = 8
KEY_ENV_RE = re.compile(r"^(?:[A-Za-z0-9_]*_)?API_KEY$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENDPOINT_KEYS = ("base_url", "judge_base_url")

_registered: set[str] = set()


def register_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on (a backend's
    ``api_key_env`` that does not end in ``_API_KEY``)."""
    if name and name not in _registered:
        _registered.add(name)
        _REGISTERED_BYTES.clear()


def is_key_env(name: str) -> bool:
    """Variables whose values are always treated as secrets: ``API_KEY`` and ``*_API_KEY``."""
    return bool(KEY_ENV_RE.match(name))


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of the key variables now set, longest first (a key containing another is masked whole).

    Read afresh at every call (a key set after start-up counts); for ``os.environ`` the raw byte
    mapping is scanned, since decoding every variable made this the writer's main cost per record."""
    if env is None:
        raw = getattr(os.environ, "_data", None)
        if isinstance(raw, dict):
            names = _registered_bytes()
            picked = tuple((k, v) for k, v in raw.items()
                           if (k.endswith(b"API_KEY") or k in names) and len(v) >= MIN_SECRET_LEN)
            return _decoded(picked) if picked else []
        env = os.environ
    found = {v for k, v in env.items() if (is_key_env(k) or k in _registered) and v and len(v) >= MIN_SECRET_LEN}
    return sorted(found, key=len, reverse=True)


_REGISTERED_BYTES: list[frozenset[bytes]] = []  # memo of the encoded names; cleared by register_env


def _registered_bytes() -> frozenset[bytes]:
    if not _REGISTERED_BYTES:
        _REGISTERED_BYTES.append(frozenset(os.fsencode(n) for n in _registered))
    return _REGISTERED_BYTES[0]


_DECODED: dict[tuple[tuple[bytes, bytes], ...], list[str]] = {}


def _decoded(picked: tuple[tuple[bytes, bytes], ...]) -> list[str]:
    """The values as text, longest first, memoised (the key variables rarely change). The byte test
    above is loose (``...API_KEY``); the exact name rule is applied here."""
    got = _DECODED.get(picked)
    if got is None:
        pairs = [(os.fsdecode(k), os.fsdecode(v)) for k, v in picked]
        values = {v for k, v in pairs if is_key_env(k) or k in _registered}
        got = sorted(values, key=len, reverse=True)
        if len(_DECODED) > 64:
            _DECODED.clear()
        _DECODED[picked] = got
    return got


def _spellings(secret: str) -> list[str]:
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    return [secret] if escaped == secret else [secret, escaped]


def _mask_prefixes(text: str, secret: str) -> str:
    """Replace every run of ``text`` that is a prefix of ``secret`` at least MIN_SECRET_LEN long."""
    head = secret[:MIN_SECRET_LEN]
    i = text.find(head)
    if i == -1:
        return text
    out: list[str] = []
    start = 0
    n, m = len(text), len(secret)
    while i != -1:
        j = i + MIN_SECRET_LEN
        while j < n and j - i < m and text[j] == secret[j - i]:
            j += 1
        out.append(text[start:i])
        out.append(MASK)
        start = j
        i = text.find(head, j)
    out.append(text[start:])
    return "".join(out)


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret, and every cut-off prefix of one (>= 8 characters), masked.

    Call it on anything user-visible built from text a server or a library produced: error messages,
    log lines, report data. ``secrets`` defaults to :func:`known_secrets` (read from the environment
    at each call, so a key set after start-up is covered too).
    """
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if len(secret) < MIN_SECRET_LEN:
            continue
        for spelling in _spellings(secret):
            text = _mask_prefixes(text, spelling)
    return text


def redact_data(obj: Any, secrets: Iterable[str] | None = None) -> Any:
    """A JSON-like structure with every string redacted (keys included)."""
    found = known_secrets() if secrets is None else list(secrets)
    if not found:
        return obj

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return redact_text(o, found)
        if isinstance(o, Mapping):
            return {walk(k): walk(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        return o

    return walk(obj)


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record's message, its exception traceback (chained causes included) and
    stack info. Attach it to *handlers* (a logger's filters do not see records of child loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = known_secrets()
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep logging's own behaviour
            return True
        record.msg, record.args = redact_text(message, secrets), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # formatters print exc_text; the raw exception would bypass us
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Put one :class:`RedactingFilter` on every handler of ``logger`` (the root logger by default),
    and route ``warnings`` through logging so they pass it too. Idempotent."""
    logger = logger or logging.getLogger()
    logging.captureWarnings(True)
    existing = next((f for h in logger.handlers for f in h.filters if isinstance(f, RedactingFilter)), None)
    filt = existing or RedactingFilter()
    for handler in logger.handlers:
        if filt not in handler.filters:
            handler.addFilter(filt)
    return filt


# -- run folders: which endpoint and key variable a run may use ---------------------------------
def _walk_fields(obj: Any, path: str, out: dict[str, Any]) -> None:
    if not isinstance(obj, Mapping):
        return
    for k, v in obj.items():
        here = f"{path}.{k}" if path else str(k)
        if k in ENDPOINT_KEYS or str(k).endswith("api_key_env"):
            out[here] = list(v) if isinstance(v, (list, tuple)) else v
        elif isinstance(v, Mapping):
            _walk_fields(v, here, out)


def origin_of(spec_json: Mapping[str, Any]) -> dict[str, Any]:
    """Every endpoint and key-variable setting of a spec (model and scorer/judge parameters), by
    dotted path: what a run folder records at creation and ``lara resume`` compares against."""
    out: dict[str, Any] = {}
    for part in ("model_params", "scorer_params"):
        _walk_fields(spec_json.get(part) or {}, part, out)
    return out


def key_envs(origin: Mapping[str, Any]) -> dict[str, str]:
    """The key-variable entries of an :func:`origin_of` mapping."""
    return {k: str(v) for k, v in origin.items() if k.endswith("api_key_env") and v is not None}


def check_key_env(name: str, allowed: Iterable[str] = ()) -> str | None:
    """Why ``name`` may not be used as a key variable (None if it may): it must look like
    ``*_API_KEY`` or be one the user named on the command line (``allowed``)."""
    if name in set(allowed):
        return None
    if not ENV_NAME_RE.match(name):
        return f"{name!r} is not an environment variable name"
    if not is_key_env(name):
        return f"{name} is not an *_API_KEY variable"
    return None
