"""A scripted fake LLM for tests: it decides nothing, it replays the replies a test gives it.

Fakes are for the model's *choices*; everything else in the tests (tools, HTTP, parsing, the loop) is real.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from agent.backends.base import GenerationParams, Usage
from agent.backends.llamacpp import common_prefix_length
from agent.messages import Message, render_llama3

Reply = str | Callable[[list[Message]], str]
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def fake_tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


class ScriptedLLM:
    """Replays scripted replies in order, streamed in small chunks, and records every prompt it was sent.

    A reply may be a string or a function of the prompt messages (to answer from a tool result). Usage counts are
    computed on a simple word tokenisation, with the common prefix of consecutive prompts counted as cached, like a
    KV cache would.
    """

    def __init__(self, replies: Sequence[Reply] = (), name: str = "scripted", context_length: int = 8192,
                 chunk_chars: int = 3):
        self.name = name
        self.replies: deque[Reply] = deque(replies)
        self.prompts: list[list[Message]] = []
        self.chunk_chars = chunk_chars
        self._context_length = context_length
        self._last_tokens: list[str] = []
        self.lock = threading.Lock()

    @property
    def context_length(self) -> int:
        return self._context_length

    def enqueue(self, *replies: Reply) -> ScriptedLLM:
        self.replies.extend(replies)
        return self

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(fake_tokenize(render_llama3(messages)))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        with self.lock:
            self.prompts.append(list(messages))
            if not self.replies:
                raise AssertionError(f"ScriptedLLM {self.name!r} was called more times than replies were scripted")
            reply = self.replies.popleft()
        text = reply(list(messages)) if callable(reply) else reply
        tokens = fake_tokenize(render_llama3(messages))
        cached = common_prefix_length(np.asarray(tokens, dtype=object), np.asarray(self._last_tokens, dtype=object))
        self._last_tokens = tokens + fake_tokenize(text)
        for i in range(0, len(text), self.chunk_chars):
            yield text[i:i + self.chunk_chars]
        yield Usage(prompt_tokens=len(tokens), cached_tokens=cached, completion_tokens=len(fake_tokenize(text)))
