"""In-process llama.cpp backend (llama-cpp-python), one lock per loaded model.

The prompt is rendered by us (Meta's layout for Llama 3.x, the GGUF's own chat template otherwise) and passed as
tokens, so a prompt that extends the previous one only evaluates the new suffix. An optional `LlamaRAMCache` keeps the
states of other conversations, so switching between users or modes does not prefill from scratch.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from agent.backends.base import BackendError, GenerationParams, Usage
from agent.messages import ChatTemplate, Message, is_llama3_template, render_llama3
from models.gguf import check_lora_file, check_model_file


class LlamaCppLLM:
    """A GGUF model (plus an optional GGUF LoRA adapter) loaded with llama-cpp-python."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        lora_path: str | os.PathLike | None = None,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        ram_cache_mb: int = 256,
        verbose: bool = False,
    ):
        # Check files first: llama-cpp-python segfaults on the first generation with a bad lora_path.
        info = check_model_file(model_path)
        if lora_path is not None:
            check_lora_file(lora_path, info)
        try:
            from llama_cpp import Llama, LlamaRAMCache
        except ImportError as exc:
            raise BackendError("llama-cpp-python is not installed: pip install -r requirements.txt") from exc
        self.name = name or Path(model_path).stem
        self.model_path = Path(model_path)
        self.lora_path = Path(lora_path) if lora_path else None
        try:
            self.llama = Llama(
                model_path=str(model_path),
                lora_path=str(lora_path) if lora_path else None,
                n_ctx=n_ctx,
                n_threads=n_threads or max(os.cpu_count() or 1, 1),
                verbose=verbose,
            )
        except Exception as exc:
            raise BackendError(f"llama.cpp could not load {model_path}: {exc}") from exc
        if ram_cache_mb:
            self.llama.set_cache(LlamaRAMCache(capacity_bytes=ram_cache_mb << 20))
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
        self.lock = threading.Lock()

    @property
    def context_length(self) -> int:
        return self.llama.n_ctx()

    def render(self, messages: Sequence[Message]) -> str:
        if self.is_llama3:
            return render_llama3(messages)
        return self._template.render(messages)

    def tokenize(self, messages: Sequence[Message]) -> list[int]:
        text = self.render(messages)
        # The rendered text already carries BOS where the template wants it; special=True parses header tokens.
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.tokenize(messages))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        tokens = self.tokenize(messages)
        if len(tokens) + 1 >= self.context_length:
            raise BackendError(f"prompt of {len(tokens)} tokens does not fit the context of {self.context_length}")
        max_tokens = min(params.max_tokens, self.context_length - len(tokens))
        with self.lock:
            start = time.perf_counter()
            self._reset_counters()
            usage = Usage(prompt_tokens=len(tokens))
            first, pieces = None, 0
            chunks = self.llama.create_completion(
                tokens,
                max_tokens=max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                stop=list(params.stop),
                stream=True,
            )
            for chunk in chunks:
                text = chunk["choices"][0]["text"]
                pieces += 1
                if text:
                    if first is None:
                        first = time.perf_counter()
                    yield text
            usage.duration_s = time.perf_counter() - start
            usage.time_to_first_token_s = (first or time.perf_counter()) - start
            self._read_counters(usage)
            # llama.cpp does not evaluate the last sampled token, so count what was streamed when that is more.
            usage.completion_tokens = max(usage.completion_tokens, pieces)
        yield usage

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
