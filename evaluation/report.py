"""Small helpers to write evaluation reports: Markdown tables, percentages, JSON files, code-safe excerpts."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


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
