"""An in-process Backend double that records every call, for tests that need the exact prompts
without a server (the loopback server in ``openai_server`` covers the HTTP path).

Token counts use the ``words`` tokenizer, like the loopback server's usage, so tests can assert
exact sums. ``respond(messages, config)`` gives the text of each answer, or an exception to raise
(a failed call); a plain string answers every call with it. ``scripted(fn)`` builds one from a
function of the last message's text, as judge tests script their judge.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from lara.protocols import Failure
from lara.types import GenerateConfig, Generation, Message, ModelInfo

Respond = Callable[[list[Message], GenerateConfig], Any]


class RecordingBackend:
    """Answers with ``respond`` (default: ``"42"``) and keeps ``calls`` and ``configs``."""

    def __init__(self, respond: Respond | str | None = None, *, guided: bool = False,
                 context_window: int | None = None, model_id: str = "recording",
                 endpoint: str | None = None) -> None:
        from lara.tokens import get_tokenizer

        self.info = ModelInfo(id=model_id, backend="recording", context_window=context_window,
                              endpoint=endpoint or f"mem://{model_id}")
        self.supports_guided = guided
        if respond is None or isinstance(respond, str):
            text = respond or "42"
            self.respond: Respond = lambda messages, config: text
        else:
            self.respond = respond
        self.calls: list[list[Message]] = []
        self.configs: list[GenerateConfig] = []
        self.tok = get_tokenizer("words")

    def count_tokens(self, text: str) -> int:
        return self.tok.count(text)

    def classify(self, exc: BaseException) -> Failure:
        return Failure(type(exc).__name__, "fatal")

    async def aclose(self) -> None:
        return None

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        msgs = list(messages)
        self.calls.append(msgs)
        self.configs.append(config)
        text = self.respond(msgs, config)
        if isinstance(text, BaseException):
            raise text
        return Generation(text, sum(self.tok.count(m.content) for m in msgs), self.tok.count(text))

    @property
    def prompts(self) -> list[str]:
        """The last message's text of every call."""
        return [c[-1].content for c in self.calls]

    @property
    def last(self) -> list[Message] | None:
        return self.calls[-1] if self.calls else None


def scripted(fn: Callable[[str], str | BaseException], model_id: str = "scripted") -> RecordingBackend:
    """A recording backend answering ``fn(last message text)`` (an exception is raised)."""
    return RecordingBackend(lambda messages, config: fn(messages[-1].content), model_id=model_id)
