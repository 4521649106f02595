"""The model under test, wrapped for the benchmark: scripted decisions steered through the real model, calls recorded.

The embedded base model never calls tools by itself (and, left alone, sometimes copies a call it sees in the
history). So that every turn does what the script says, each call of a turn can be given a plan:
- an exact text (a tool turn's decision, e.g. `[get_current_weather(location="Oslo")]`): a logits processor leaves
  only the next scripted token possible at each step, so llama.cpp still decodes every token one by one, through the
  real model, into the real KV cache, and its counters count them like any generated token;
- `PROSE` (an answer): the reply may not *open* like a tool call; once its opening reads as prose it is left alone.
Only the choice is scripted; the cost is real, and answers are the model's own words.

`forget_cache=True` makes every call start from an empty KV cache (the baseline strategy: no reuse at all).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agent.backends.base import GenerationParams, Usage
from agent.backends.decoding import CLOSING_MARGIN
from agent.backends.llamacpp import common_prefix_length
from agent.format import classify_opening
from agent.messages import Message, render_llama3

PROSE = "<prose>"  # plan entry: answer in prose (the opening may not look like a tool call)


@dataclass
class CallRecord:
    """One LLM call as the benchmark saw it."""

    messages: list[Message]
    text: str
    usage: Usage
    forced: bool  # its text was scripted (a tool decision)
    started_at: float  # time.perf_counter() when the call was made
    first_text_at: float | None  # when its first text chunk arrived
    ended_at: float
    thread: int = field(default_factory=threading.get_ident)


class ForcedReply:
    """A llama.cpp logits processor: at step i only `token_ids[i]` may be sampled; after the last, only `end_id`."""

    def __init__(self, token_ids: Sequence[int], end_id: int):
        self.sequence = [*token_ids, end_id]
        self.step = 0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        target = self.sequence[min(self.step, len(self.sequence) - 1)]
        self.step += 1
        forced = np.full_like(scores, -np.inf)
        forced[target] = 0.0
        return forced


class ProseOpening:
    """A llama.cpp logits processor: the reply may not open like a tool call; once it reads as prose, it is free.

    While the opening is undecided, the most likely tokens that would start a call (`[`, `{`, a backtick, a name
    followed by `(`) are ruled out until the best remaining one keeps the opening prose-like. (Only the top
    `candidates` are looked at: enough for greedy decoding, which the benchmark uses.)
    """

    def __init__(self, detokenize, candidates: int = 64):
        self.detokenize = detokenize  # token ids -> text
        self.candidates = candidates
        self.prompt_length: int | None = None
        self.free = False

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.free:
            return scores
        if self.prompt_length is None:
            self.prompt_length = len(input_ids)
        so_far = self.detokenize(list(input_ids[self.prompt_length:]))
        if classify_opening(so_far) == "prose":
            self.free = True
            return scores
        k = min(self.candidates, len(scores))
        top = np.argpartition(scores, -k)[-k:]
        for token in top[np.argsort(scores[top])[::-1]]:
            if _keeps_prose(so_far + self.detokenize([int(token)])):
                return scores
            scores[token] = -np.inf
        return scores


_PLAIN_WORD = re.compile(r"[A-Za-z][\w.]*")


def _keeps_prose(text: str) -> bool:
    """Prose, or still undecided only because it is a plain word so far (not `[`, `{`, a backtick, a tag, `name(`)."""
    verdict = classify_opening(text)
    body = text.lstrip()
    return verdict == "prose" or (verdict == "undecided" and (not body or bool(_PLAIN_WORD.fullmatch(body))))


class BenchLLM:
    """Wraps an `LLM`: steers each call by this thread's plan, optionally forgets the KV cache, records every call."""

    def __init__(self, inner: Any, forget_cache: bool = False):
        self.inner = inner
        self.name = getattr(inner, "name", "model")
        self.forget_cache = forget_cache
        self._local = threading.local()

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    @property
    def turn_gate(self):
        """The model's `TurnGate`: the agent holds it for each turn, as it does on the model itself."""
        return getattr(self.inner, "turn_gate", None)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(messages)

    @property
    def can_steer(self) -> bool:
        """Steering needs llama.cpp's sampler (a fake or a remote server cannot be steered token by token)."""
        return hasattr(self.inner, "llama")

    def plan_calls(self, plan: Sequence[str]) -> None:
        """This thread's next calls, in order: an exact text to emit, or `PROSE`; calls past the plan are free."""
        if plan and not self.can_steer:
            raise ValueError(f"{self.name} cannot be steered; use --decisions model")
        self._local.plan = list(plan)

    def take_records(self) -> list[CallRecord]:
        """This thread's calls since the last take."""
        records = getattr(self._local, "records", [])
        self._local.records = []
        return records

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        plan = getattr(self._local, "plan", [])
        step = plan.pop(0) if plan else None
        kwargs: dict[str, Any] = {}
        if step is not None:
            from llama_cpp import LogitsProcessorList

            llama = self.inner.llama
            if step == PROSE:
                processor = ProseOpening(lambda ids: llama.detokenize(ids).decode("utf-8", "replace"))
            else:
                ids = llama.tokenize(step.encode("utf-8"), add_bos=False, special=False)
                processor = ForcedReply(ids, llama.token_eos())
                # Room past the scripted text: the decoder starts closing a call this near its token limit.
                params = replace(params, max_tokens=max(params.max_tokens, len(ids) + 1 + CLOSING_MARGIN))
            kwargs["logits_processor"] = LogitsProcessorList([processor])
        if self.forget_cache and hasattr(self.inner, "clear_cache"):
            self.inner.clear_cache()
        started, first, text, usage = time.perf_counter(), None, "", Usage()
        for chunk in self.inner.stream(messages, params, **kwargs):
            if isinstance(chunk, Usage):
                usage = chunk
            else:
                if first is None and chunk:
                    first = time.perf_counter()
                text += chunk
            yield chunk
        forced = step is not None and step != PROSE
        record = CallRecord(list(messages), text, usage, forced, started, first, time.perf_counter())
        self._local.__dict__.setdefault("records", []).append(record)


# ----------------------------------------------------------------------------------- tokens, for the ideal time

_WORDS = re.compile(r"\w+|\s+|[^\w\s]")


class TokenView:
    """The model's own token ids for a prompt and for a reply (a word split for models without a tokenizer here)."""

    def __init__(self, llm: Any):
        self.llm = getattr(llm, "inner", llm)

    def prompt(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list:
        if hasattr(self.llm, "tokenize"):
            return list(self.llm.tokenize(messages, add_generation_prompt))
        return _WORDS.findall(render_llama3(messages, add_generation_prompt))

    def reply(self, text: str) -> list:
        if hasattr(self.llm, "llama"):
            return list(self.llm.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        return _WORDS.findall(text)


class SeenTokens:
    """Every token sequence the model has evaluated so far: what a perfect, unbounded prefix cache would hold."""

    def __init__(self):
        self._sequences: list[list] = []

    def new_tokens(self, prompt: Sequence) -> int:
        """Tokens of `prompt` past its longest shared prefix with anything seen: the minimum any cache must prefill."""
        best = max((common_prefix_length(seen, prompt) for seen in self._sequences), default=0)
        return len(prompt) - best

    def add(self, sequence: Sequence) -> None:
        self._sequences.append(list(sequence))
