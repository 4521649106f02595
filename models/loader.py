"""Load a catalogue model by name into an in-process llama.cpp backend (files checked before llama.cpp sees them)."""

from __future__ import annotations

import os

from agent.backends.llamacpp import LlamaCppLLM
from models.catalogue import ModelEntry, load_catalogue, resolve


def load_llm(name: str, catalogue: dict[str, ModelEntry] | None = None, n_ctx: int | None = None,
             n_threads: int | None = None, ram_cache_mb: int | None = None) -> LlamaCppLLM:
    """Resolve `name` in the catalogue (downloading a Hub model once if needed) and load it.

    Raises `models.gguf.ModelFileError` for a missing/corrupt/mismatched file and `BackendError` if llama.cpp fails.
    """
    catalogue = catalogue or load_catalogue()
    resolved = resolve(name, catalogue)
    if ram_cache_mb is None:
        ram_cache_mb = int(os.environ.get("LLM_RAM_CACHE_MB", "256"))
    return LlamaCppLLM(
        resolved.model_path,
        lora_path=resolved.lora_path,
        name=name,
        n_ctx=n_ctx or resolved.entry.n_ctx,
        n_threads=n_threads or (int(os.environ["LLM_THREADS"]) if os.environ.get("LLM_THREADS") else None),
        ram_cache_mb=ram_cache_mb,
    )
