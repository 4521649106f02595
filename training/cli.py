"""Command-line flags generated from a settings dataclass: one flag per field, its help text from the field metadata.

    config = parse_config(DatasetConfig, description=__doc__)      # --out, --seed, --validation-size ...

Supported field types: str, int, float, bool (--flag / --no-flag), Path, Literal[...] (choices) and `X | None`
(the flag then also accepts "none").
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import TypeVar

from training.config import field_converter, field_default

T = TypeVar("T")


def config_parser(cls: type, description: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one flag per field of the dataclass `cls` (`--field-name`, help from metadata)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = field_default(f)
        flags = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])
        help_text = f.metadata.get("help", "").replace("%", "%%")  # argparse %-formats help strings
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        annotation = hints[f.name]
        if annotation is bool:
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=f"{help_text} (default: {default})")
            continue
        convert, choices = field_converter(annotation, f.name)
        parser.add_argument(*flags, dest=f.name, type=convert, choices=choices, default=default, required=required,
                            help=f"{help_text} (default: {default})" if not required else help_text)
    return parser


def parse_config(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None,
                 prog: str | None = None) -> T:
    """Parse command-line flags (`sys.argv[1:]` when argv is None) into an instance of the dataclass `cls`."""
    namespace = config_parser(cls, description, prog).parse_args(argv)
    return cls(**vars(namespace))
