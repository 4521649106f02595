"""The chat app's settings: pydantic-settings reads each from an `APP_*` environment variable and from a flag.

Precedence: command-line flag > environment variable > default, e.g. `--max-loaded-models 3` over
`APP_MAX_LOADED_MODELS=3`. Host and port are Gradio's own `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT`
(default http://127.0.0.1:7860), read by Gradio itself.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from pydantic import Field
from pydantic_settings import CliSettingsSource, SettingsConfigDict

from env_settings import EnvSettings, SettingsError


class AppConfig(EnvSettings):
    """The tool-calling chat app (Gradio). Each setting is also read from APP_<SETTING>, e.g. APP_PRELOAD=0."""

    model_config = SettingsConfigDict(env_prefix="APP_")

    default_model: str = Field("", description="Model selected at start (a catalogue name); empty: catalogue "
                                               "default.")
    max_loaded_models: int = Field(2, ge=1, description="Models kept loaded at once (LRU); switching back to one is "
                                                        "instant.")
    concurrency: int = Field(2, ge=1, description="Chat turns run at once (each model still serves one LLM call at "
                                                  "a time).")
    preload: bool = Field(True, description="Load the default model in the background as soon as the app starts.")
    model_source: str = Field("", description="module:attribute of another model source (e.g. scripted models for "
                                              "tests); empty: the catalogue.")


def parse_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """The settings from flags (`--max-loaded-models 3`, `--no-preload`) over the environment (`environ`, default
    os.environ) over the defaults; a bad value exits with a sentence naming the variable or flag."""
    flags = CliSettingsSource(AppConfig, cli_parse_args=list(sys.argv[1:] if argv is None else argv),
                              cli_prog_name="python app.py", cli_kebab_case=True, cli_implicit_flags=True)
    try:
        return AppConfig.from_env(environ, overrides=flags(),
                                  override_label=lambda name: "--" + name.replace("_", "-"))
    except SettingsError as exc:
        raise SystemExit(f"bad setting: {exc}") from None
