"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

Tests talk to it through the real ``openai`` client, so retries, timeouts, concurrency limits and
usage accounting are exercised over real sockets rather than mocks. It runs uvicorn in a
background thread on a free port; latency is ``asyncio.sleep`` so thousands of concurrent requests
cost no threads. Faults (429 with Retry-After, 5xx, hangs, garbage bodies) are scripted per request
index; so are the attacks a client must contain (a body trickled a byte at a time, an oversized
body, an error body echoing the API key). Usage is deterministic: ``prompt_tokens`` is the whitespace word count of all message
contents and ``completion_tokens`` that of the answer, so tests can assert exact sums. Routes:
POST /v1/chat/completions, GET /v1/models, GET /health, GET /stats (the recorded counters), GET
/metrics (``metrics_text``, e.g. vLLM's ``vllm:cache_config_info`` line; 404 when not given), and
OpenAI's Files and Batches endpoints (:mod:`lara.testing.batch_api`, scripted by ``batches``).
``separate_process=True`` forks the server into a child process so that a benchmark's client does
not share a GIL with it. ``python -m lara.testing.openai_server`` (or ``lara serve mock``) serves
it in the foreground on a fixed port (:func:`main`); its answering modes (an answers file, a
reader whose accuracy falls with prompt length) are in :mod:`lara.testing.readers`.

    with LoopbackServer(responder=lambda msgs, req: "42", faults=[Fault.rate_limit(1)]) as srv:
        backend = build_backend("openai:m", {"base_url": srv.base_url})
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

from lara.testing.batch_api import BatchAPI, BatchBehaviour

Responder = Callable[[list[dict[str, Any]], dict[str, Any]], Any]
FAULT_KINDS = ("status", "hang", "garbage", "garbage_text", "no_choices", "trickle", "huge", "echo_key")


@dataclass(frozen=True)
class Fault:
    """What the server does instead of answering one request.

    ``status``: reply ``status`` with an OpenAI-style error body (and ``Retry-After`` if set);
    ``hang``: answer only after ``hang_s`` (or never, if the client disconnects first);
    ``garbage``: 200 with ``application/json`` content type but a non-JSON body;
    ``garbage_text``: 200 with a ``text/plain`` non-JSON body; ``no_choices``: 200, JSON without choices;
    ``trickle``: 200, a valid completion sent ``rate`` bytes per second (for ``hang_s`` at most);
    ``huge``: 200, a valid completion of ``size`` bytes (``chunked`` without a Content-Length);
    ``echo_key``: ``status`` with a body that echoes the request's bearer token after ``pad``
    characters (a misconfigured proxy), so the key sits where error messages are cut; ``text/plain``,
    or an OpenAI-style JSON error whose message holds it with ``as_json``.
    """

    kind: str = "status"
    status: int = 500
    retry_after: str | float | None = None
    hang_s: float = 30.0
    rate: float = 1.0
    size: int = 0
    chunked: bool = False
    pad: int = 0
    as_json: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid: {', '.join(FAULT_KINDS)}")

    @classmethod
    def rate_limit(cls, retry_after: str | float | None = 1) -> "Fault":
        return cls("status", 429, retry_after)

    @classmethod
    def server_error(cls, status: int = 500, retry_after: str | float | None = None) -> "Fault":
        return cls("status", status, retry_after)

    @classmethod
    def http(cls, status: int) -> "Fault":
        return cls("status", status)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> "Fault":
        return cls("hang", hang_s=seconds)

    @classmethod
    def garbage(cls, text_plain: bool = False) -> "Fault":
        return cls("garbage_text" if text_plain else "garbage")

    @classmethod
    def no_choices(cls) -> "Fault":
        return cls("no_choices")

    @classmethod
    def trickle(cls, bytes_per_s: float = 1.0, seconds: float = 30.0) -> "Fault":
        return cls("trickle", 200, rate=bytes_per_s, hang_s=seconds)

    @classmethod
    def huge(cls, size: int, chunked: bool = False) -> "Fault":
        return cls("huge", 200, size=size, chunked=chunked)

    @classmethod
    def echo_key(cls, status: int = 401, pad: int = 190, as_json: bool = False) -> "Fault":
        return cls("echo_key", status, pad=pad, as_json=as_json)


FaultPlan = Union[
    Sequence[Union[Fault, None]],  # request i gets plan[i]; later requests answer normally
    Mapping[int, Fault],  # per-request overrides by index
    Callable[[int, dict[str, Any]], Union[Fault, None]],  # decide from index and request body
    None,
]


def word_count(text: str) -> int:
    return len(text.split())


def default_responder(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    """Deterministic: echoes the last eight words of the last message."""
    last = str(messages[-1].get("content") or "") if messages else ""
    return "echo: " + " ".join(last.split()[-8:])


class LoopbackServer:
    """OpenAI chat-completions server in a background thread; use as a context manager."""

    def __init__(
        self,
        responder: Responder | None = None,
        latency_s: float = 0.0,
        faults: FaultPlan = None,
        model: str = "loopback-model",
        separate_process: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_text: str | None = None,
        batches: BatchBehaviour | None = None,
    ) -> None:
        self.responder = responder or default_responder
        self.host = host
        self.requested_port = port  # 0: a free port
        self.metrics_text = metrics_text
        self.batch_api = BatchAPI(self, batches)
        # A forked child keeps the server off the client's GIL (benchmarks); recorded state is then
        # read with stats() over HTTP instead of from attributes.
        self.separate_process = separate_process
        self._proc: Any = None
        self._stop_event: Any = None
        self.latency_s = latency_s
        self.faults = faults
        self.model = model
        self.port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- recorded state (written on the server thread, read by tests) -------------------------
    def reset(self) -> None:
        self.request_count = 0
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []  # the Authorization header of each chat request
        self.arrivals: list[float] = []  # time.monotonic() of each chat request
        self.faults_served: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.last_done = 0.0  # time.monotonic() when the latest chat request finished
        if hasattr(self, "batch_api"):
            self.batch_api.reset_counters()  # files and batches stay: a resumed run polls them

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/v1"

    # -- lifecycle ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters (request_count, max_in_flight, in_flight, faults_served), in either mode."""
        if self._proc is None:
            return self._stats()
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=10).json()

    def _stats(self) -> dict[str, Any]:
        return {
            "request_count": self.request_count,
            "max_in_flight": self.max_in_flight,
            "in_flight": self.in_flight,
            "faults_served": list(self.faults_served),
            # time.monotonic() is system-wide on Linux: comparable with the client's in either mode
            "first_arrival": self.arrivals[0] if self.arrivals else None,
            "last_done": self.last_done or None,
            **self.batch_api.stats(),
        }

    def start(self, timeout_s: float = 10.0) -> "LoopbackServer":
        if self.separate_process:
            return self._start_process(timeout_s)
        return self._start_thread(timeout_s)

    def _start_process(self, timeout_s: float) -> "LoopbackServer":
        import multiprocessing

        mp = multiprocessing.get_context("fork")  # the child inherits responder and fault plan
        ports = mp.Queue()
        self._stop_event = mp.Event()
        self._proc = mp.Process(target=self._child, args=(ports, self._stop_event), daemon=True)
        self._proc.start()
        try:
            self.port = ports.get(timeout=timeout_s)
        except Exception as exc:  # queue.Empty
            self._proc.kill()
            raise RuntimeError("loopback server process failed to start") from exc
        return self

    def _child(self, ports: Any, stop: Any) -> None:
        self.separate_process = False
        self._proc = None
        self._start_thread(10.0)
        ports.put(self.port)
        stop.wait()
        self.stop()

    def _start_thread(self, timeout_s: float) -> "LoopbackServer":
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, lifespan="off",
            backlog=4096, timeout_graceful_shutdown=1, timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="lara-loopback", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("loopback server failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._stop_event.set()
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.kill()
            self._proc = None
            return
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------
    def _fault_for(self, index: int, body: dict[str, Any]) -> Fault | None:
        plan = self.faults
        if plan is None:
            return None
        if callable(plan):
            return plan(index, body)
        if isinstance(plan, Mapping):
            return plan.get(index)
        return plan[index] if index < len(plan) else None

    def _completion(self, index: int, body: dict[str, Any], text: str) -> dict[str, Any]:
        finish = "stop"
        stops = body.get("stop") or []
        if isinstance(stops, str):
            stops = [stops]
        cuts = [text.find(s) for s in stops if s and s in text]
        if cuts:
            text = text[: min(cuts)]
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        words = text.split()
        if max_tokens is not None and len(words) > int(max_tokens):
            text, finish = " ".join(words[: int(max_tokens)]), "length"
        prompt = sum(word_count(str(m.get("content") or "")) for m in body.get("messages", []))
        completion = word_count(text)
        return {
            "id": f"chatcmpl-loopback-{index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _attack(self, fault: Fault, index: int, body: dict[str, Any], request: Any) -> Any:
        import json

        from starlette.responses import Response, StreamingResponse

        if fault.kind == "echo_key":
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            text = "x" * fault.pad + f" invalid api key {token} (echoed by the server)"
            if fault.as_json:
                return _error(fault.status, text)
            return Response(text.encode(), fault.status, media_type="text/plain")
        if fault.kind == "huge":
            filler = "a " * max(0, fault.size // 2)
            data = json.dumps(self._completion(index, body, "")).replace('"content": ""', f'"content": "{filler}"')
            raw = data.encode()
            if not fault.chunked:
                return Response(raw, 200, media_type="application/json")

            async def chunks() -> Any:
                for i in range(0, len(raw), 65536):
                    yield raw[i:i + 65536]

            return StreamingResponse(chunks(), 200, media_type="application/json")
        raw = json.dumps(self._completion(index, body, "trickled answer")).encode()

        async def trickle() -> Any:
            deadline = time.monotonic() + fault.hang_s
            for i in range(len(raw)):
                if time.monotonic() > deadline:
                    return
                yield raw[i:i + 1]
                await asyncio.sleep(1.0 / fault.rate)

        return StreamingResponse(trickle(), 200, media_type="application/json")

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def chat(request: Request) -> Response:
            index = self.request_count
            self.request_count += 1
            self.authorizations.append(request.headers.get("authorization", ""))
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                try:
                    body = await request.json()
                except ValueError:
                    return _error(400, "request body is not JSON")
                self.requests.append(body)
                if not isinstance(body, dict) or not body.get("messages"):
                    return _error(400, "'messages' is required")
                fault = self._fault_for(index, body)
                if fault is not None:
                    self.faults_served.append(fault.kind)
                    if fault.kind == "status":
                        headers = {}
                        if fault.retry_after is not None:
                            headers["retry-after"] = str(fault.retry_after)
                        return _error(fault.status, f"injected fault {fault.status}", headers)
                    if fault.kind == "hang":
                        await _sleep_unless_disconnected(request, fault.hang_s)
                    elif fault.kind == "garbage":
                        return Response(b"<html>not json", 200, media_type="application/json")
                    elif fault.kind == "garbage_text":
                        return Response(b"<html>not json", 200, media_type="text/plain")
                    elif fault.kind == "no_choices":
                        return JSONResponse({"object": "chat.completion", "id": f"x-{index}"})
                    elif fault.kind in ("trickle", "huge", "echo_key"):
                        return self._attack(fault, index, body, request)
                if self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)
                text = self.responder(body["messages"], body)
                if inspect.isawaitable(text):
                    text = await text
                return JSONResponse(self._completion(index, body, str(text)))
            finally:
                self.in_flight -= 1
                self.last_done = time.monotonic()

        async def models(request: Request) -> Response:
            return JSONResponse(
                {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "lara"}]}
            )

        async def health(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        async def stats(request: Request) -> Response:
            return JSONResponse(self._stats())

        async def metrics(request: Request) -> Response:
            if self.metrics_text is None:
                return Response(b"not found", 404, media_type="text/plain")
            return Response(self.metrics_text.encode("utf-8"), 200, media_type="text/plain; version=0.0.4")

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/models", models, methods=["GET"]),
                Route("/health", health, methods=["GET"]),
                Route("/stats", stats, methods=["GET"]),
                Route("/metrics", metrics, methods=["GET"]),
                *self.batch_api.routes(),
            ]
        )


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Any:
    from starlette.responses import JSONResponse

    kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": status}}, status, headers=dict(headers or {})
    )


