"""Load a catalogue model by name into llama.cpp: in this process, or in a worker process (the app); or read only
its prompt layout, for a server that serves it.

Files are checked (`models.gguf`) before llama.cpp sees them, and llama.cpp itself is opened by
`agent.backends.llama_loader` (no extra buffer types on CPUs where they crash). The catalogue and the file checks sit
below the agent (`models/`); this module is where a name becomes a backend.
"""

from __future__ import annotations

import os
from typing import Any

from agent.backends.llamacpp import LlamaCppLLM
from models.catalogue import ModelEntry, load_catalogue, resolve


def load_arguments(name: str, catalogue: dict[str, ModelEntry] | None = None, n_ctx: int | None = None,
                   n_threads: int | None = None, ram_cache_mb: int | None = None) -> dict[str, Any]:
    """The `LlamaCppLLM` keyword arguments for catalogue model `name` (downloading a Hub model once if needed)."""
    catalogue = catalogue or load_catalogue()
    resolved = resolve(name, catalogue)
    if ram_cache_mb is None:
        ram_cache_mb = int(os.environ.get("LLM_RAM_CACHE_MB", "256"))
    return dict(
        model_path=resolved.model_path,
        lora_path=resolved.lora_path,
        name=name,
        n_ctx=n_ctx or resolved.entry.n_ctx,
        n_threads=n_threads or (int(os.environ["LLM_THREADS"]) if os.environ.get("LLM_THREADS") else None),
        ram_cache_mb=ram_cache_mb,
    )


def load_llm(name: str, catalogue: dict[str, ModelEntry] | None = None, n_ctx: int | None = None,
             n_threads: int | None = None, ram_cache_mb: int | None = None):
    """Resolve `name` in the catalogue and load it in this process (`LlamaCppLLM`).

    Raises `models.gguf.ModelFileError` for a missing/corrupt/mismatched file and `BackendError` if llama.cpp fails.
    """
    return LlamaCppLLM(**load_arguments(name, catalogue, n_ctx, n_threads, ram_cache_mb))


def start_worker(name: str, catalogue: dict[str, ModelEntry] | None = None, **kwargs: Any):
    """Like `load_llm`, but the model runs in its own process (`ModelWorker`): a llama.cpp crash is an error there.

    The files are resolved and checked here first, so a bad file is refused before any process starts.
    """
    from agent.backends.worker import ModelWorker

    arguments = load_arguments(name, catalogue, **kwargs)
    from models.gguf import check_lora_file, check_model_file

    info = check_model_file(arguments["model_path"])
    if arguments["lora_path"] is not None:
        check_lora_file(arguments["lora_path"], info)
    return ModelWorker(**arguments)


def prompt_renderer(name: str, catalogue: dict[str, ModelEntry] | None = None):
    """A function rendering messages to the exact prompt text `LlamaCppLLM` builds for model `name` (Meta's layout
    for Llama 3.x, else the GGUF's own chat template), read from its GGUF without loading the model.

    The OpenAI-compatible backend sends this text to a server's `/v1/completions`: the model then sees tool results
    in the role it was trained on (`ipython`), which chat endpoints may refuse.
    """
    from agent.messages import ChatTemplate, is_llama3_template, render_llama3
    from models.gguf import read_gguf

    info = read_gguf(resolve(name, catalogue or load_catalogue()).model_path, keep_arrays=True)
    template = info.chat_template
    if is_llama3_template(template):
        return render_llama3
    if not template:
        raise ValueError(f"{name} has no chat template in its GGUF metadata")
    tokens = info.metadata.get("tokenizer.ggml.tokens") or []

    def token_text(key: str) -> str:
        index = info.metadata.get(key)
        return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else ""

    chat = ChatTemplate(template, token_text("tokenizer.ggml.bos_token_id"), token_text("tokenizer.ggml.eos_token_id"))
    return chat.render
