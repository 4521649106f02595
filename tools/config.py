"""How the tools talk HTTP: endpoints, timeouts, retries and the cache, all read from the environment at call time.

Nothing is read at import time, so a test (or the app) can point the tools at a local server by setting
`OPEN_METEO_FORECAST_URL`, `OPEN_METEO_GEOCODING_URL` and `WIKIPEDIA_API_URL` before a call
(`python -m fakes.services` prints those exports). Also here: the per-call `Deadline`, the HTTP session both tools
share (retry-requests retries, optional requests-cache cache), and one place that turns a failed request into a
sentence a model can read.

Show the settings in effect:
    python -m tools.config
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from env_settings import EnvSettings, SettingsError

DEFAULT_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
DEFAULT_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
DEFAULT_WIKIPEDIA_API_URL = "https://en.wikipedia.org/w/api.php"
DEFAULT_USER_AGENT = "toolcall-agent/0.1 (an open tool-calling chat agent for small models; python-requests)"


class ToolConfigError(SettingsError):
    """An environment variable holds a value the tools cannot use."""


class ToolsConfig(EnvSettings):
    """Settings of the live tools, each read from the environment variable its alias names (pydantic-settings)."""

    model_config = SettingsConfigDict(frozen=True)

    forecast_url: str = Field(DEFAULT_FORECAST_URL, validation_alias="OPEN_METEO_FORECAST_URL",
                              description="Full URL of the Open-Meteo forecast endpoint.")
    geocoding_url: str = Field(DEFAULT_GEOCODING_URL, validation_alias="OPEN_METEO_GEOCODING_URL",
                               description="Full URL of the Open-Meteo geocoding (place search) endpoint.")
    wikipedia_api_url: str = Field(DEFAULT_WIKIPEDIA_API_URL, validation_alias="WIKIPEDIA_API_URL",
                                   description="Full URL of the MediaWiki action API (.../w/api.php).")
    timeout_s: float = Field(10.0, ge=0.05, le=600, allow_inf_nan=False, validation_alias="TOOLS_TIMEOUT_S",
                             description="Time budget of one tool call in seconds, shared by all its requests.")
    retries: int = Field(2, ge=0, le=10, validation_alias="TOOLS_RETRIES",
                         description="Retries after a refused connection or an HTTP 500/502/503/504 answer.")
    retry_backoff_s: float = Field(0.2, ge=0, le=10, allow_inf_nan=False, validation_alias="TOOLS_RETRY_BACKOFF_S",
                                   description="Backoff factor between retries (urllib3: factor * 2**(n-1) s).")
    # Read only to place the default cache directory; not a setting of its own.
    xdg_cache_home: Path | None = Field(None, validation_alias="XDG_CACHE_HOME", exclude=True,
                                        description="Base of the default cache directory (default: ~/.cache).")
    cache_dir: Path = Field(default_factory=lambda data: _default_cache_dir(data["xdg_cache_home"]),
                            validation_alias="TOOLS_CACHE_DIR",
                            description="Directory of the HTTP cache (SQLite). Default: $XDG_CACHE_HOME (or "
                                        "~/.cache)/toolcall-agent/http.")
    cache_ttl_s: float = Field(900.0, ge=0, le=7 * 86400, allow_inf_nan=False, validation_alias="TOOLS_CACHE_TTL_S",
                               description="Seconds a weather answer is reused (Open-Meteo updates every 15 min); 0 "
                                           "turns the cache off.")
    wiki_summary_chars: int = Field(1500, ge=100, le=20_000, validation_alias="WIKIPEDIA_SUMMARY_CHARS",
                                    description="Longest article summary handed to the model, in characters.")
    user_agent: str = Field(DEFAULT_USER_AGENT, validation_alias="TOOLS_USER_AGENT",
                            description="User-Agent header (Wikimedia asks clients to identify themselves).")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs) -> ToolsConfig:
        """The settings in effect now; raises `ToolConfigError` naming the variable when a value is unusable."""
        try:
            return super().from_env(environ, **kwargs)
        except SettingsError as exc:
            raise ToolConfigError(str(exc)) from None

    @field_validator("forecast_url", "geocoding_url", "wikipedia_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("cache_dir")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()


def _default_cache_dir(xdg_cache_home: Path | None) -> Path:
    return (xdg_cache_home or Path.home() / ".cache") / "toolcall-agent" / "http"


class DeadlineExceeded(TimeoutError):
    """The tool call's time budget is spent."""


