"""What every batch backend shares: deferred calls keyed by ``custom_id``, answers from batch output
lines, and the state kept in the run folder (see :mod:`lara.engine.deferred` for the rounds).

A call the backend has no answer for is recorded under its ``custom_id`` (a hash of the request
body, so identical requests of different samples are one line) and raises
:class:`~lara.protocols.Deferred`. Answers come from output lines in the format OpenAI's Batch API
and vLLM's ``run_batch`` both write::

    {"custom_id": "...", "response": {"status_code": 200, "body": {<chat completion>}}, "error": null}
    {"custom_id": "...", "response": null, "error": {"code": "batch_expired", "message": "..."}}

A 200 answer becomes the call's :class:`~lara.types.Generation` and is appended to
``<run>/batch-results.jsonl``, so a resumed run never pays for it twice; any other line becomes a
``BackendError`` for that call only (its sample gets an error record; ``--retry-errors`` sends it
again, as failed answers are not kept across invocations). ``<run>/batches.json`` lists the batches
sent (id, input file, status, their ``custom_id``s): a resumed run polls a batch still in progress
instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from lara.config import canonical_json
from lara.errors import BackendError
from lara.protocols import Deferred, Failure
from lara.types import GenerateConfig, Generation, Message

log = logging.getLogger(__name__)

RESULTS = "batch-results.jsonl"
STATE = "batches.json"
ENDPOINT = "/v1/chat/completions"


def custom_id(body: Mapping[str, Any]) -> str:
    """The request's id in a batch: the same body always gets the same id (at most 64 characters)."""
    return "lara-" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()[:40]


def request_line(cid: str, body: Mapping[str, Any]) -> str:
    """One line of a batch input file (OpenAI Batch API and vLLM ``run_batch`` format)."""
    return json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": body},
                      ensure_ascii=False, separators=(",", ":"))


class BatchCollector:
    """Deferred calls and their answers; subclasses build request bodies and submit them.

    Subclasses (listed first among the bases) set ``info`` and provide ``request_body(messages,
    config)``, ``count_tokens`` and ``async complete()`` (:meth:`take_pending`, then :meth:`accept`
    per output line)."""

    submitted: int = 0

    count_tokens: Callable[[str], int]  # declared only: the backend class in the MRO provides it

    def _init_batching(self) -> None:
        self.submitted = 0
        self._pending: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, Generation | BackendError] = {}
        self.run_dir: Path | None = None
        self.run_id = ""
        self.state: dict[str, Any] = {"batches": []}
        self.export_to: Path | None = None  # manual mode: complete() writes the requests here and stops

    def request_body(self, messages: Sequence[Message], config: GenerateConfig) -> dict[str, Any]:
        raise NotImplementedError

    # -- the run folder ------------------------------------------------------------------------
    def bind(self, run_dir: Any, run_id: str) -> None:
        """Load the answers already received and the batches sent by earlier invocations."""
        self.run_dir, self.run_id = Path(run_dir), run_id
        path = self.run_dir / RESULTS
        if path.exists():
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        self.accept(json.loads(line), persist=False)
                    except ValueError:  # a partial last line from a killed run
                        log.warning("%s:%d: unreadable batch result ignored", path, n)
        state = self.run_dir / STATE
        if state.exists():
            self.state = json.loads(state.read_text(encoding="utf-8"))

    def save_state(self) -> None:
        if self.run_dir is None:
            return
        path = self.run_dir / STATE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    # -- calls ---------------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._pending)

    def take_pending(self) -> dict[str, dict[str, Any]]:
        taken, self._pending = self._pending, {}
        return taken

    def answered(self, cid: str) -> bool:
        return cid in self._answers

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        body = self.request_body(messages, config)
        cid = custom_id(body)
        answer = self._answers.get(cid)
        if answer is None:
            self._pending[cid] = body
            raise Deferred(cid)
        if isinstance(answer, BackendError):
            raise BackendError(str(answer), kind=answer.kind)
        return answer

    def classify(self, exc: BaseException) -> Failure:
        """A stored failure is final for this invocation (the batch will not answer again)."""
        return Failure(getattr(exc, "kind", None) or type(exc).__name__, "fatal")

    # -- answers -------------------------------------------------------------------------------
    def fail(self, cid: str, message: str, kind: str) -> None:
        self._answers.setdefault(cid, BackendError(message, kind=kind))

    def accept(self, line: Mapping[str, Any], persist: bool = True) -> str | None:
        """Take one output line; returns its custom_id (None for a line without one)."""
        cid = line.get("custom_id")
        if not isinstance(cid, str):
            return None
        response = line.get("response") or {}
        error = line.get("error")
        status = response.get("status_code") if isinstance(response, Mapping) else None
        body = response.get("body") if isinstance(response, Mapping) else None
        if status == 200 and isinstance(body, Mapping) and not error:
            try:
                self._answers[cid] = self.to_generation(body)
            except (ValueError, TypeError, KeyError) as exc:
                self._answers[cid] = BackendError(f"batch answer {cid} is not a chat completion: {exc}",
                                                  kind="bad_response")
                return cid
            if persist and self.run_dir is not None:
                with open(self.run_dir / RESULTS, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"custom_id": cid, "response": {"status_code": 200, "body": body}},
                                       ensure_ascii=False) + "\n")
            return cid
        if isinstance(error, Mapping):
            kind, message = str(error.get("code") or "batch_error"), str(error.get("message") or error)
        else:
            detail = body.get("error") if isinstance(body, Mapping) else None
            message = str(detail.get("message") if isinstance(detail, Mapping) else detail or body)
            kind = f"http_{status}" if status else "batch_error"
        self._answers[cid] = BackendError(f"batch request failed: {message[:300]}", kind=kind)
        return cid

    def to_generation(self, body: Mapping[str, Any]) -> Generation:
        from lara.backends.openai_http import parse_completion

        text, in_tok, out_tok, finish, model = parse_completion(dict(body))
        return Generation(text=text, input_tokens=int(in_tok if in_tok is not None else self.count_tokens(text)),
                          output_tokens=int(out_tok if out_tok is not None else self.count_tokens(text)),
                          finish_reason=finish or "stop", latency_s=0.0, model=model or "")

    # -- manual mode (lara export-batch) -------------------------------------------------------
    def export(self, requests: Mapping[str, Mapping[str, Any]]) -> None:
        """Write ``requests`` as a batch input file at ``export_to`` and note it in the state."""
        assert self.export_to is not None
        self.export_to.parent.mkdir(parents=True, exist_ok=True)
        with open(self.export_to, "w", encoding="utf-8") as f:
            for cid, body in requests.items():
                f.write(request_line(cid, body) + "\n")
        self.state.setdefault("batches", []).append(
            {"mode": "manual", "file": str(self.export_to), "custom_ids": list(requests), "status": "exported"})
        self.save_state()
        self.submitted += len(requests)
