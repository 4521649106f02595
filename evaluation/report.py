"""Small helpers to write evaluation reports: Markdown tables, percentages, JSON files, code-safe excerpts."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SPEED_FLAGS = ("amx_int8", "avx512_bf16", "avx512f", "avx2")  # what decides llama.cpp's kernels and bf16 on x86


def cpu_description(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """The CPU a figure came from, e.g. "Intel(R) Xeon(R) Processor, 2 cores, amx_int8 avx512_bf16 avx512f avx2"."""
    from agent.backends.llama_loader import cpu_flags

    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    name = next((value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())
                 if key.strip() == "model name" and value.strip()), platform.machine() or "unknown CPU")
    flags = cpu_flags(cpuinfo)
    return f"{name}, {os.cpu_count()} cores, " + (" ".join(f for f in SPEED_FLAGS if f in flags) or "no AVX2")


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def ci(value: tuple) -> str:
    """A rate and its 95% interval, (rate, low, high) -> "92.5% [89–96]" ("–" for no rate)."""
    if value[0] is None:
        return "–"
    return f"{100 * value[0]:.1f}% [{100 * value[1]:.0f}–{100 * value[2]:.0f}]"


def num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def cell(text: Any, limit: int = 160) -> str:
    """A value made safe for one Markdown table cell: one line, pipes escaped, shortened."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|") or " "


def code_cell(text: Any, limit: int = 160) -> str:
    body = cell(text, limit).replace("`", "'")
    return f"`{body}`" if body.strip() else " "


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return path


def relative_link(target: str | os.PathLike, start: str | os.PathLike) -> str:
    """A Markdown link path from the folder `start` to `target`."""
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()