class Deadline:
    """One time budget for all the requests of a tool call, so a slow server cannot stretch it request by request."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def timeout(self) -> float:
        """Seconds the next request may take; raises `DeadlineExceeded` when (almost) none are left."""
        left = self.remaining()
        if left < 0.01:
            raise DeadlineExceeded(f"the {self.seconds:g} s time budget is spent")
        return left


def build_session(config: ToolsConfig, deadline: Deadline, cache_name: str | None = None,
                  cacheable: Callable[[Any], bool] | None = None):
    """A requests session with our User-Agent and bounded retries (retry-requests); cached when `cache_name` is given.

    Timeouts bound each socket wait; `deadline` also bounds reading a body, so a server that trickles its answer a
    few bytes at a time cannot stretch the call either.

    The cache (requests-cache, SQLite at `config.cache_dir/<cache_name>.sqlite`) keeps only HTTP 200 answers that
    `cacheable(response)` accepts, so a captive portal's HTML page or a cut-off body is never replayed. If the cache
    cannot be opened the session works without it: a broken cache must not break the weather.
    """
    import requests
    from retry_requests import retry

    session = None
    if cache_name and config.cache_ttl_s > 0:
        try:
            import requests_cache

            config.cache_dir.mkdir(parents=True, exist_ok=True)
            session = requests_cache.CachedSession(
                str(config.cache_dir / f"{cache_name}.sqlite"), backend="sqlite", expire_after=config.cache_ttl_s,
                allowable_codes=(200,), filter_fn=cacheable)
        except Exception as exc:  # unwritable directory, corrupt database, ...
            import logging

            logging.getLogger(__name__).warning("HTTP cache unavailable (%s); continuing without it", exc)
    if session is None:
        session = requests.Session()
    session.headers["User-Agent"] = config.user_agent
    # urllib3 would also retry a 429/503 that carries Retry-After, sleeping as long as the server asks (minutes):
    # the model is better served by hearing "rate-limited, try again in N s" now.
    retry(session, retries=config.retries, backoff_factor=config.retry_backoff_s, status_to_retry=(500, 502, 503, 504),
          respect_retry_after_header=False)
    # retry-requests also retries read errors (a stalled or dropped answer). The server had the request by then, and
    # every retry would wait a full timeout again, stretching the call far past its budget: fail on the first one.
    for adapter in session.adapters.values():
        adapter.max_retries = adapter.max_retries.new(read=False)
    session.hooks["response"].append(_body_deadline_hook(deadline))
    return session


def _body_deadline_hook(deadline: Deadline):
    """A response hook: requests reads every body through `raw.stream(...)` after the hooks ran; check the deadline
    between the chunks. (Only this response's `stream` is replaced; the raw object stays what requests-cache expects.)
    """

    def hook(response, *args, **kwargs):
        raw = response.raw
        read_chunks = getattr(raw, "stream", None)
        if read_chunks is None or getattr(response, "from_cache", False):
            return response

        def stream(*stream_args, **stream_kwargs):
            for chunk in read_chunks(*stream_args, **stream_kwargs):
                yield chunk
                if deadline.expired():
                    raise DeadlineExceeded("the answer was still arriving when time ran out")

        raw.stream = stream
        return response

    return hook


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 `.reason`s, exceptions passed as args)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])
        todo.extend(a for a in e.args if isinstance(a, BaseException))
    return [e for e in seen if isinstance(e, BaseException)]


def is_transport_failure(exc: BaseException) -> bool:
    """True when the request itself failed (no connection, timeout, dropped or cut-off answer, bad URL)."""
    import requests
    import urllib3.exceptions as u3

    return any(isinstance(e, (requests.exceptions.RequestException, u3.HTTPError, OSError))
               and not isinstance(e, ValueError) for e in _exception_chain(exc))


def describe_http_failure(exc: BaseException, service: str, timeout_s: float) -> str:
    """One plain sentence saying why a request to `service` failed (no traceback, no exception soup)."""
    import requests
    import urllib3.exceptions as u3

    chain = _exception_chain(exc)

    def find(*types):
        return next((e for e in chain if isinstance(e, types)), None)

    if (e := find(requests.exceptions.RetryError, u3.ResponseError)) is not None:
        code = re.search(r"too many (\d{3}) error responses", str(e))
        status = f" (HTTP {code.group(1)})" if code else ""
        return f"{service} kept failing with a server error{status}, also when asked again."
    if find(DeadlineExceeded) is not None:
        return f"{service} did not answer within the {timeout_s:g} s time limit."
    if (e := find(u3.NewConnectionError)) is not None:
        text = str(e).lower()
        why = "connection refused" if "refused" in text else "the host could not be reached"
        if find(getattr(u3, "NameResolutionError", ())) is not None or "name or service" in text:
            why = "its host name could not be resolved"
        return f"Could not connect to {service}: {why}."
    if find(requests.exceptions.Timeout, u3.TimeoutError, TimeoutError) is not None or "timed out" in str(exc):
        return f"{service} did not answer within the {timeout_s:g} s time limit."
    if find(requests.exceptions.ChunkedEncodingError, u3.ProtocolError) is not None:
        text = " ".join(str(e) for e in chain)
        if "without response" in text or "RemoteDisconnected" in text:
            return f"{service} closed the connection without answering."
        return f"{service} closed the connection before the answer was complete."
    if find(requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) is not None:
        return f"The address configured for {service} is not a valid URL."
    if find(requests.exceptions.ConnectionError) is not None:
        return f"Could not reach {service}."
    return f"The request to {service} failed ({type(exc).__name__})."


def retry_after_seconds(headers: Mapping[str, str]) -> int | None:
    """The Retry-After header as whole seconds (delta-seconds form only), or None."""
    value = (headers.get("Retry-After") or "").strip()
    return int(value) if value.isdigit() else None


def main() -> None:
    config = ToolsConfig.from_env()
    for name, info in ToolsConfig.model_fields.items():
        if not info.exclude:
            print(f"{ToolsConfig.variable(name)}={getattr(config, name)}    # {info.description}")


if __name__ == "__main__":
    main()
