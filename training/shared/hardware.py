"""What the training machine offers: the CPU's name and flags, the automatic precision, threads, the backend.

The precision choice reads the CPU's flags from /proc/cpuinfo. bf16 is chosen only where the CPU computes it natively
(`avx512_bf16` or `amx_bf16`); elsewhere PyTorch emulates bf16 matmuls, measured ~15x slower than fp32 on this
project's 2-core AVX2 machine, so `auto` picks fp32 there. Every function takes the cpuinfo text as an argument, so
tests can hand it fake flags.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
REPORTED_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512f", "avx512_vnni", "avx2", "fma")


def read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no flags known, so no native bf16 is assumed
        return ""


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in a /proc/cpuinfo text (x86 `flags`, ARM `Features`)."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_name(cpuinfo: str | None = None) -> str:
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return "unknown CPU"


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """AVX512-BF16 or AMX-BF16: the CPUs on which bf16 autocast is faster than fp32, not emulated."""
    return bool(cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS))


def cpu_report(cpuinfo: str | None = None) -> dict:
    """The CPU's name, the flags that matter for training speed, the usable cores: for benchmark reports."""
    flags = cpu_flags(cpuinfo)
    return {"name": cpu_name(cpuinfo), "flags": {flag: flag in flags for flag in REPORTED_FLAGS},
            "native_bf16": cpu_has_native_bf16(cpuinfo), "cores": cpu_threads(None)}


def choose_precision(requested: str, cpuinfo: str | None = None, cuda: bool | None = None) -> str:
    """`auto`: bf16 on a GPU that has it (else fp16) or on a CPU with native bf16, else fp32. An explicit choice
    is kept (with a warning when bf16 would be emulated)."""
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if requested != "auto":
        if requested == "bf16" and not cuda and not cpu_has_native_bf16(cpuinfo):
            print("warning: this CPU has no native bf16 (AVX512-BF16/AMX); bf16 matmuls are emulated and measured "
                  "~15x slower than fp32 here. Use --precision auto.", file=sys.stderr)
        return requested
    if cuda:
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16(cpuinfo) else "fp32"


def cpu_threads(requested: int | None) -> int:
    if requested:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def choose_backend(requested: str) -> str:
    """`unsloth` (CUDA GPU and unsloth importable) or `transformers`."""
    import importlib.util

    import torch

    if requested == "transformers":
        return "transformers"
    gpu = torch.cuda.is_available()
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if requested == "unsloth" and not (gpu and has_unsloth):
        raise SystemExit("backend unsloth needs a CUDA GPU and `pip install -r requirements-gpu.txt`; "
                         "use --backend transformers")
    return "unsloth" if gpu and has_unsloth else "transformers"
