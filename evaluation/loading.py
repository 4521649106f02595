"""Load a catalogue model for evaluation: `models.catalogue.resolve` (checked files) + `LlamaCppLLM`."""

from __future__ import annotations

from agent.backends.base import LLM


def load_model(name: str, n_ctx: int | None = None, n_threads: int | None = None) -> LLM:
    """A catalogue model by name, loaded in-process with llama.cpp (the files are checked before loading)."""
    from agent.backends.llamacpp import LlamaCppLLM
    from models.catalogue import resolve

    resolved = resolve(name)
    return LlamaCppLLM(resolved.model_path, resolved.lora_path, name=name, n_ctx=n_ctx or resolved.entry.n_ctx,
                       n_threads=n_threads, ram_cache_mb=0)


def unload(llm: LLM) -> None:
    """Free a llama.cpp model now rather than at garbage collection (two models need not share memory)."""
    llama = getattr(llm, "llama", None)
    if llama is not None and hasattr(llama, "close"):
        llama.close()
