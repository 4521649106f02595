"""How the tools talk HTTP: endpoints, timeouts, retries and the cache, all read from the environment at call time.

Nothing is read at import time, so a test (or the app) can point the tools at a local server by setting
`OPEN_METEO_FORECAST_URL`, `OPEN_METEO_GEOCODING_URL` and `WIKIPEDIA_API_URL` before a call
(`python -m tests.tool_server` prints those exports). Also here: the per-call `Deadline`, the HTTP session both tools
share (retry-requests retries, optional requests-cache cache), and one place that turns a failed request into a
sentence a model can read.

Show the settings in effect:
    python -m tools.config
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
DEFAULT_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
DEFAULT_WIKIPEDIA_API_URL = "https://en.wikipedia.org/w/api.php"
DEFAULT_USER_AGENT = "toolcall-agent/0.1 (an open tool-calling chat agent for small models; python-requests)"


class ToolConfigError(ValueError):
    """An environment variable holds a value the tools cannot use."""


def _default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "toolcall-agent" / "http"


@dataclass(frozen=True)
class ToolsConfig:
    """Settings of the live tools. Each field is read from the environment variable named in its metadata."""

    forecast_url: str = field(default=DEFAULT_FORECAST_URL, metadata={
        "env": "OPEN_METEO_FORECAST_URL", "help": "Full URL of the Open-Meteo forecast endpoint."})
    geocoding_url: str = field(default=DEFAULT_GEOCODING_URL, metadata={
        "env": "OPEN_METEO_GEOCODING_URL", "help": "Full URL of the Open-Meteo geocoding (place search) endpoint."})
    wikipedia_api_url: str = field(default=DEFAULT_WIKIPEDIA_API_URL, metadata={
        "env": "WIKIPEDIA_API_URL", "help": "Full URL of the MediaWiki action API (.../w/api.php)."})
    timeout_s: float = field(default=10.0, metadata={
        "env": "TOOLS_TIMEOUT_S", "help": "Time budget of one tool call in seconds, shared by all its requests."})
    retries: int = field(default=2, metadata={
        "env": "TOOLS_RETRIES", "help": "Retries after a refused connection or an HTTP 500/502/503/504 answer."})
    retry_backoff_s: float = field(default=0.2, metadata={
        "env": "TOOLS_RETRY_BACKOFF_S", "help": "Backoff factor between retries (urllib3: factor * 2**(n-1) s)."})
    cache_dir: Path = field(default_factory=_default_cache_dir, metadata={
        "env": "TOOLS_CACHE_DIR",
        "help": "Directory of the HTTP cache (SQLite). Default: $XDG_CACHE_HOME (or ~/.cache)/toolcall-agent/http."})
    cache_ttl_s: float = field(default=900.0, metadata={
        "env": "TOOLS_CACHE_TTL_S", "help": "Seconds a weather answer is reused (Open-Meteo updates every 15 min); "
                                            "0 turns the cache off."})
    wiki_summary_chars: int = field(default=1500, metadata={
        "env": "WIKIPEDIA_SUMMARY_CHARS", "help": "Longest article summary handed to the model, in characters."})
    user_agent: str = field(default=DEFAULT_USER_AGENT, metadata={
        "env": "TOOLS_USER_AGENT", "help": "User-Agent header (Wikimedia asks clients to identify themselves)."})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ToolsConfig:
        """The settings in effect now; raises `ToolConfigError` naming the variable when a value is unusable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {"cache_dir": _default_cache_dir(environ)}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"], "").strip()
            if raw:
                values[f.name] = _parse(f.metadata["env"], f.type, raw)
        return cls(**values)

    def __post_init__(self) -> None:
        for name in ("forecast_url", "geocoding_url", "wikipedia_api_url"):
            if not re.match(r"^https?://[^/\s]+", getattr(self, name)):
                raise ToolConfigError(f"{_env_of(name)} must be an http(s) URL, got {getattr(self, name)!r}")
        _check_range("timeout_s", self.timeout_s, 0.05, 600)
        _check_range("retries", self.retries, 0, 10)
        _check_range("retry_backoff_s", self.retry_backoff_s, 0, 10)
        _check_range("cache_ttl_s", self.cache_ttl_s, 0, 7 * 86400)
        _check_range("wiki_summary_chars", self.wiki_summary_chars, 100, 20_000)


def _env_of(name: str) -> str:
    return next(f.metadata["env"] for f in fields(ToolsConfig) if f.name == name)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ToolConfigError(f"{_env_of(name)} must be between {low:g} and {high:g}, got {value!r}")


def _parse(env: str, type_name: str, raw: str) -> Any:
    try:
        if type_name == "float":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if type_name == "int":
            return int(raw)
        if type_name == "Path":
            return Path(raw).expanduser()
        return raw
    except ValueError:
        kind = {"float": "a number", "int": "a whole number"}.get(type_name, "valid")
        raise ToolConfigError(f"{env} must be {kind}, got {raw!r}") from None


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
    for f in fields(ToolsConfig):
        print(f"{f.metadata['env']}={getattr(config, f.name)}    # {f.metadata['help']}")


if __name__ == "__main__":
    main()
