"""Load a catalogue model for evaluation (through `agent.backends.load`), and free it when a run is done."""

from __future__ import annotations

from agent.backends.base import LLM


def load_model(name: str, n_ctx: int | None = None, n_threads: int | None = None) -> LLM:
    """A catalogue model by name, loaded in-process with llama.cpp (files are checked before llama.cpp sees them).

    No RAM prompt cache: evaluation prompts do not come back, and llama.cpp's own prefix reuse covers shared prefixes.
    """
    from agent.backends.load import load_llm

    return load_llm(name, n_ctx=n_ctx, n_threads=n_threads, ram_cache_mb=0)


def unload(llm: LLM) -> None:
    """Free a llama.cpp model now rather than at garbage collection (two models need not share memory)."""
    llama = getattr(llm, "llama", None)
    if llama is not None and hasattr(llama, "close"):
        llama.close()
