"""What a fine-tune returns, whichever trainer ran it (the TRL path in `training.finetune` or `training.lean`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.shared.base_model import BaseModel


@dataclass
class FinetuneResult:
    """Where the run and its adapter went, what it trained on and how, its logged history and `summary.json`."""

    run_dir: Path
    adapter_dir: Path
    base_model: BaseModel
    backend: str
    precision: str
    history: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


def first_last(history, key) -> tuple[float | None, float | None]:
    """The first and last logged value of `key` (None, None when it was never logged)."""
    values = [h[key] for h in history if key in h]
    return (values[0], values[-1]) if values else (None, None)
