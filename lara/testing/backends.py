"""An in-process Backend double that records every call, for runner tests that need the exact
prompts without a server (the loopback server in ``openai_server`` covers the HTTP path).

Token counts use the ``words`` tokenizer, like the loopback server's usage, so tests can assert
exact sums. ``respond(messages, config)`` gives the text of each answer.
"""

from __future__ import annotations

from typing import Callable, Sequence

from lara.types import GenerateConfig, Generation, Message, ModelInfo

Respond = Callable[[list[Message], GenerateConfig], str]


class RecordingBackend:
    """Answers with ``respond`` (default: ``"42"``) and keeps ``calls`` and ``configs``."""

    def __init__(self, respond: Respond | None = None, *, guided: bool = False) -> None:
        from lara.tokens import get_tokenizer

        self.info = ModelInfo(id="recording", backend="recording")
        self.supports_guided = guided
        self.respond = respond or (lambda messages, config: "42")
        self.calls: list[list[Message]] = []
        self.configs: list[GenerateConfig] = []
        self.tok = get_tokenizer("words")

    def count_tokens(self, text: str) -> int:
        return self.tok.count(text)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Generation:
        msgs = list(messages)
        self.calls.append(msgs)
        self.configs.append(config)
        text = self.respond(msgs, config)
        return Generation(text, sum(self.tok.count(m.content) for m in msgs), self.tok.count(text))
