"""In-process llama.cpp backend (llama-cpp-python), one lock per loaded model.

The prompt is rendered by us (Meta's layout for Llama 3.x, the GGUF's own chat template otherwise) and passed as
tokens, so a prompt that extends the previous one only evaluates the new suffix. A bounded `KVStateCache` keeps the KV
caches of other conversations, so switching between users or modes does not prefill from scratch.

Why not llama-cpp-python's `LlamaRAMCache`: it saves a full state after *every* completion, and that state includes
the logits buffer (n_batch x vocabulary floats: 100 MB for SmolLM2, 260 MB for Llama 3.2), which its byte budget does
not even count. Measured here: 0.2-0.4 s per save and per load for a 135M model. `KVStateCache` copies only the KV
cells of the sequence (about 23 kB per token for SmolLM2-135M: 10 MB, ~10 ms for a 450-token conversation) and only
when the next prompt is about to overwrite a conversation worth keeping.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.backends import llama_thread
from agent.backends.base import BackendError, GenerationParams, Usage
from agent.backends.llama_loader import open_llama
from agent.backends.turns import TurnGate
from agent.format import classify_opening  # how the loop reads an opening: prose must never read as a call
from agent.messages import ChatTemplate, Message, is_llama3_template, render_llama3
from models.gguf import check_lora_file, check_model_file


class LlamaCppLLM:
    """A GGUF model (plus an optional GGUF LoRA adapter) loaded with llama-cpp-python."""

    reports_grammar_overrides = True  # Usage.grammar_overrides says where the call grammar overruled the model

    def __init__(
        self,
        model_path: str | os.PathLike,
        lora_path: str | os.PathLike | None = None,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        ram_cache_mb: int = 256,
        verbose: bool = False,
        min_saved_tokens: int = 32,
        min_restore_gain: int = 8,
    ):
        # Check files first: llama-cpp-python segfaults on the first generation with a bad lora_path.
        info = check_model_file(model_path)
        if lora_path is not None:
            check_lora_file(lora_path, info)
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendError("llama-cpp-python is not installed: pip install -r requirements.txt")
        self.name = name or Path(model_path).stem
        self.model_path = Path(model_path)
        self.lora_path = Path(lora_path) if lora_path else None
        try:
            self.llama = llama_thread.run(  # the one loader (safe on AMX CPUs), on the one llama.cpp thread
                open_llama, model_path,
                lora_path=str(lora_path) if lora_path else None,
                n_ctx=n_ctx,
                n_threads=n_threads or max(os.cpu_count() or 1, 1),
                n_threads_batch=n_threads or max(os.cpu_count() or 1, 1),  # prompts too (llama.cpp: all cores)
                verbose=verbose,
            )
        except Exception as exc:
            raise BackendError(f"llama.cpp could not load {model_path}: {exc}") from exc
        # Saved KV states of other conversations (0 MB: none; the live KV cache still serves the next call).
        self.kv_states = KVStateCache(ram_cache_mb << 20) if ram_cache_mb else None
        self.kv_stats = KVCacheStats()
        self.min_saved_tokens = min_saved_tokens  # a conversation shorter than this is cheaper to prefill again
        self.min_restore_gain = min_restore_gain  # restore a saved state only if it saves at least this many tokens
        template = info.chat_template
        self.is_llama3 = is_llama3_template(template)
        self._template = None
        if not self.is_llama3:
            if not template:
                raise BackendError(f"{model_path} has no chat template in its GGUF metadata")
            vocab = self.llama
            self._template = ChatTemplate(
                template,
                bos_token=vocab.detokenize([vocab.token_bos()], special=True).decode("utf-8", "replace"),
                eos_token=vocab.detokenize([vocab.token_eos()], special=True).decode("utf-8", "replace"),
            )
        self._special_text = special_token_pattern(self.llama)
        self.lock = threading.Lock()  # one LLM call at a time
        self.turn_gate = TurnGate()  # one agent turn at a time, in arrival order (agent/backends/turns.py)

    @property
    def context_length(self) -> int:
        return self.llama.n_ctx()

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if self.is_llama3:
            return render_llama3(messages, add_generation_prompt)
        return self._template.render(messages, add_generation_prompt)

    def tokenize(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        text = self.render(self.inert(messages), add_generation_prompt)
        # The rendered text already carries BOS where the template wants it; special=True parses header tokens.
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def inert(self, messages: Sequence[Message]) -> list[Message]:
        """Messages whose contents cannot turn into this model's control tokens once the prompt is tokenized.

        The template's own special tokens must be parsed, so the whole prompt is tokenized with special=True; a
        control token's text inside a message (`</s>`, `<|endoftext|>`, `<file_sep>`, ...) gets a zero-width
        non-joiner after its first character and is read as ordinary text. Other text is untouched, token for token.
        """
        if self._special_text is None:
            return list(messages)
        def escape(match: re.Match) -> str:
            return match.group(0)[0] + "\u200c" + match.group(0)[1:]
        return [replace(m, content=self._special_text.sub(escape, m.content))
                if m.content and self._special_text.search(m.content) else m for m in messages]

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.tokenize(messages))

    def stream(self, messages: Sequence[Message], params: GenerationParams,
               logits_processor: Any = None) -> Iterator[str | Usage]:
        """`_stream`, computed on the process's one llama.cpp thread (agent/backends/llama_thread.py)."""
        return llama_thread.stream(lambda: self._stream(messages, params, logits_processor))

    def _stream(self, messages: Sequence[Message], params: GenerationParams,
                logits_processor: Any = None) -> Iterator[str | Usage]:
        """Stream a reply under `params` (call threshold, call grammar, repetition guard: see decoding.py).

        `logits_processor(input_ids, logits) -> logits`, if given, rewrites the logits before every token (slow: a
        Python call over the whole vocabulary per token; for experiments only).
        """
        from agent.backends.decoding import Decoder, token_table

        tokens = self.tokenize(messages)
        if len(tokens) + 1 >= self.context_length:
            raise BackendError(f"prompt of {len(tokens)} tokens does not fit the context of {self.context_length}")
        max_tokens = min(params.max_tokens, self.context_length - len(tokens) - 1)
        with self.lock:
            start = time.perf_counter()
            table = token_table(self.llama)
            try:
                grammar = table.grammar(params.call_grammar) if params.call_grammar else None
            except ValueError as exc:
                raise BackendError(str(exc)) from exc
            self._reset_counters()
            usage = Usage(prompt_tokens=len(tokens))
            self._bring_best_state(tokens)
            cached = self._prefill(tokens)
            decoder = Decoder(self.llama, table, params, max_tokens, grammar, classify_opening, logits_processor)
            first = None
            for text in decoder.run():
                if first is None:
                    first = time.perf_counter()
                yield text
            usage.duration_s = time.perf_counter() - start
            usage.time_to_first_token_s = (first or time.perf_counter()) - start
            self._read_counters(usage)
            usage.cached_tokens = cached  # llama.cpp counts the prompt's last token (evaluated alone) as decoding
            # llama.cpp does not evaluate the last sampled token, so count what was generated when that is more.
            usage.completion_tokens = max(usage.completion_tokens, decoder.generated)
            usage.call_probability = decoder.call_probability
            usage.finish_reason = decoder.finish_reason
            usage.grammar_overrides = decoder.grammar_overrides
        yield usage

    def _prefill(self, tokens: Sequence[int]) -> int:
        """Evaluate what the KV cache lacks of the prompt, at least its last token (its logits start the reply).

        The last token is evaluated on its own: llama.cpp's logits for a token differ with the size of the batch it
        was in (measured: P(call) 0.27 after a 15-token batch, 0.33 alone, same prompt), and the call decision must
        not depend on what happened to be cached. Costs one more decode call than a single batch.
        """
        live = self.llama.input_ids[: self.llama.n_tokens]
        shared = min(common_prefix_length(live, np.asarray(tokens, dtype=np.intc)), len(tokens) - 1)
        self.llama.n_tokens = shared
        if shared < len(tokens) - 1:
            self.llama.eval(tokens[shared:-1])
        self.llama.eval(tokens[-1:])
        return shared

    # llama.cpp's own counters: how many prompt tokens it really evaluated, and how long prefill and decode took.
    def _reset_counters(self) -> None:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(self.llama.ctx)

    def _read_counters(self, usage: Usage) -> None:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(self.llama.ctx)
        usage.cached_tokens = max(usage.prompt_tokens - perf.n_p_eval, 0)
        usage.completion_tokens = perf.n_eval
        usage.prompt_eval_s = perf.t_p_eval_ms / 1000
        usage.decode_s = perf.t_eval_ms / 1000

    # The KV cache: llama.cpp holds one conversation at a time; other conversations wait in `kv_states`.
    def clear_cache(self) -> None:
        """Forget the live KV cache and every saved state: the next call prefills its whole prompt."""
        llama_thread.run(self._clear_cache)

    def _clear_cache(self) -> None:
        with self.lock:
            self.llama.reset()
            if self.kv_states is not None:
                self.kv_states.clear()

    def prewarm(self, prompts: Sequence[Sequence[Message]]) -> tuple[int, float]:
        return llama_thread.run(self._prewarm, prompts)

    def _prewarm(self, prompts: Sequence[Sequence[Message]]) -> tuple[int, float]:
        """Prefill prompts many conversations start with (each mode's system prompt) and keep their KV states.

        Meant for start-up, before the first user: otherwise the first user of each mode waits for its system prompt
        (hundreds of tokens). Returns (tokens evaluated, seconds).
        """
        import llama_cpp

        evaluated, start = 0, time.perf_counter()
        with self.lock:
            from agent.backends.decoding import token_table

            token_table(self.llama)  # the decoder's per-token facts (~0.4 s), read now rather than on the first reply
            for messages in prompts:
                tokens = self.tokenize(messages, add_generation_prompt=False)
                self._bring_best_state(tokens)
                shared = common_prefix_length(self.llama.input_ids[: self.llama.n_tokens],
                                              np.asarray(tokens, dtype=np.intc))
                if shared < len(tokens):
                    self.llama.n_tokens = shared
                    self.llama.eval(tokens[shared:])
                    llama_cpp.llama_synchronize(self.llama.ctx)
                    evaluated += len(tokens) - shared
                if self.kv_states is not None:
                    self._save_live()
        return evaluated, time.perf_counter() - start

    def _bring_best_state(self, tokens: Sequence[int]) -> None:
        """Before a call: keep the live KV cache, or swap in the saved conversation that shares more of the prompt.

        The live conversation is saved first when the call is about to overwrite a good part of it (another user or
        mode): its tokens past the shared prefix would otherwise have to be prefilled again when it comes back.
        """
        if self.kv_states is None:
            return
        prompt = np.asarray(tokens, dtype=np.intc)
        live = self.llama.input_ids[: self.llama.n_tokens]
        live_shared = common_prefix_length(live, prompt)
        saved, saved_shared = self.kv_states.longest_prefix(prompt)
        restore = saved is not None and saved_shared >= live_shared + self.min_restore_gain
        if restore or len(live) - live_shared >= self.min_saved_tokens:
            self._save_live()
        if restore:
            self._restore(saved)

    def _save_live(self) -> None:
        live = self.llama.input_ids[: self.llama.n_tokens]
        if len(live) < self.min_saved_tokens or self.kv_states.covers(live):
            return
        import llama_cpp

        start = time.perf_counter()
        size = llama_cpp.llama_state_seq_get_size(self.llama.ctx, 0)
        data = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self.llama.ctx, data, size, 0)
        if written:
            self.kv_states.add(SavedState(live.copy(), data, int(written)))
            self.kv_stats.saves += 1
            self.kv_stats.save_s += time.perf_counter() - start

    def _restore(self, saved: SavedState) -> None:
        import llama_cpp

        start = time.perf_counter()
        if llama_cpp.llama_state_seq_set_data(self.llama.ctx, saved.data, saved.nbytes, 0) != saved.nbytes:
            # The KV cache could not take the state back (full?): start this prompt from nothing rather than guess.
            self.llama.reset()
            self.kv_states.discard(saved)
            return
        n = len(saved.tokens)
        self.llama.input_ids[:n] = saved.tokens
        self.llama.n_tokens = n
        self.llama._requires_eval = True  # the restored KV has no logits: llama-cpp-python re-evaluates a token
        self.kv_stats.restores += 1
        self.kv_stats.restore_s += time.perf_counter() - start


