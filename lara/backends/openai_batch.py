"""``openai-batch:<model>``: OpenAI's Batch API (about half the price of synchronous calls).

Each round of a run (:mod:`lara.engine.deferred`) writes its requests as a batch input file,
uploads it (``POST /v1/files``, purpose ``batch``), creates a batch (``POST /v1/batches``, window
24h), polls it with backoff (``poll_s`` growing 1.5× up to ``max_poll_s``; transient poll failures
are retried), downloads the output and error files and answers the calls by ``custom_id``. A round
larger than one batch allows (``max_batch_requests``, ``max_batch_mb``: OpenAI's 50,000 requests /
200 MB per file) is split. The batch's id is written to the run folder before polling starts, so a
run killed while waiting resumes polling that batch instead of paying for a second one; a kill
between upload and creation is covered by looking the batch up by its input file
(``GET /v1/batches``). Per-request failures, an expired batch's unanswered requests
(``batch_expired``) and a failed batch become error records of the samples concerned.
Records of these runs carry ``backend == "openai-batch"`` (cost views apply the batch discount).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, Sequence

from lara.backends.base import EndpointLimits
from lara.backends.batching import ENDPOINT, BatchCollector, request_line
from lara.backends.openai_compat import OpenAICompatBackend
from lara.errors import BackendError
from lara.registry import backends
from lara.types import GenerateConfig, Message

log = logging.getLogger(__name__)

TERMINAL = ("completed", "failed", "expired", "cancelled")
MAX_POLL_FAILURES = 10


@backends.register("openai-batch", aliases=("openai_batch",))
class OpenAIBatchBackend(BatchCollector, OpenAICompatBackend):
    """OpenAI Batch API (Files + Batches) behind the usual backend interface; calls are deferred to
    batches, one per round of the run (see the module docstring)."""

    EXTRA_PARAMS = {"guided_style": str, "extra_body": dict}

    def __init__(
        self,
        limits: EndpointLimits,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120,
        context_window: int | None = None,
        tokenizer: str = "cl100k",
        poll_s: float = 10.0,
        max_poll_s: float = 300.0,
        max_batch_requests: int = 50_000,
        max_batch_mb: float = 190.0,
        **extra: Any,
    ) -> None:
        if poll_s <= 0 or max_poll_s < poll_s:
            raise ValueError(f"openai-batch: need 0 < poll_s <= max_poll_s, got {poll_s} and {max_poll_s}")
        if max_batch_requests < 1 or max_batch_mb <= 0:
            raise ValueError("openai-batch: max_batch_requests and max_batch_mb must be positive")
        super().__init__(limits, model, base_url=base_url, api_key_env=api_key_env, timeout_s=timeout_s,
                         context_window=context_window, tokenizer=tokenizer, transport="openai", **extra)
        self._init_batching()
        self.poll_s, self.max_poll_s = float(poll_s), float(max_poll_s)
        self.max_batch_requests, self.max_batch_bytes = int(max_batch_requests), int(max_batch_mb * 1e6)
        self.info = dataclasses.replace(self.info, backend="openai-batch")

    def __repr__(self) -> str:
        return f"OpenAIBatchBackend(model={self.model!r}, endpoint={self.endpoint!r})"

    def request_body(self, messages: Sequence[Message], config: GenerateConfig) -> dict[str, Any]:
        return self._request(messages, config)

    # -- a round -------------------------------------------------------------------------------
    async def complete(self) -> bool:
        """Send this round's requests (or poll the batches already holding them) and take the
        answers; every request ends answered or failed. False in manual mode (exported)."""
        requests = self.take_pending()
        if self.export_to is not None:
            self.export(requests)
            return False
        waiting = [b for b in self.state.get("batches", [])
                   if b.get("mode") == "api" and not b.get("consumed") and set(b["custom_ids"]) & requests.keys()]
        covered = {c for b in waiting for c in b["custom_ids"]}
        new = {c: body for c, body in requests.items() if c not in covered}
        for chunk in self._chunks(new):
            try:
                waiting.append(await self._submit(chunk))
            except BackendError as exc:  # failures are data: these requests' samples get error records
                for c in chunk:
                    self.fail(c, str(exc), exc.kind)
        results = await asyncio.gather(*(self._finish(b) for b in waiting), return_exceptions=True)
        for entry, res in zip(waiting, results):
            if isinstance(res, BackendError):  # the batch stays in the state: a rerun polls it again
                for c in entry["custom_ids"]:
                    self.fail(c, str(res), res.kind)
            elif isinstance(res, BaseException):
                raise res
        for c in requests:
            self.fail(c, "the batch returned no result for this request", "batch_missing")
        return True

    def _chunks(self, requests: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
        """Request lines split by the API's per-file limits."""
        chunks: list[dict[str, str]] = []
        current: dict[str, str] = {}
        size = 0
        for c, body in requests.items():
            line = request_line(c, body) + "\n"
            n = len(line.encode("utf-8"))
            if current and (len(current) >= self.max_batch_requests or size + n > self.max_batch_bytes):
                chunks.append(current)
                current, size = {}, 0
            current[c] = line
            size += n
        if current:
            chunks.append(current)
        return chunks

    async def _submit(self, lines: dict[str, str]) -> dict[str, Any]:
        client = self._get_client()
        entry: dict[str, Any] = {"mode": "api", "custom_ids": list(lines), "status": "uploading",
                                 "created_at": time.time()}
        data = "".join(lines.values()).encode("utf-8")
        try:
            uploaded = await client.files.create(file=(f"lara-{self.run_id[:80]}.jsonl", data), purpose="batch")
        except Exception as exc:  # noqa: BLE001 - classified into the requests' error records
            raise self._error("uploading the batch input file", exc) from exc
        entry.update(input_file_id=uploaded.id, status="uploaded")
        self.state.setdefault("batches", []).append(entry)
        self.save_state()
        await self._create(entry)
        self.submitted += len(lines)
        return entry

    async def _create(self, entry: dict[str, Any]) -> None:
        """Create the batch for the entry's uploaded file, or adopt one an interrupted run created."""
        client = self._get_client()
        found = await self._find(entry["input_file_id"])
        if found is None:
            try:
                found = await client.with_options(max_retries=0).batches.create(
                    input_file_id=entry["input_file_id"], endpoint=ENDPOINT, completion_window="24h",
                    metadata={"lara_run": self.run_id[:500]})
            except Exception as exc:  # noqa: BLE001 - a lost reply may still have created it
                found = await self._find(entry["input_file_id"])
                if found is None:
                    raise self._error("creating the batch", exc) from exc
        entry.update(id=found.id, status=found.status)
        self.save_state()
        log.info("batch %s: %d request(s), %s", found.id, len(entry["custom_ids"]), found.status)

    async def _find(self, input_file_id: str) -> Any:
        client = self._get_client()
        try:
            page = await client.batches.list(limit=100)
        except Exception:  # noqa: BLE001 - listing is a best effort
            return None
        return next((b for b in page.data if b.input_file_id == input_file_id), None)

    async def _finish(self, entry: dict[str, Any]) -> None:
        """Poll until the batch ends, then take its output and error lines."""
        if "id" not in entry:
            await self._create(entry)
        client = self._get_client()
        delay, failures = self.poll_s, 0
        while True:
            try:
                batch = await client.batches.retrieve(entry["id"])
                failures = 0
            except Exception as exc:  # noqa: BLE001 - transient polling failures are retried
                failures += 1
                if failures > MAX_POLL_FAILURES or self.classify_call(exc) == "fatal":
                    raise self._error(f"polling batch {entry['id']}", exc) from exc
                await asyncio.sleep(delay)
                continue
            if batch.status != entry.get("status"):
                entry["status"] = batch.status
                self.save_state()
            if batch.status in TERMINAL:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_s)
        mine = set(entry["custom_ids"])
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await client.files.content(file_id)
                for line in content.text.splitlines():
                    if line.strip():
                        row = _json(line)
                        if row and row.get("custom_id") in mine:
                            self.accept(row)
        if batch.status != "completed":
            why = getattr(getattr(batch, "errors", None), "data", None) or ""
            for c in mine:
                if not self.answered(c):
                    self.fail(c, f"batch {entry['id']} {batch.status} before answering this request {why}".strip(),
                              f"batch_{batch.status}")
        entry["consumed"] = True
        self.save_state()

    def classify_call(self, exc: BaseException) -> str:
        return OpenAICompatBackend.classify(self, exc).action

    def _error(self, what: str, exc: BaseException) -> BackendError:
        failure = OpenAICompatBackend.classify(self, exc)
        return BackendError(f"{self.endpoint}: {what}: {failure.kind}: {self.redact(str(exc))[:300]}", kind=failure.kind)


def _json(line: str) -> dict[str, Any] | None:
    import json

    try:
        row = json.loads(line)
    except ValueError:
        log.warning("unreadable batch output line ignored: %r", line[:200])
        return None
    return row if isinstance(row, dict) else None
