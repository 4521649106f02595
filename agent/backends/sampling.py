"""Pieces of the llama.cpp token loop that stand on their own: the native sampler chain, keeping only some tokens'
logits, the text stream (UTF-8 joined across tokens, stop strings held back) and the repetition guard.

`agent.backends.decoding.Decoder` puts them together; `fakes.models.DecidingLLM` uses the same repetition guard, so a
scripted model stops where the real one would.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from agent.backends.base import GenerationParams

try:
    import llama_cpp
except ImportError:  # the pure helpers (RepetitionGuard, TextStream) still work without it
    llama_cpp = None


class RepetitionGuard:
    """Notices when the last tokens are one span repeated: ABCABCABC... (exact repeats of any period up to 64)."""

    def __init__(self, min_span: int = 32, max_period: int = 64, long_period: int = 20):
        self.min_span, self.max_period, self.long_period = min_span, max_period, long_period
        self.tokens: list[int] = []
        self.positions: dict[int, list[int]] = {}

    def push(self, token: int) -> bool:
        """Add a token; True if the reply now ends in a loop."""
        tokens, n = self.tokens, len(self.tokens)
        tokens.append(token)
        seen = self.positions.setdefault(token, [])
        looping = False
        for previous in reversed(seen):
            period = n - previous
            if period > self.max_period:
                break
            repeats = max(2 if period >= self.long_period else 3, -(-self.min_span // period))
            span = repeats * period
            if span <= n + 1 and tokens[-span:] == tokens[-period:] * repeats:
                looping = True
                break
        seen.append(n)
        return looping


class TextStream:
    """Token bytes in, text out: UTF-8 split across tokens is joined; text that may begin a stop string is held."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self._starts = frozenset(s[0] for s in self.stops)  # text without these cannot begin a stop string
        self._longest = max((len(s) for s in self.stops), default=0)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.text = ""  # everything decoded so far, stop string excluded
        self.stopped = False

    def push(self, data: bytes) -> str:
        self.pending += self._decoder.decode(data)
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0:
                self.pending, self.stopped = self.pending[:at], True
        if self.stopped:
            return self.flush()
        hold = 0
        tail = self.pending[-self._longest:] if self._longest else ""
        for stop in self.stops if not self._starts.isdisjoint(tail) else ():
            for k in range(min(len(stop) - 1, len(self.pending)), hold, -1):
                if self.pending.endswith(stop[:k]):
                    hold = k
                    break
        out = self.pending[:len(self.pending) - hold]
        self.pending = self.pending[len(out):]
        self.text += out
        return out

    def flush(self) -> str:
        out = self.pending + ("" if self.stopped else self._decoder.decode(b"", final=True))
        self.pending = ""
        self.text += out
        return out


def keep_only(logits: np.ndarray, ids: np.ndarray) -> None:
    """Every logit but those of `ids` set to -inf (in place: llama.cpp samples from this buffer)."""
    kept = logits[ids].copy()
    logits[:] = -math.inf
    logits[ids] = kept


def sampler_chain(params: GenerationParams) -> Any:
    """llama.cpp's sampler chain with `create_completion`'s defaults (top_k 40, min_p 0.05), or greedy at T=0."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    if params.temperature <= 0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    seed = llama_cpp.LLAMA_DEFAULT_SEED if params.seed is None else params.seed & 0xFFFFFFFF
    add(chain, llama_cpp.llama_sampler_init_top_k(40))
    add(chain, llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
    add(chain, llama_cpp.llama_sampler_init_min_p(0.05, 1))
    add(chain, llama_cpp.llama_sampler_init_temp(params.temperature))
    add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain
