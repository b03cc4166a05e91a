"""OpenAI's Files and Batches endpoints for the loopback server, so batch runs are tested over HTTP
through the real ``openai`` client.

Routes: ``POST /v1/files`` (multipart upload, parsed with the standard library), ``GET
/v1/files/{id}`` and ``/v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches`` (list,
newest first), ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``. A created batch goes
``validating`` -> ``in_progress``; after :attr:`BatchBehaviour.process_s` every input line is
answered by the server's responder exactly like a chat request (same completion body and usage
counting), written to an output file (status 200) or an error file (per-line failures scripted by
``line_status``; ``expire_after`` makes the batch ``expired`` with the remaining lines failed as
``batch_expired``, as OpenAI reports them). Counters (``files_uploaded``, ``batches_created``,
``batch_lines``) join the server's ``/stats``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class BatchBehaviour:
    """How the loopback Batch API behaves: seconds a batch stays in progress, how many lines it
    answers before expiring (None: all), and an HTTP status per line index (None or 200: answer)."""

    process_s: float = 0.0
    expire_after: int | None = None
    line_status: Callable[[int, dict[str, Any]], int | None] | None = None


class BatchAPI:
    def __init__(self, server: Any, behaviour: BatchBehaviour | None = None) -> None:
        self.server = server
        self.behaviour = behaviour or BatchBehaviour()
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset_counters()

    def reset_counters(self) -> None:
        self.files_uploaded = 0
        self.batches_created = 0
        self.batch_lines = 0

    def stats(self) -> dict[str, int]:
        return {"files_uploaded": self.files_uploaded, "batches_created": self.batches_created,
                "batch_lines": self.batch_lines}

    # -- files -----------------------------------------------------------------------------------
    def _add_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        fid = f"file-loopback-{len(self.files) + 1}"
        meta = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[fid] = {"meta": meta, "data": data}
        return meta

    async def upload(self, request: Any) -> Any:
        from email.parser import BytesParser
        from email.policy import default

        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return _error(400, "expected multipart/form-data")
        raw = await request.body()
        msg = BytesParser(policy=default).parsebytes(
            b"MIME-Version: 1.0\r\nContent-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
        if "file" not in fields:
            return _error(400, "missing file")
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8").strip()
        if purpose != "batch":
            return _error(400, f"unsupported purpose {purpose!r}")
        filename, data = fields["file"]
        self.files_uploaded += 1
        return _json(self._add_file(data, filename or "upload.jsonl", purpose))

    async def file_meta(self, request: Any) -> Any:
        f = self.files.get(request.path_params["fid"])
        return _json(f["meta"]) if f else _error(404, "no such file")

    async def file_content(self, request: Any) -> Any:
        from starlette.responses import Response

        f = self.files.get(request.path_params["fid"])
        if not f:
            return _error(404, "no such file")
        return Response(f["data"], 200, media_type="application/octet-stream")

    # -- batches ---------------------------------------------------------------------------------
    async def create(self, request: Any) -> Any:
        body = await request.json()
        fid = body.get("input_file_id")
        if fid not in self.files:
            return _error(400, f"input file {fid!r} not found")
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return _error(400, "endpoint must be /v1/chat/completions and completion_window 24h")
        self.batches_created += 1
        bid = f"batch_loopback_{len(self.batches) + 1}"
        now = int(time.time())
        batch = {"id": bid, "object": "batch", "endpoint": body["endpoint"], "input_file_id": fid,
                 "completion_window": "24h", "status": "validating", "created_at": now,
                 "expires_at": now + 86400, "output_file_id": None, "error_file_id": None, "errors": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata")}
        self.batches[bid] = batch
        task = asyncio.get_running_loop().create_task(self._process(bid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _json(batch)

    async def list_batches(self, request: Any) -> Any:
        data = sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)
        return _json({"object": "list", "data": data, "has_more": False,
                      "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})

    async def get(self, request: Any) -> Any:
        b = self.batches.get(request.path_params["bid"])
        return _json(b) if b else _error(404, "no such batch")

    async def cancel(self, request: Any) -> Any:
        b = self.batches.get(request.path_params["bid"])
        if not b:
            return _error(404, "no such batch")
        if b["status"] not in ("completed", "failed", "expired", "cancelled"):
            b["status"] = "cancelling"
        return _json(b)

    async def _process(self, bid: str) -> None:
        batch = self.batches[bid]
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]]["data"].decode("utf-8").splitlines() if x.strip()]
        batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        batch["request_counts"]["total"] = len(lines)
        if self.behaviour.process_s:
            await asyncio.sleep(self.behaviour.process_s)
        out, err = [], []
        expire = self.behaviour.expire_after
        for i, line in enumerate(lines):
            if batch["status"] == "cancelling":
                break
            if expire is not None and i >= expire:
                err.append({"id": f"batch_req_{bid}_{i}", "custom_id": line["custom_id"], "response": None,
                            "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
                continue
            self.batch_lines += 1
            body = line["body"]
            status = (self.behaviour.line_status(i, body) if self.behaviour.line_status else None) or 200
            if status != 200:
                err.append({"id": f"batch_req_{bid}_{i}", "custom_id": line["custom_id"],
                            "response": {"status_code": status, "request_id": f"req_{i}",
                                         "body": {"error": {"message": f"injected line fault {status}",
                                                            "type": "invalid_request_error", "code": status}}},
                            "error": None})
                continue
            text = self.server.responder(body["messages"], body)
            if inspect.isawaitable(text):
                text = await text
            out.append({"id": f"batch_req_{bid}_{i}", "custom_id": line["custom_id"],
                        "response": {"status_code": 200, "request_id": f"req_{i}",
                                     "body": self.server._completion(i, body, str(text))}, "error": None})
        counts = batch["request_counts"]
        counts["completed"], counts["failed"] = len(out), len(err)
        if out:
            batch["output_file_id"] = self._add_file(_lines(out), f"{bid}_output.jsonl", "batch_output")["id"]
        if err:
            batch["error_file_id"] = self._add_file(_lines(err), f"{bid}_errors.jsonl", "batch_output")["id"]
        batch["status"] = ("cancelled" if batch["status"] == "cancelling" else
                           "expired" if expire is not None and expire < len(lines) else "completed")
        batch[f"{batch['status']}_at"] = int(time.time())

    def routes(self) -> list[Any]:
        from starlette.routing import Route

        return [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files/{fid}", self.file_meta, methods=["GET"]),
            Route("/v1/files/{fid}/content", self.file_content, methods=["GET"]),
            Route("/v1/batches", self.create, methods=["POST"]),
            Route("/v1/batches", self.list_batches, methods=["GET"]),
            Route("/v1/batches/{bid}", self.get, methods=["GET"]),
            Route("/v1/batches/{bid}/cancel", self.cancel, methods=["POST"]),
        ]


def _lines(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")


def _json(data: Any) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(data)


def _error(status: int, message: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": status}}, status)


def answer_batch_file(requests: Any, results: Any, responder: Callable[[list[dict[str, Any]], dict[str, Any]], Any] | None = None,
                      fail: Callable[[int, dict[str, Any]], int | None] | None = None) -> int:
    """Do what vLLM's ``run_batch`` does to a batch input file, offline: one output line per
    request (``custom_id``, ``response.status_code``/``body`` with a chat completion; a status from
    ``fail`` gives an error body instead). Bodies come from the loopback server's completion builder
    and ``responder`` (default: its echo). Returns the number of lines written."""
    from pathlib import Path

    from lara.testing.openai_server import LoopbackServer

    server = LoopbackServer(responder=responder)
    rows = []
    for i, text in enumerate(Path(requests).read_text(encoding="utf-8").splitlines()):
        if not text.strip():
            continue
        line = json.loads(text)
        body = line["body"]
        status = (fail(i, body) if fail else None) or 200
        if status != 200:
            response = {"status_code": status, "request_id": f"vllm-batch-{i}",
                        "body": {"error": {"message": f"injected run_batch fault {status}", "code": status}}}
        else:
            response = {"status_code": 200, "request_id": f"vllm-batch-{i}",
                        "body": server._completion(i, body, str(server.responder(body["messages"], body)))}
        rows.append({"id": f"vllm-{i}", "custom_id": line["custom_id"], "response": response, "error": None})
    Path(results).write_bytes(_lines(rows))
    return len(rows)
