"""Command-line flags from settings dataclasses: each field becomes `--field-name`, its help text from the metadata."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of `cls` (bools become --x/--no-x, lists take several values)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        annotation, optional = _unwrap_optional(hints[field.name])
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
        help_text = field.metadata.get("help", "")
        if default not in (None, [], ()) and not isinstance(default, bool):
            shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            help_text += f" (default: {shown})"
        kwargs: dict[str, Any] = {"dest": field.name, "default": default, "help": help_text}
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) in (list, tuple):
            kwargs["nargs"] = "+"
            kwargs["type"] = typing.get_args(annotation)[0]
        else:
            kwargs["type"] = annotation
        if field.metadata.get("choices"):
            kwargs["choices"] = field.metadata["choices"]
        parser.add_argument(flag, **kwargs)


def from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """Build `cls` from the parsed flags that name its fields."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)}
    for f in dataclasses.fields(cls):
        if isinstance(values.get(f.name), list) and isinstance(f.default, tuple):
            values[f.name] = tuple(values[f.name])
    return cls(**values)


def runs_dir() -> Path:
    """Where evaluation runs are written: `EVAL_RUNS_DIR`, else `runs/eval` in the repository."""
    return Path(os.environ.get("EVAL_RUNS_DIR") or REPO_ROOT / "runs" / "eval")


def new_run_dir(task: str, *names: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = "-".join(re.sub(r"[^\w.-]+", "_", n) for n in (task, *names) if n)
    return runs_dir() / f"{slug}-{stamp}"
