"""The command line of every stage (training, evaluation, the benchmark): settings dataclasses parsed by
`transformers.HfArgumentParser`, plus `--config FILE`.

    parser = SettingsParser([DatasetConfig], prog="python -m training.dataset", description=__doc__)
    (config,) = parser.parse_settings(argv)          # --out, --seed, --size ... and --config run.toml

HfArgumentParser makes each field a flag (`--field-name`, also `--field_name`): help from the field's metadata,
choices from `Literal[...]` (or a "choices" entry in the metadata), `--flag` / `--no-flag` for bools, several values
for lists. This module adds what every stage shares:
- `--config FILE` (JSON, YAML or TOML): its values are read first, as if typed before the other flags, so the same
  converters and choices check them and a flag on the command line wins. The file is flat (`lora_r = 8`) or has one
  table per section (`[finetune]`); a section's table may carry a flag prefix (`[dataset] seed` is `--dataset-seed`).
- "none" for an optional field, `--no-flag` also for a bool that defaults to False, the default in every help line.
- `Section` / `parse_sections`: several settings dataclasses on one command line (the training pipeline), each with
  its own prefix, excluded fields and defaults; a field two sections share (the fine-tune's and the export's
  base_model) is one flag, and one setting in a config file, that sets both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from transformers import HfArgumentParser

T = TypeVar("T")
NONE_WORDS = ("none", "null")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON, YAML or TOML file as a dict; a clear error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml", ".toml"):
        raise SystemExit(f"{path}: unknown config format {suffix!r}; use .json, .yaml/.yml or .toml")
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # JSON and TOML raise ValueErrors, YAML its own YAMLError
        raise SystemExit(f"{path}: could not parse: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of setting names to values at the top level")
    return data


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Docstrings keep their layout; each option's help ends with its default (unless it says it already)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or "(default" in text:
            return text
        return text + " (default: %(default)s)"


def _is_optional(annotation: Any) -> bool:
    return (typing.get_origin(annotation) in (typing.Union, types.UnionType)
            and type(None) in typing.get_args(annotation))


def _none_or(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def optional(text: str) -> Any:
        return None if text.strip().lower() in NONE_WORDS else convert(text)

    optional.__name__ = getattr(convert, "__name__", "value")  # argparse names the type in "invalid int value"
    return optional


def settings_from(cls: type[T], namespace: argparse.Namespace) -> T:
    """The dataclass `cls` built from the parsed flags that name its fields."""
    return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)
                  if f.init and hasattr(namespace, f.name)})


class SettingsParser(HfArgumentParser):
    """HfArgumentParser with `--config FILE` (values read first, flags win) and the conveniences listed above.

    `tables` maps a config-file table to the flag prefix of its settings (`{"dataset": "dataset_"}`); tables named
    in `ignored_tables` belong to other stages of a shared recipe and are skipped. Any other table is an error."""

    def __init__(self, dataclass_types: Iterable[type] = (), *, tables: Mapping[str, str] | None = None,
                 ignored_tables: Iterable[str] = (), **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        self.tables = dict(tables or {})
        self.ignored_tables = set(ignored_tables) - set(self.tables)
        super().__init__(list(dataclass_types), **kwargs)
        self.add_argument("--config", type=Path, default=None, metavar="FILE",
                          help="Read settings from a JSON, YAML or TOML file first; flags given here override it.")

    def add_settings(self, dtype: type) -> None:
        """Add the flags of one more settings dataclass (`parse_settings` then returns it too)."""
        self.dataclass_types.append(dtype)
        self._add_dataclass_arguments(dtype)

    def _add_dataclass_arguments(self, dtype: type) -> None:
        first = len(self._actions)
        hints = typing.get_type_hints(dtype)
        super()._add_dataclass_arguments(dtype)
        fields = {f.name: f for f in dataclasses.fields(dtype) if f.init}
        group = self._action_groups[-1] if hasattr(dtype, "_argument_group_name") else self
        for action in self._actions[first:]:
            action.option_strings.sort(key=lambda option: "_" in option)  # usage shows --field-name
            if action.help:
                action.help = action.help.replace("%", "%%")  # argparse %-formats help; metadata is plain text
            if action.nargs == 0 and action.const is False:  # HfArgumentParser's --no-x copies the field's help
                action.help = f"Turn --{action.dest.replace('_', '-')} off."
            f = fields.get(action.dest)
            if f is not None and _is_optional(hints[f.name]) and action.type is not None and action.nargs is None:
                action.type = _none_or(action.type)
        for name, f in fields.items():
            if hints[name] in (bool, bool | None) and f.default is not True:  # HfArgumentParser adds --no-x for True
                group.add_argument(f"--no_{name}", f"--no-{name.replace('_', '-')}", action="store_false",
                                   dest=name, help=f"Turn --{name.replace('_', '-')} off.")

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None):
        args = list(sys.argv[1:] if args is None else args)
        path = _config_path(args)
        if path is not None:
            args = self._config_tokens(load_config_file(path), path) + args
        return super().parse_known_args(args, namespace)

    def parse_settings(self, args: Sequence[str] | None = None) -> tuple:
        """One instance per settings dataclass, in the order they were added."""
        namespace = self.parse_args(args)
        return tuple(settings_from(cls, namespace) for cls in self.dataclass_types)

    # -------------------------------------------------------------------------------------- config files

    def _flat_values(self, data: Mapping[str, Any], path: str) -> dict[str, Any]:
        flat, unknown = {}, []
        for key, value in data.items():
            if not isinstance(value, dict):
                flat[key] = value
            elif key in self.tables:
                flat.update({self.tables[key] + name: inner for name, inner in value.items()})
            elif key not in self.ignored_tables:
                unknown.append(f"[{key}]")
        if unknown:
            self.error(f"config file {path}: unknown settings {sorted(unknown)}")
        return flat

    def _config_tokens(self, data: Mapping[str, Any], path: str) -> list[str]:
        """The file's settings as command-line tokens, each value checked by its flag's own converter and choices."""
        by_dest: dict[str, list[argparse.Action]] = {}
        for action in self._actions:
            if action.option_strings and action.dest not in ("help", "config"):
                by_dest.setdefault(action.dest, []).append(action)
        tokens, unknown = [], []
        for key, value in self._flat_values(data, path).items():
            actions = by_dest.get(key)
            if actions is None:
                unknown.append(key)
                continue
            if value is None:
                continue
            takes_values = [a for a in actions if a.nargs != 0]
            if not takes_values:  # a store_true / store_false switch
                switch = next((a for a in actions if a.const == value), None)
                if switch is None and value != actions[0].default:
                    self.error(f"config file {path}: {key!r} must be true or false, not {value!r}")
                tokens += [switch.option_strings[-1]] if switch is not None else []
                continue
            action = takes_values[0]
            many = action.nargs in ("+", "*") or isinstance(action.nargs, int)
            texts = [_as_text(v) for v in (value if isinstance(value, list) and many else [value])]
            if isinstance(value, list) and not many:
                self.error(f"config file {path}: {key!r} takes one value, not a list")
            try:
                self._get_values(action, texts)  # argparse's own conversion and choices check
            except argparse.ArgumentError as exc:
                self.error(f"config file {path}: {exc}")
            option = action.option_strings[-1]
            tokens += [option, *texts] if many else [f"{option}={texts[0]}"]
        if unknown:
            self.error(f"config file {path}: unknown settings {sorted(unknown)}")
        return tokens


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _config_path(args: Sequence[str]) -> str | None:
    """The value of the last `--config FILE` / `--config=FILE` before a bare `--`."""
    path = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    return path


def parse_config(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None,
                 prog: str | None = None, table: str | None = None, ignored_tables: Iterable[str] = ()) -> T:
    """One settings dataclass from flags and `--config FILE` (its values flat or in the table `table`)."""
    parser = SettingsParser([cls], prog=prog, description=description, tables={table: ""} if table else None,
                            ignored_tables=ignored_tables)
    return parser.parse_settings(argv)[0]


# ------------------------------------------------------------------------------------- several sections

@dataclass(frozen=True)
class Section:
    """One settings dataclass on a combined command line: its name (a config-file table) and flag prefix."""

    name: str
    cls: type
    prefix: str = ""
    exclude: tuple[str, ...] = ()  # fields the caller sets itself (no flag)
    defaults: dict[str, Any] = field(default_factory=dict)  # this command's defaults, where they differ

    def key(self, field_name: str) -> str:
        """The flag's name without dashes, which is also its flat key in a config file."""
        return self.prefix + field_name

    def fields(self) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(self.cls) if f.init and f.name not in self.exclude]

    def flag_class(self, taken: set[str]) -> type:
        """A dataclass of this section's flags for HfArgumentParser: prefixed names, this command's defaults, and
        without the fields an earlier section already has (one flag sets both)."""
        hints = typing.get_type_hints(self.cls)
        specs = []
        for f in self.fields():
            key = self.key(f.name)
            if key in taken:
                continue
            taken.add(key)
            if f.name in self.defaults:
                value = self.defaults[f.name]
                default = value() if callable(value) else value
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = f.default
            spec = (field(default_factory=lambda value=default: list(value), metadata=f.metadata)
                    if isinstance(default, list) else field(default=default, metadata=f.metadata))
            specs.append((key, hints[f.name], spec))
        flags = dataclasses.make_dataclass(f"{self.cls.__name__}Flags", specs)
        flags._argument_group_name = f"{self.name} settings"  # HfArgumentParser's argument groups
        return flags


def parse_sections(sections: Sequence[Section], argv: Sequence[str] | None = None, description: str | None = None,
                   prog: str | None = None, ignored_tables: Iterable[str] = ()) -> dict[str, Any]:
    """Flags (and `--config FILE`) into one dataclass instance per section, keyed by section name."""
    taken: set[str] = set()
    parser = SettingsParser([s.flag_class(taken) for s in sections], prog=prog, description=description,
                            tables={s.name: s.prefix for s in sections}, ignored_tables=ignored_tables)
    namespace = parser.parse_args(argv)
    return {s.name: s.cls(**{f.name: getattr(namespace, s.key(f.name)) for f in s.fields()}) for s in sections}


def run_stage(work: Callable[[Any], Any], config: Any, errors: tuple[type[BaseException], ...],
              report: Callable[[dict[str, Any]], None]) -> int:
    """A stage's `main`: run `work(config)`, print its summary with `report`; an expected error (`errors`) is one
    `error: ...` line on stderr and exit status 2, not a traceback."""
    try:
        result = work(config)
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report(result.summary)
    return 0
