"""The chat app's settings: a dataclass with help text, each field also read from an environment variable.

Precedence: command-line flag > environment variable > default. Host and port are Gradio's own
`GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT` (default http://127.0.0.1:7860), read by Gradio itself.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields


@dataclass
class AppConfig:
    default_model: str = field(default="", metadata={
        "env": "APP_DEFAULT_MODEL", "help": "Model selected at start (a catalogue name); empty: catalogue default."
    })
    max_loaded_models: int = field(default=2, metadata={
        "env": "APP_MAX_LOADED_MODELS", "help": "Models kept loaded at once (LRU); switching back to one is instant."})
    concurrency: int = field(default=2, metadata={
        "env": "APP_CONCURRENCY", "help": "Chat turns run at once (each model still serves one LLM call at a time)."})
    preload: bool = field(default=True, metadata={
        "env": "APP_PRELOAD", "help": "Load the default model in the background as soon as the app starts."})
    model_source: str = field(default="", metadata={
        "env": "APP_MODEL_SOURCE",
        "help": "module:attribute of another model source (e.g. scripted models for tests); empty: the catalogue."})


def _parse_bool(text: str) -> bool:
    if text.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if text.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {text!r}")


def _convert(kind, text: str):
    return _parse_bool(text) if kind in (bool, "bool") else (int(text) if kind in (int, "int") else text)


def parse_config(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> AppConfig:
    """Build the config from flags (`--max-loaded-models 3`) over environment variables over defaults."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="The tool-calling chat app (Gradio).")
    values = {}
    for f in fields(AppConfig):
        env = f.metadata["env"]
        default = f.default if f.default is not MISSING else None
        if env in environ:
            try:
                default = _convert(f.type, environ[env])
            except ValueError as exc:
                raise SystemExit(f"{env}: {exc}") from None
        values[f.name] = default
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} [env {env}; default {default!r}]"
        if f.type in (bool, "bool"):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=int if f.type in (int, "int") else str, default=default,
                                help=help_text)
    args = parser.parse_args(argv)
    return AppConfig(**vars(args))