async def _sleep_unless_disconnected(request: Any, seconds: float) -> None:
    """A hang that ends early when the client gives up, so shutdown is not held hostage."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def fail_rate_faults(rate: float, seed: int = 0, status: int = 503) -> Callable[[int, dict[str, Any]], Fault | None]:
    """A fault plan failing about ``rate`` of requests with ``status`` (decided per request index
    by a seeded hash, so a replay of the same traffic fails the same requests)."""
    import random

    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fail rate must be between 0 and 1, got {rate}")

    def plan(index: int, body: dict[str, Any]) -> Fault | None:
        return Fault.server_error(status) if random.Random(f"{seed}:{index}").random() < rate else None

    return plan


def serve_forever(server: LoopbackServer, announce: Callable[[str], None] = print) -> int:
    """Run ``server`` in the foreground until Ctrl-C or SIGTERM; returns the exit status 0."""
    import signal

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    server.start()
    try:
        announce(server.base_url)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


def build_server(*, host: str = "127.0.0.1", port: int = 8000, answers: str | None = None,
                 length_sensitive: int | None = None, steepness: float = 8.0, latency_ms: float = 0.0,
                 fail_rate: float = 0.0, seed: int = 0, model: str = "lara-mock") -> LoopbackServer:
    """The foreground mock server of ``lara serve mock``: a reader of the synthetic task's facts and
    of an answers file (``{"question", "answer"}`` lines), echoing anything else; or, with
    ``length_sensitive`` (prompt words at which half the answers are still right), a reader whose
    accuracy falls with prompt length (:mod:`lara.testing.readers`)."""
    from lara.testing import readers

    table = readers.load_answers(answers) if answers else {}
    responder: Responder
    if length_sensitive:
        responder = readers.LengthSensitiveReader(length_sensitive, steepness, table, seed)
    else:
        responder = readers.ReaderResponder(table)
    if latency_ms < 0:
        raise ValueError(f"latency must be >= 0 ms, got {latency_ms}")
    faults = fail_rate_faults(fail_rate, seed) if fail_rate else None
    return LoopbackServer(responder=responder, latency_s=latency_ms / 1000.0, faults=faults, model=model,
                          host=host, port=port)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lara.testing.openai_server``: the same server as ``lara serve mock``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lara.testing.openai_server",
                                 description="OpenAI-compatible mock server in the foreground (Ctrl-C stops it).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    ap.add_argument("--answers", help='JSONL lines {"question": ..., "answer": ...}')
    ap.add_argument("--length-sensitive", help="prompt words (e.g. 16k) at which half the answers are right")
    ap.add_argument("--steepness", type=float, default=8.0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered 503")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from lara.config import parse_tokens

    try:
        server = build_server(host=args.host, port=args.port, answers=args.answers,
                              length_sensitive=parse_tokens(args.length_sensitive) if args.length_sensitive else None,
                              steepness=args.steepness, latency_ms=args.latency_ms, fail_rate=args.fail_rate,
                              seed=args.seed)
        return serve_forever(server, announce=lambda url: print(url, flush=True))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
