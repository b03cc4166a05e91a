"""``mock``: a model that answers what you tell it, so every path of lara runs offline in seconds.

Modelled on inspect_ai's ``mockllm`` and lm-eval's ``dummy``. ``--model mock -M answer=TEXT``
answers TEXT to every call (``\\n`` and ``\\t`` in TEXT are expanded, so a shell argument can hold a
multi-line program); ``-M answers=FILE.jsonl`` answers per sample from lines
``{"sample_id": ..., "answer": ...}`` (the sample comes from the engine's request context; a sample
with no line gets ``answer`` if given, else the call fails with a data error that becomes the
sample's error record); ``-M latency_s=0.2`` sleeps per call. Token usage is counted with the
``tokenizer`` (default ``words``: dependency-free and fast).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Sequence

from lara.backends.base import EndpointLimits
from lara.errors import ConfigError, DataError
from lara.jsonl import read_jsonl
from lara.protocols import Failure, current_request
from lara.registry import backends
from lara.types import GenerateConfig, Generation, Message, ModelInfo

DEFAULT_ANSWER = "mock answer"


def expand_escapes(text: str) -> str:
    """``\\n`` -> newline, ``\\t`` -> tab, ``\\\\`` -> backslash; nothing else changes."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@backends.register("mock", aliases=("mockllm",))
class MockBackend:
    """Fixed or per-sample answers, no model: for smoke tests, demos and CI (`-M answer=TEXT`)."""

    def __init__(
        self,
        limits: EndpointLimits | None = None,
        model: str | None = None,
        answer: str | None = None,
        answers: str | None = None,
        latency_s: float = 0.0,
        context_window: int | None = None,
        tokenizer: str = "words",
        max_connections: int = 64,
    ) -> None:
        if latency_s < 0:
            raise ConfigError(f"mock backend: latency_s must be >= 0, got {latency_s}")
        self.answer = expand_escapes(str(answer)) if answer is not None else None
        self.by_sample: dict[str, str] = {}
        if answers:
            path = Path(answers).expanduser()
            for line, row in read_jsonl(path, "mock answers file"):
                if "sample_id" not in row or "answer" not in row:
                    raise DataError("needs the keys 'sample_id' and 'answer'", where=f"{path}:{line}")
                self.by_sample[str(row["sample_id"])] = str(row["answer"])
        self.latency_s = float(latency_s)
        self.tokenizer_name = tokenizer
        self._tokenizer: Any = None
        self.calls = 0
        endpoint = f"mock://{model or 'mock'}"
        if self.answer is not None or answers:
            # the response cache keys on the endpoint, not on parameters: different scripted answers
            # must not share cached replies
            from lara.config import short_hash

            digest = hashlib.sha256(Path(answers).expanduser().read_bytes()).hexdigest() if answers else None
            endpoint += "#" + short_hash({"answer": self.answer, "answers": digest})
        (limits or EndpointLimits()).set(endpoint, max_connections)
        self.info = ModelInfo(id=model or "mock", backend="mock", context_window=context_window,
                              endpoint=endpoint, parameters={"tokenizer": tokenizer})

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from lara.tokens import get_tokenizer

            self._tokenizer = get_tokenizer(self.tokenizer_name)
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return int(self.tokenizer.count(text))

    def reply_for(self, sample_id: str | None) -> str:
        if sample_id is not None and sample_id in self.by_sample:
            return self.by_sample[sample_id]
        if self.answer is not None:
            return self.answer
        if self.by_sample:
            raise DataError(f"mock backend: no answer for sample {sample_id!r} in the answers file")
        return DEFAULT_ANSWER

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        text = self.reply_for(current_request().sample_id)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        self.calls += 1
        return Generation(
            text=text,
            input_tokens=sum(self.count_tokens(m.content) for m in messages),
            output_tokens=self.count_tokens(text),
            finish_reason="stop",
            latency_s=self.latency_s,
            model=self.info.id,
        )

    def classify(self, exc: BaseException) -> Failure:
        return Failure(type(exc).__name__, "fatal")

    async def aclose(self) -> None:
        return None
