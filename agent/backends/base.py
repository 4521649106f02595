"""The narrow interface every LLM backend implements: messages in, a stream of text out, then token usage.

`LLM.stream(messages, params)` yields `str` chunks as they are generated and, last, one `Usage`. Nothing above this
line knows whether the text came from llama.cpp in-process, an OpenAI-compatible server or a scripted test fake.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agent.messages import Message

# Stop strings that end a reply in the chat formats we render (special tokens are also stopped on by id).
DEFAULT_STOPS = ("<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>")


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one LLM call."""

    max_tokens: int = field(default=512, metadata={"help": "Most new tokens per LLM call."})
    temperature: float = field(default=0.2, metadata={"help": "Sampling temperature; 0 is greedy."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling mass."})
    seed: int | None = field(default=None, metadata={"help": "Sampling seed, for reproducible runs."})
    stop: tuple[str, ...] = field(default=DEFAULT_STOPS, metadata={"help": "Extra stop strings."})
    # Decoding controls of the call decision (see agent/grammar.py and the llama.cpp backend).
    call_threshold: float | None = field(default=None, metadata={
        "help": "Tool eagerness: a reply may open a tool call only if the model's probability of opening one at the "
                "first generated token is at least this (0-1). None: the model decides freely; above 1: never."})
    call_grammar: str | None = field(default=None, metadata={
        "help": "GBNF grammar: once a reply opens as a call, it is generated under it (only valid calls)."})
    repetition_guard: bool = field(default=True, metadata={"help": "Stop a reply that starts repeating itself."})
    allowed_numbers: tuple[str, ...] | None = field(default=None, metadata={
        "help": "Numbers a prose reply may write (agent/numbers.py; the agent sets them for an answer that "
                "retells an article). None: any. Backends that cannot mask logits ignore it."})
    minus_first: tuple[str, ...] = field(default=(), metadata={
        "help": "Digits a prose reply may begin a number with only after a minus sign (agent/numbers.py; the agent "
                "sets them for a weather answer: no '3.2' where the tool said -3.2). Backends that cannot mask ignore "
                "them."})


# The app's sampling defaults, defined once: the CLI's flags and the UI's sliders read them from here.
DEFAULT_GENERATION = GenerationParams()


@dataclass
class Usage:
    """Token counts and timings of one LLM call."""

    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens reused from the KV cache, not evaluated again
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    duration_s: float = 0.0
    prompt_eval_s: float = 0.0  # llama.cpp's own prefill time, when the backend knows it
    decode_s: float = 0.0
    call_probability: float | None = None  # P(the reply opens a tool call) at the first generated token, if read
    finish_reason: str | None = None  # "stop", "length" (cut at max_tokens), "repetition" (stopped by the guard)
    token_counts_known: bool = True  # False: the server reported no usage, so the counts above are unknown, not 0
    # Where a call grammar refused the model's token: (byte offset in the reply, the probability the model gave to
    # what the grammar allowed there). None: this backend cannot tell; [] under a grammar: it never had to.
    grammar_overrides: list[tuple[int, float]] | None = None

    @property
    def evaluated_tokens(self) -> int:
        return max(self.prompt_tokens - self.cached_tokens, 0)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "evaluated_tokens": self.evaluated_tokens,
            "completion_tokens": self.completion_tokens,
            "time_to_first_token_s": round(self.time_to_first_token_s, 4),
            "duration_s": round(self.duration_s, 4),
            "prompt_eval_s": round(self.prompt_eval_s, 4),
            "decode_s": round(self.decode_s, 4),
            "call_probability": None if self.call_probability is None else round(self.call_probability, 4),
            "finish_reason": self.finish_reason,
            "token_counts_known": self.token_counts_known,
            "grammar_overrides": None if self.grammar_overrides is None else [
                [offset, round(mass, 6)] for offset, mass in self.grammar_overrides],
        }


@runtime_checkable
class LLM(Protocol):
    name: str

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        """Yield text chunks as they are generated, then exactly one `Usage`."""
        ...

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """How many prompt tokens these messages render to (for trimming history to the context)."""
        ...

    @property
    def context_length(self) -> int: ...


class BackendError(RuntimeError):
    """The model could not be loaded or could not answer; the message says what to do."""
