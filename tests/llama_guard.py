"""A check on every llama.cpp model load in this process: never with extra buffer types where they crash.

`guard_model_loads()` wraps `llama_model_load_from_file`, the one C function every `llama_cpp.Llama` goes through, and
raises `CrashingModelLoad` when a model is about to load with `use_extra_bufts` on a machine where
`agent.backends.llama_loader.use_extra_buffer_types()` says no (a CPU with AMX): the load that would segfault on the
first prompt fails in Python, naming the fix. Used for the whole test session by tests/conftest.py.
"""

from __future__ import annotations

from contextlib import contextmanager

from agent.backends.llama_loader import use_extra_buffer_types


class CrashingModelLoad(AssertionError):
    pass


@contextmanager
def guard_model_loads():
    import llama_cpp.llama_cpp as bindings

    original = bindings.llama_model_load_from_file

    def checked_load(path_model, params):
        if params.use_extra_bufts and not use_extra_buffer_types():
            raise CrashingModelLoad(f"{path_model!r} would load with llama.cpp's extra buffer types on a CPU where "
                                    "they crash (AMX): load models through agent.backends.llama_loader.open_llama")
        return original(path_model, params)

    bindings.llama_model_load_from_file = checked_load
    try:
        yield
    finally:
        bindings.llama_model_load_from_file = original