def special_token_pattern(llama: Any) -> re.Pattern | None:
    """A regex for the texts of the vocabulary's control tokens (what llama.cpp parses only with special=True)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    flags = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    texts = set()
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        if llama_cpp.llama_vocab_get_attr(vocab, token) & flags:
            text = llama.detokenize([token], special=True).decode("utf-8", "replace")
            if len(text) > 1:
                texts.add(text)
    if not texts:
        return None
    return re.compile("|".join(re.escape(t) for t in sorted(texts, key=len, reverse=True)))


@dataclass
class KVCacheStats:
    """What swapping conversations in and out of the KV cache cost so far (read by the benchmark)."""

    saves: int = 0
    restores: int = 0
    save_s: float = 0.0
    restore_s: float = 0.0


@dataclass(eq=False)
class SavedState:
    """The KV cells of one conversation (llama.cpp sequence 0) and the tokens they hold."""

    tokens: np.ndarray
    data: Any  # ctypes uint8 array, handed back to llama.cpp as is
    nbytes: int


class KVStateCache:
    """Saved conversation states, bounded in bytes; the least recently used goes first when full."""

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = capacity_bytes
        self._states: OrderedDict[int, SavedState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._states.values())

    def longest_prefix(self, tokens: np.ndarray) -> tuple[SavedState | None, int]:
        """The saved state sharing the longest prefix with `tokens`, and that length (marked as recently used)."""
        best, best_shared = None, 0
        for state in self._states.values():
            shared = common_prefix_length(state.tokens, tokens)
            if shared > best_shared:
                best, best_shared = state, shared
        if best is not None:
            self._states.move_to_end(id(best))
        return best, best_shared

    def covers(self, tokens: np.ndarray) -> bool:
        """Is there a saved state that already holds all of `tokens` (and maybe more)?"""
        return any(common_prefix_length(s.tokens, tokens) == len(tokens) for s in self._states.values())

    def add(self, state: SavedState) -> None:
        if state.nbytes > self.capacity_bytes:
            return
        # A saved prefix of the new state is useless now: the new one serves every prompt the old one served.
        for key, old in list(self._states.items()):
            if common_prefix_length(old.tokens, state.tokens) == len(old.tokens):
                del self._states[key]
        self._states[id(state)] = state
        while self.nbytes > self.capacity_bytes:
            self._states.popitem(last=False)

    def discard(self, state: SavedState) -> None:
        self._states.pop(id(state), None)

    def clear(self) -> None:
        self._states.clear()


def common_prefix_length(a: np.ndarray | Sequence, b: np.ndarray | Sequence) -> int:
    """How many leading tokens two token sequences (arrays or lists) share."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n
