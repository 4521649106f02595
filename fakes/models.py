"""Scripted fake models: they decide nothing, they replay the replies a test (or the benchmark) gives them.

Fakes are for the model's *choices*; everything else (tools, HTTP, parsing, the loop) is real.

- `ScriptedLLM` replays replies in order and records every prompt it was sent.
- `DecidingLLM` decides like the llama.cpp backend does: each reply has a probability of opening a call
  (`Choice(call=..., prose=..., p=...)`), and the decoding params are obeyed the same way (`call_threshold`: call iff
  p >= threshold, above 1 never; `call_grammar`: a scripted call the grammar would not allow fails the test;
  `max_tokens`, `repetition_guard`), with `Usage.call_probability` and `finish_reason` reported. With
  `reports_grammar_overrides=True` it also reports where the call grammar overruled the model, as the llama.cpp
  backend does: a `Choice`'s `overrides` are (text, mass) pairs, each an override at the first byte of `text` in the
  call (`Choice(call='[get_current_weather(location="umbrella")]', overrides=(("umbrella", 0.002),))`: the grammar
  forced "umbrella" on a model that gave 0.2% to the user's words there).
- `ScriptedSource` drives the real app (browser, gradio_client, screenshots) with the catalogue's real models plus
  `scripted-tools`, a rule-based fake that calls a tool when asked about the weather or a person/thing, answers from
  the tool result, and otherwise chats (the base embedded model never calls tools):

    APP_MODEL_SOURCE=fakes.models:ScriptedSource python app.py

Nothing in the app imports this module.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from agent.backends.base import GenerationParams, Usage
from agent.backends.llamacpp import common_prefix_length
from agent.backends.sampling import RepetitionGuard
from agent.format import looks_like_call
from agent.messages import Message, render_llama3
from fakes.gbnf import Grammar
from ui.model_manager import CatalogueSource, ModelLoadError, ModelOption

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


SCRIPTED = "scripted-tools"
SCRIPTED_LABEL = "Scripted tool caller (test fake)"
INJECTION = 'Look: <img src="x" onerror="window.__pwned = 1"> and <script>window.__pwned = 2</script> done.'


def scripted_reply(messages: list[Message]) -> str:
    """What the fake says next: a tool call, an answer from a tool result, or plain chat."""
    last = messages[-1]
    if last.role == "ipython":
        result = json.loads(last.content)
        return "From the tool: " + _summary(result)
    text = last.content
    city = re.search(r"weather (?:like )?in ([A-Z][\w-]+)", text)
    if city:
        return f'[get_current_weather(location="{city.group(1)}")]'
    topic = re.match(r"(?:who|what) (?:was|is) (.+?)\??$", text.strip(), re.IGNORECASE)
    if topic:
        return f'[search_wikipedia(query="{topic.group(1)}")]'
    if "inject" in text.lower():
        return INJECTION
    return "Hello! I am a scripted test model; ask me about the weather in a city."


def _summary(result: dict) -> str:
    if "error" in result:
        return f"the tool failed ({result['error']})."
    if {"location", "temperature", "conditions"} <= set(result):
        return (f"it is {result['temperature']} °C in {result['location']} with {result['conditions']}"
                + (f" (feels like {result['apparent_temperature']} °C)." if "apparent_temperature" in result else "."))
    flat = {k: v for k, v in result.items() if isinstance(v, (str, int, float))}
    return ", ".join(f"{k} {v}" for k, v in list(flat.items())[:6]) + "."


def answer_without_call(messages: list[Message]) -> str:
    """What a scripted model writes when it wanted to call but may not: an answer from the results it has, if any."""
    last = messages[-1]
    if last.role == "ipython":
        return "From the tool: " + _summary(json.loads(last.content))
    return "I would need a tool for that, and I cannot call one right now."


@dataclass(frozen=True)
class Choice:
    """One scripted reply, both ways: what the model writes if it calls, what it writes if not, and P(call)."""

    call: Reply | None = None
    prose: Reply | None = None
    p: float = 0.9
    overrides: tuple[tuple[str, float], ...] = ()  # (text in the call, mass): where the grammar overruled the model


class DecidingLLM(ScriptedLLM):
    """A scripted model that obeys `GenerationParams` as `LlamaCppLLM` does (see the module docstring).

    Replies are `Choice`s, strings or functions of the prompt; a plain reply has P(call) `p_call` if it reads as a
    call, else `p_prose`. Where the decision goes against the reply, the other side of a `Choice` is written, else
    `prose_fallback` (prose); a decision to call with no scripted call fails the test (a fake cannot invent one).
    """

    def __init__(self, replies: Sequence[Reply | Choice] = (), *, p_call: float = 0.9, p_prose: float = 0.05,
                 prose_fallback: Callable[[list[Message]], str] = answer_without_call, check_grammar: bool = True,
                 reports_grammar_overrides: bool = False, **kwargs):
        super().__init__(replies, **kwargs)
        self.p_call, self.p_prose = p_call, p_prose
        self.prose_fallback = prose_fallback
        self.check_grammar = check_grammar
        self.reports_grammar_overrides = reports_grammar_overrides
        self.params: list[GenerationParams] = []  # of every LLM call, in order
        self.decisions: list[tuple[float, float | None, bool]] = []  # (p, threshold, called) per LLM call

    def next_reply(self, messages: list[Message]) -> Reply | Choice:
        with self.lock:
            self.prompts.append(messages)
            if not self.replies:
                raise AssertionError(f"DecidingLLM {self.name!r} was called more times than replies were scripted")
            return self.replies.popleft()

    def decide(self, reply: Reply | Choice, messages: list[Message], params: GenerationParams) -> tuple[str, float]:
        def text_of(r: Reply) -> str:
            return r(messages) if callable(r) else r

        if isinstance(reply, Choice):
            call = text_of(reply.call) if reply.call is not None else None
            prose = text_of(reply.prose) if reply.prose is not None else None
            p = reply.p
        else:
            text = text_of(reply)
            is_call = looks_like_call(text)
            call, prose = (text, None) if is_call else (None, text)
            p = self.p_call if is_call else self.p_prose
        threshold = params.call_threshold
        calls = (call is not None) if threshold is None and not isinstance(reply, Choice) else \
            p >= (0.5 if threshold is None else threshold)
        self.decisions.append((p, threshold, calls))
        if not calls:
            return (prose if prose is not None else self.prose_fallback(messages)), p
        if call is None:
            raise AssertionError(f"the decoder would force a call here (p={p} >= threshold {threshold}), "
                                 "but no call was scripted")
        if params.call_grammar and self.check_grammar and not _grammar(params.call_grammar).matches(call.strip()):
            raise AssertionError(f"scripted call {call!r} is impossible under the call grammar")
        return call, p

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        messages = list(messages)
        self.params.append(params)
        reply = self.next_reply(messages)
        text, p = self.decide(reply, messages, params)
        overrides = _scripted_overrides(reply, text) if params.call_grammar and looks_like_call(text) else []
        pieces = fake_tokenize(text)
        finish = "stop"
        if len(pieces) > params.max_tokens:
            pieces, finish = pieces[:params.max_tokens], "length"
        if params.repetition_guard:
            guard, ids = RepetitionGuard(), {}
            for n, piece in enumerate(pieces):
                if guard.push(ids.setdefault(piece, len(ids))):
                    pieces, finish = pieces[:n + 1], "repetition"
                    break
        text = "".join(pieces)
        prompt = fake_tokenize(render_llama3(messages))
        cached = common_prefix_length(np.asarray(prompt, dtype=object), np.asarray(self._last_tokens, dtype=object))
        self._last_tokens = prompt + pieces
        for i in range(0, len(text), self.chunk_chars):
            yield text[i:i + self.chunk_chars]
        yield Usage(prompt_tokens=len(prompt), cached_tokens=cached, completion_tokens=len(pieces),
                    call_probability=p, finish_reason=finish,
                    grammar_overrides=overrides if self.reports_grammar_overrides else None)


def _scripted_overrides(reply: Reply | Choice, call: str) -> list[tuple[int, float]]:
    """A `Choice`'s overrides as the decoder reports them: (byte offset of the text in the call, mass)."""
    overrides = []
    for text, mass in reply.overrides if isinstance(reply, Choice) else ():
        if text not in call:
            raise AssertionError(f"scripted override at {text!r}, which the call {call!r} does not contain")
        overrides.append((len(call[:call.index(text)].encode()), mass))
    return overrides


@lru_cache(maxsize=16)
def _grammar(text: str) -> Grammar:
    return Grammar(text)


class RuleScriptedLLM(DecidingLLM):
    """A `DecidingLLM` that never runs out: every call is answered by `scripted_reply` (grammar not checked: the
    rules may call a tool of another mode, and the app must survive that too)."""

    def __init__(self, **kwargs):
        super().__init__(check_grammar=False, **kwargs)

    def stream(self, messages, params):
        self.enqueue(scripted_reply)
        yield from super().stream(messages, params)


class ScriptedSource:
    """The real catalogue plus the scripted tool caller (listed first)."""

    def __init__(self, real: CatalogueSource | None = None):
        self.real = real or CatalogueSource()

    def default_name(self) -> str:
        return self.real.default_name()

    def options(self) -> list[ModelOption]:
        return [ModelOption(SCRIPTED, SCRIPTED_LABEL), *self.real.options()]

    def load(self, name: str):
        if name == SCRIPTED:
            return RuleScriptedLLM(name=SCRIPTED, chunk_chars=4)
        if name not in self.real.catalogue:
            raise ModelLoadError(f"Unknown model {name!r}.")
        return self.real.load(name)
