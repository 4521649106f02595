"""The one place the project turns a GGUF file into a `llama_cpp.Llama`: safe on every x86-64 CPU.

Why: llama.cpp's CPU backend can put weights into "extra" buffer types (`llama_model_params.use_extra_bufts`): the AMX
buffer (Intel AMX tiles, compiled in when llama.cpp is built on a CPU with `amx_int8`) and CPU_REPACK (weights
interleaved for AVX2/AVX-512/NEON kernels, for Q4_0, Q4_K, IQ4_NL and Q8_0). On AMX machines (Sapphire Rapids and
later, as cloud VMs and hosted Spaces run on) llama-cpp-python 0.3.36 dies with a general protection fault inside
`ggml_backend_amx_mul_mat` on the first prompt of more than one token: with one row (M = 1, a decode step) that function
takes its AVX512-VNNI path, with two or more (any multi-token prefill; 8-token prompts in the issue's repro) it
configures and uses AMX tiles. The same crash is reported against llama.cpp (#20824, open) and Ollama on
virtualised Sapphire/Granite Rapids. llama.cpp offers a single switch for all extra buffer types, so on a CPU with AMX
we turn them off (losing CPU_REPACK there too); everywhere else they stay on, so a machine without AMX keeps its
repacked kernels and its speed.

`LLAMA_EXTRA_BUFTS=on|off|auto` overrides the choice (auto: off exactly when the CPU reports AMX).

The switch is not a `Llama(...)` keyword in llama-cpp-python 0.3.36: `Llama.__init__` takes its model parameters
from `llama_model_default_params()`. `install()` wraps that function once per process so that *every* model loaded
in it, ours or llama-cpp-python's own server's (`python -m agent.backends.llama_server`), gets the safe value.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

AMX_FLAGS = frozenset({"amx_int8", "amx_tile", "amx_bf16"})
ENV_SWITCH = "LLAMA_EXTRA_BUFTS"
_install_lock = threading.Lock()


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where /proc/cpuinfo does not exist)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def use_extra_buffer_types(flags: frozenset[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether llama.cpp may use its extra CPU buffer types on this machine (see the module docstring)."""
    env = os.environ if env is None else env
    choice = env.get(ENV_SWITCH, "auto").strip().lower()
    if choice in ("1", "on", "true", "yes"):
        return True
    if choice in ("0", "off", "false", "no"):
        return False
    if choice not in ("", "auto"):
        raise ValueError(f"{ENV_SWITCH}={choice!r}: use on, off or auto")
    flags = cpu_flags() if flags is None else flags
    return not (flags & AMX_FLAGS)


def install() -> bool:
    """Make every llama.cpp model loaded in this process use the safe setting; returns that setting.

    Idempotent. The wrapper reads the setting at each call, so a test can change `LLAMA_EXTRA_BUFTS` between loads.
    """
    import llama_cpp.llama_cpp as bindings

    with _install_lock:
        current = bindings.llama_model_default_params
        if not getattr(current, "_safe_extra_bufts", False):
            original = current

            @functools.wraps(original)
            def safe_default_params():
                params = original()
                params.use_extra_bufts = use_extra_buffer_types()
                return params

            safe_default_params._safe_extra_bufts = True
            bindings.llama_model_default_params = safe_default_params
            # `llama_cpp` re-exports the bindings' names: code that looked it up there gets the safe one too.
            import llama_cpp

            llama_cpp.llama_model_default_params = safe_default_params
    return use_extra_buffer_types()


def open_llama(model_path: str | os.PathLike, **kwargs: Any):
    """`llama_cpp.Llama(model_path, **kwargs)` with the extra buffer types decided by `use_extra_buffer_types()`."""
    wanted = install()
    from llama_cpp import Llama

    llama = Llama(model_path=str(model_path), **kwargs)
    if bool(llama.model_params.use_extra_bufts) != wanted:  # llama-cpp-python changed how it builds its params
        raise RuntimeError(f"llama.cpp loaded {model_path} with use_extra_bufts={llama.model_params.use_extra_bufts},"
                           f" not {wanted}: update agent/backends/llama_loader.py for this llama-cpp-python")
    log.debug("loaded %s (extra buffer types %s)", model_path, "on" if wanted else "off")
    return llama
