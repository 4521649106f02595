"""Settings read from environment variables through pydantic-settings: the base of the app's and the tools' settings.

    class ToolsConfig(EnvSettings):
        timeout_s: float = Field(10.0, ge=0.05, le=600, validation_alias="TOOLS_TIMEOUT_S", description="...")

    ToolsConfig.from_env()                               # os.environ
    ToolsConfig.from_env({"TOOLS_TIMEOUT_S": "2"})       # this mapping instead (tests)

A field is read from the variable its `validation_alias` names, else from `env_prefix` + its name in capitals.
pydantic converts and checks the text; a value it refuses raises `SettingsError` with one sentence that names the
variable ("TOOLS_RETRIES must be a whole number, got '2.5'"). An empty variable counts as unset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

# The mapping `from_env` reads instead of os.environ, for the one construction in progress in this thread.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("settings_environ", default=None)

_PHRASES = {
    "float_parsing": "must be a number", "finite_number": "must be a number", "float_type": "must be a number",
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "int_type": "must be a whole number", "bool_parsing": "must be true or false (1/0, yes/no, on/off)",
}
_RANGE_ERRORS = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")


class SettingsError(ValueError):
    """An environment variable (or a setting given in its place) holds a value that cannot be used."""


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class EnvSettings(BaseSettings):
    """Settings from the environment (no .env file, no secrets directory); values given by name win."""

    model_config = SettingsConfigDict(env_ignore_empty=True, validate_by_name=True, validate_by_alias=True,
                                      extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: Any,
                                   file_secret_settings: Any) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        return init_settings, (env_settings if environ is None else _MappingEnvSource(settings_cls, environ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
                 override_label: Callable[[str], str] | None = None):
        """The settings in effect: `overrides` (by field name) over the environment (`environ`, default os.environ)
        over the defaults. Raises `SettingsError` naming the variable, or `override_label(field)` for an override."""
        token = _ENVIRON.set(environ)
        try:
            return cls(**dict(overrides or {}))
        except ValidationError as exc:
            raise SettingsError(describe(cls, exc, set(overrides or ()), override_label)) from None
        finally:
            _ENVIRON.reset(token)

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of the field `name`."""
        alias = cls.model_fields[name].validation_alias
        return alias if isinstance(alias, str) else f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def describe(cls: type[EnvSettings], exc: ValidationError, overridden: set[str] = frozenset(),
             override_label: Callable[[str], str] | None = None) -> str:
    """One sentence per refused value: what must be true of it, and what it was."""
    by_variable = {cls.variable(name): name for name in cls.model_fields}
    sentences = []
    for error in exc.errors():
        if error["type"] == "default_factory_not_called":  # a default built from a field that failed: no news
            continue
        loc = str(error["loc"][0]) if error["loc"] else ""
        name = by_variable.get(loc.upper(), loc)
        if name in overridden:
            label = override_label(name) if override_label else name
        else:
            label = cls.variable(name) if name in cls.model_fields else loc
        sentences.append(f"{label} {_phrase(cls, name, error)}, got {error['input']!r}")
    return "; ".join(sentences)


def _phrase(cls: type[EnvSettings], name: str, error: dict[str, Any]) -> str:
    if error["type"] in _PHRASES:
        return _PHRASES[error["type"]]
    if error["type"] in _RANGE_ERRORS and name in cls.model_fields:
        bounds = {key: getattr(m, key) for m in cls.model_fields[name].metadata for key in ("ge", "le", "gt", "lt")
                  if hasattr(m, key)}
        low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
        if low is not None and high is not None:
            return f"must be between {low:g} and {high:g}"
        return f"must be at least {low:g}" if low is not None else f"must be at most {high:g}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if error["type"] == "value_error" else f"is not valid ({message})"
