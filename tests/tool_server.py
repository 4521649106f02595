"""A real local HTTP server that answers like Open-Meteo and the Wikipedia API, for offline tests and demos.

It serves, on 127.0.0.1:
  /v1/search    Open-Meteo geocoding JSON for a few fixed places (Oslo, Paris, Tokyo, ...),
  /v1/forecast  the forecast as FlatBuffers bytes laid out by the openmeteo_sdk schema (size-prefixed
                WeatherApiResponse with `current` and `daily` sections: what api.open-meteo.com sends),
  /w/api.php    MediaWiki action-API JSON for what the `wikipedia` package asks (search, page info,
                disambiguation page HTML, intro extracts),
and can be told to misbehave per path: delay, any HTTP status (429 with Retry-After), garbage bytes, a truncated or
corrupt body, a body cut mid-transfer or trickled out, a wrong content type, or a closed connection.

In pytest: the `tool_server` fixture (one server per session) and `tool_env` (env vars pointing the tools at it, HTTP
cache in tmp_path, faults and counters reset per test). Make them visible with `pytest_plugins = ["tests.tool_server"]`
in conftest.py, or in a test module with `tool_server, tool_env = fake_apis.tool_server, fake_apis.tool_env` after
`from tests import tool_server as fake_apis`. In-process without pytest: `with ToolServer() as server: server.env()`.
Standalone, for the app's browser test or a benchmark:
    python -m tests.tool_server --port 8765        # prints the `export ...` lines, serves until Ctrl-C
Faults from another process: POST /_control/fault {"path": "/v1/forecast", "mode": "delay", "seconds": 3};
POST /_control/reset; GET /_control/hits.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flatbuffers
import pytest
from openmeteo_sdk.Aggregation import Aggregation
from openmeteo_sdk.Model import Model
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable

FORECAST_PATH = "/v1/forecast"
GEOCODING_PATH = "/v1/search"
WIKI_PATH = "/w/api.php"

# The server's clock: "now" is fixed so dates and times in tool results are predictable.
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

# --------------------------------------------------------------------------------------------------- the places


@dataclass(frozen=True)
class Weather:
    """Current conditions (°C, km/h, mm, %) and the first forecast day; later days vary from it predictably."""

    temperature: float
    apparent_temperature: float
    humidity: float
    precipitation: float
    weather_code: int
    wind_speed: float
    wind_direction: float
    daily_codes: tuple[int, ...]
    max_temperature: float
    min_temperature: float
    precipitation_sum: float
    precipitation_probability: float
    wind_speed_max: float

    def day(self, i: int) -> dict[str, float]:
        """Forecast day i (0 = today) in °C, mm, %, km/h."""
        return {
            "weather_code": self.daily_codes[i % len(self.daily_codes)],
            "temperature_max": self.max_temperature + (0.5, 1.5, -1.0, 2.0)[i % 4],
            "temperature_min": self.min_temperature + (-0.5, 0.5, -1.5, 1.0)[i % 4],
            "precipitation_sum": round(self.precipitation_sum * (1, 0, 2, 0.5)[i % 4], 1),
            "precipitation_probability": min(100.0, self.precipitation_probability + 5 * (i % 3)),
            "wind_speed_max": self.wind_speed_max + (i % 5),
        }


@dataclass(frozen=True)
class Place:
    id: int
    name: str
    latitude: float
    longitude: float
    country: str
    country_code: str
    admin1: str
    timezone: str
    timezone_abbreviation: str
    utc_offset_seconds: int
    population: int
    weather: Weather

    def geocoding_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "latitude": self.latitude, "longitude": self.longitude,
                "elevation": 20.0, "feature_code": "PPLC", "country_code": self.country_code,
                "admin1_id": self.id + 1, "timezone": self.timezone, "population": self.population,
                "country_id": self.id + 2, "country": self.country, "admin1": self.admin1}


PLACES: tuple[Place, ...] = (
    Place(3143244, "Oslo", 59.91273, 10.74609, "Norway", "NO", "Oslo", "Europe/Oslo", "CET", 3600, 580000,
          Weather(-3.2, -7.9, 86, 0.4, 71, 12.6, 225, (71, 3, 2, 73), -1.0, -6.0, 1.2, 70, 20.0)),
    Place(2988507, "Paris", 48.85341, 2.3488, "France", "FR", "Île-de-France", "Europe/Paris", "CET", 3600, 2138551,
          Weather(8.4, 5.9, 76, 0.0, 3, 14.2, 250, (3, 61, 63, 2), 9.5, 4.0, 2.4, 55, 25.0)),
    Place(2643743, "London", 51.50853, -0.12574, "United Kingdom", "GB", "England", "Europe/London", "GMT", 0,
          8961989, Weather(6.1, 2.8, 81, 0.2, 61, 19.8, 240, (61, 80, 3, 45), 7.5, 3.1, 3.3, 80, 30.0)),
    Place(1850147, "Tokyo", 35.6895, 139.69171, "Japan", "JP", "Tokyo", "Asia/Tokyo", "JST", 32400, 8336599,
          Weather(9.1, 6.8, 40, 0.0, 1, 8.3, 320, (1, 0, 2, 3), 11.2, 2.3, 0.0, 5, 15.0)),
    Place(5128581, "New York", 40.71427, -74.00597, "United States", "US", "New York", "America/New_York", "EST",
          -18000, 8804190, Weather(1.5, -3.1, 55, 0.0, 2, 18.4, 300, (2, 71, 3, 0), 3.4, -4.2, 0.0, 10, 28.0)),
    Place(2147714, "Sydney", -33.86785, 151.20732, "Australia", "AU", "New South Wales", "Australia/Sydney", "AEDT",
          39600, 4627345, Weather(24.8, 25.6, 64, 0.0, 0, 15.1, 90, (0, 1, 95, 80), 27.3, 19.4, 0.0, 15, 24.0)),
    Place(360630, "Cairo", 30.06263, 31.24967, "Egypt", "EG", "Cairo", "Africa/Cairo", "EET", 7200, 9606916,
          Weather(19.5, 18.7, 45, 0.0, 0, 11.0, 0, (0, 0, 1, 0), 21.6, 10.8, 0.0, 0, 18.0)),
    # A second Paris, so "Paris, Texas" has something to find.
    Place(4717560, "Paris", 33.66094, -95.55551, "United States", "US", "Texas", "America/Chicago", "CST", -21600,
          24782, Weather(12.0, 10.5, 60, 0.0, 2, 16.0, 180, (2, 3, 61, 0), 14.0, 3.5, 1.0, 30, 22.0)),
)


def find_place(name: str) -> Place:
    """The first place with this name (the one the geocoding API ranks first)."""
    return next(p for p in PLACES if p.name.lower() == name.lower())


def to_fahrenheit(celsius: float) -> float:
    return celsius * 9 / 5 + 32


# ------------------------------------------------------------------------------------------ FlatBuffers writer
# The openmeteo_sdk wheel ships the generated readers and the enums, but not the generated builder functions, so the
# tables are laid out here with flatbuffers.Builder by field slot, in the order of the sdk's weather_api.fbs:
#   VariableWithValues: variable 0, unit 1, value 2, values 3, values_int64 4, altitude 5, aggregation 6, ... (13)
#   VariablesWithTime:  time 0, time_end 1, interval 2, variables 3
#   WeatherApiResponse: latitude 0, longitude 1, elevation 2, generation_time_milliseconds 3, location_id 4, model 5,
#                       utc_offset_seconds 6, timezone 7, timezone_abbreviation 8, current 9, daily 10, ... (15)

@dataclass(frozen=True)
class Column:
    """How one requested variable name maps onto the FlatBuffers schema."""

    variable: int
    unit: int
    altitude: int = 0
    aggregation: int = Aggregation.none


CURRENT_COLUMNS = {
    "temperature_2m": Column(Variable.temperature, Unit.celsius, 2),
    "apparent_temperature": Column(Variable.apparent_temperature, Unit.celsius),
    "relative_humidity_2m": Column(Variable.relative_humidity, Unit.percentage, 2),
    "precipitation": Column(Variable.precipitation, Unit.millimetre),
    "weather_code": Column(Variable.weather_code, Unit.wmo_code),
    "wind_speed_10m": Column(Variable.wind_speed, Unit.kilometres_per_hour, 10),
    "wind_direction_10m": Column(Variable.wind_direction, Unit.degree_direction, 10),
}
DAILY_COLUMNS = {
    "weather_code": Column(Variable.weather_code, Unit.wmo_code),
    "temperature_2m_max": Column(Variable.temperature, Unit.celsius, 2, Aggregation.maximum),
    "temperature_2m_min": Column(Variable.temperature, Unit.celsius, 2, Aggregation.minimum),
    "precipitation_sum": Column(Variable.precipitation, Unit.millimetre, 0, Aggregation.sum),
    "precipitation_probability_max": Column(Variable.precipitation_probability, Unit.percentage, 0,
                                            Aggregation.maximum),
    "wind_speed_10m_max": Column(Variable.wind_speed, Unit.kilometres_per_hour, 10, Aggregation.maximum),
}
_CURRENT_VALUES = {"temperature_2m": "temperature", "apparent_temperature": "apparent_temperature",
                   "relative_humidity_2m": "humidity", "precipitation": "precipitation",
                   "weather_code": "weather_code", "wind_speed_10m": "wind_speed",
                   "wind_direction_10m": "wind_direction"}
_DAILY_VALUES = {"weather_code": "weather_code", "temperature_2m_max": "temperature_max",
                 "temperature_2m_min": "temperature_min", "precipitation_sum": "precipitation_sum",
                 "precipitation_probability_max": "precipitation_probability",
                 "wind_speed_10m_max": "wind_speed_max"}


def _variable(builder: flatbuffers.Builder, column: Column, unit: int, value: float | None = None,
              values: list[float] | None = None) -> int:
    values_offset = None
    if values is not None:
        builder.StartVector(4, len(values), 4)
        for v in reversed(values):
            builder.PrependFloat32(v)
        values_offset = builder.EndVector()
    builder.StartObject(13)
    if values_offset is not None:
        builder.PrependUOffsetTRelativeSlot(3, values_offset, 0)
    if value is not None:
        builder.PrependFloat32Slot(2, value, 0.0)
    builder.PrependInt16Slot(5, column.altitude, 0)
    builder.PrependUint8Slot(0, column.variable, 0)
    builder.PrependUint8Slot(1, unit, 0)
    builder.PrependUint8Slot(6, column.aggregation, 0)
    return builder.EndObject()


def _section(builder: flatbuffers.Builder, start: int, end: int, interval: int, variables: list[int]) -> int:
    builder.StartVector(4, len(variables), 4)
    for offset in reversed(variables):
        builder.PrependUOffsetTRelative(offset)
    vector = builder.EndVector()
    builder.StartObject(4)
    builder.PrependInt64Slot(0, start, 0)
    builder.PrependInt64Slot(1, end, 0)
    builder.PrependInt32Slot(2, interval, 0)
    builder.PrependUOffsetTRelativeSlot(3, vector, 0)
    return builder.EndObject()


def forecast_flatbuffers(place: Place, current: list[str], daily: list[str], days: int,
                         temperature_unit: str = "celsius") -> bytes:
    """One size-prefixed WeatherApiResponse, variables in the order requested, as Open-Meteo streams it."""
    fahrenheit = temperature_unit == "fahrenheit"

    def unit_and_value(column: Column, value: float) -> tuple[int, float]:
        if column.unit == Unit.celsius and fahrenheit:
            return Unit.fahrenheit, to_fahrenheit(value)
        return column.unit, value

    builder = flatbuffers.Builder(1024)
    timezone_name = builder.CreateString(place.timezone)
    abbreviation = builder.CreateString(place.timezone_abbreviation)
    now = int(NOW.timestamp())
    current_offset = daily_offset = None
    if current:
        offsets = []
        for name in current:
            column = CURRENT_COLUMNS[name]
            unit, value = unit_and_value(column, getattr(place.weather, _CURRENT_VALUES[name]))
            offsets.append(_variable(builder, column, unit, value=value))
        current_offset = _section(builder, now, now + 900, 900, offsets)
    if daily:
        local_date = datetime.fromtimestamp(now + place.utc_offset_seconds, tz=UTC).date()
        midnight = int(datetime(local_date.year, local_date.month, local_date.day, tzinfo=UTC).timestamp())
        first_day = midnight - place.utc_offset_seconds  # the instant local midnight happens
        rows = [place.weather.day(i) for i in range(days)]
        offsets = []
        for name in daily:
            column = DAILY_COLUMNS[name]
            converted = [unit_and_value(column, row[_DAILY_VALUES[name]]) for row in rows]
            unit = converted[0][0] if converted else column.unit
            offsets.append(_variable(builder, column, unit, values=[v for _, v in converted]))
        daily_offset = _section(builder, first_day, first_day + days * 86400, 86400, offsets)
    builder.StartObject(15)
    builder.PrependFloat32Slot(0, place.latitude, 0.0)
    builder.PrependFloat32Slot(1, place.longitude, 0.0)
    builder.PrependFloat32Slot(2, 20.0, 0.0)
    builder.PrependFloat32Slot(3, 0.25, 0.0)
    builder.PrependUint8Slot(5, Model.best_match, 0)
    builder.PrependInt32Slot(6, place.utc_offset_seconds, 0)
    builder.PrependUOffsetTRelativeSlot(7, timezone_name, 0)
    builder.PrependUOffsetTRelativeSlot(8, abbreviation, 0)
    if current_offset is not None:
        builder.PrependUOffsetTRelativeSlot(9, current_offset, 0)
    if daily_offset is not None:
        builder.PrependUOffsetTRelativeSlot(10, daily_offset, 0)
    builder.FinishSizePrefixed(builder.EndObject())
    return bytes(builder.Output())


# ------------------------------------------------------------------------------------------------ the articles

@dataclass(frozen=True)
class Article:
    title: str
    pageid: int
    extract: str
    search_text: str = ""
    options: tuple[str, ...] = ()  # a disambiguation page lists these

    @property
    def url(self) -> str:
        return "https://en.wikipedia.org/wiki/" + self.title.replace(" ", "_")


_PYTHON_INTRO = " ".join([
    "Python is a high-level, general-purpose programming language.",
    "Its design philosophy emphasizes code readability with the use of significant indentation.",
    "Python is dynamically type-checked and garbage-collected.",
    "It supports multiple programming paradigms, including structured, object-oriented and functional programming.",
    "It is often described as a batteries-included language due to its comprehensive standard library.",
    "Guido van Rossum began working on Python in the late 1980s as a successor to the ABC programming language.",
    "Python 3.0, released in 2008, was a major revision not completely backward-compatible with earlier versions.",
] * 3)

ARTICLES: tuple[Article, ...] = (
    Article("Oslo", 22309, "Oslo is the capital and most populous city of Norway. It constitutes both a county and "
            "a municipality. The city has a population of about 720,000.", "capital of Norway city"),
    Article("Ada Lovelace", 974, "Augusta Ada King, Countess of Lovelace, was an English mathematician and writer, "
            "chiefly known for her work on Charles Babbage's proposed mechanical general-purpose computer, the "
            "Analytical Engine.", "mathematician first computer programmer Babbage"),
    Article("Python (programming language)", 23862, _PYTHON_INTRO, "python programming language guido"),
    Article("Mercury", 19694, "", "mercury", options=("Mercury (planet)", "Mercury (element)",
                                                      "Mercury (mythology)", "Freddie Mercury")),
    Article("Mercury (planet)", 19000, "Mercury is the first planet from the Sun and the smallest in the Solar "
            "System.", "planet closest to the sun"),
    Article("Mercury (element)", 18617, "Mercury is a chemical element; it has symbol Hg and atomic number 80.",
            "chemical element hg quicksilver"),
    Article("Freddie Mercury", 42068, "Freddie Mercury was a British singer and songwriter who achieved global fame "
            "as the lead vocalist of the rock band Queen.", "queen singer"),
    Article("Eiffel Tower", 9232, "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
            "France.", "paris landmark tower"),
)
# Listed by search but gone when the page is fetched (deleted in between): the tool must move on to the next hit.
GHOST_TITLES = ("Ada Lovelace (deleted draft)",)


def find_article(title: str) -> Article | None:
    return next((a for a in ARTICLES if a.title == title), None)


def search_titles(query: str, limit: int) -> list[str]:
    """Rank like a search engine would, roughly: exact title, title containing the query, all words found."""
    q = query.lower().strip()
    words = q.split()
    scored = []
    for order, title in enumerate([a.title for a in ARTICLES] + list(GHOST_TITLES)):
        article = find_article(title)
        text = f"{title} {article.search_text if article else ''} {article.extract if article else ''}".lower()
        if title.lower() == q:
            score = 3
        elif q in title.lower():
            score = 2 + (0.5 if title in GHOST_TITLES else 0)  # the ghost ranks above the real page
        elif words and all(w in text for w in words):
            score = 1
        else:
            continue
        scored.append((-score, order, title))
    return [title for _, _, title in sorted(scored)[:limit]]


def _disambiguation_html(article: Article) -> str:
    items = "".join(f'<li><a href="/wiki/{o.replace(" ", "_")}" title="{o}">{o}</a>, a meaning</li>'
                    for o in article.options)
    return (f'<div class="mw-parser-output"><p><b>{article.title}</b> may refer to:</p>'
            f'<ul><li class="toclevel-1 tocsection-1"><a href="#Science">Science</a></li></ul>'
            f"<ul>{items}</ul></div>")


def wiki_answer(query: dict[str, str]) -> dict[str, Any]:
    """The MediaWiki action API's JSON for the requests the `wikipedia` package makes."""
    if query.get("format") != "json" or query.get("action", "query") != "query":
        return {"error": {"code": "badvalue", "info": "Only action=query&format=json is served here."}}
    if query.get("list") == "search":
        if not query.get("srsearch"):
            return {"error": {"code": "nosrsearch", "info": 'The "srsearch" parameter must be set.'}}
        titles = search_titles(query["srsearch"], int(query.get("srlimit", 10)))
        return {"batchcomplete": "", "query": {"searchinfo": {"totalhits": len(titles)},
                                               "search": [{"ns": 0, "title": t} for t in titles]}}
    title = query.get("titles", "")
    article = find_article(title)
    if article is None:
        return {"batchcomplete": "", "query": {"pages": {"-1": {"ns": 0, "title": title, "missing": ""}}}}
    page: dict[str, Any] = {"pageid": article.pageid, "ns": 0, "title": article.title}
    prop = query.get("prop", "")
    if prop == "info|pageprops":
        page.update({"contentmodel": "wikitext", "pagelanguage": "en", "fullurl": article.url,
                     "canonicalurl": article.url, "editurl": article.url + "?action=edit"})
        if article.options:
            page["pageprops"] = {"disambiguation": ""}
    elif prop == "revisions" and "rvparse" in query:
        page["revisions"] = [{"contentformat": "text/x-wiki", "contentmodel": "wikitext",
                              "*": _disambiguation_html(article)}]
    elif prop == "extracts":
        page["extract"] = article.extract
    else:
        return {"error": {"code": "badvalue", "info": f"prop={prop!r} is not served here."}}
    return {"batchcomplete": "", "query": {"pages": {str(article.pageid): page}}}


# --------------------------------------------------------------------------------------------------- the server

FAULT_MODES = ("delay", "status", "garbage", "truncate", "corrupt", "cut", "trickle", "content_type", "close")


@dataclass
class Fault:
    """Misbehaviour for requests to one path. `times`: how many requests it hits (None: until cleared).

    `when`: only requests whose query has these values (e.g. {"prop": "extracts"}).
    delay: wait `seconds`, then answer normally. status: answer `status` (429 adds Retry-After: `retry_after`) with
    `body`. garbage: 200 with bytes that are no FlatBuffers or JSON. truncate: 200 with the first half of the real
    body (Content-Length says half). corrupt: 200, the first half of a FlatBuffers body behind a size prefix that
    matches it (framing fine, tables pointing past the end). trickle: the real body, 16 bytes every `seconds`.
    cut: Content-Length of the whole body, half of it sent, then the connection
    closes. content_type: 200, an HTML page. close: the connection closes before any answer.
    """

    mode: str
    times: int | None = None
    seconds: float = 0.0
    status: int = 500
    retry_after: int | None = 30
    body: Any = None  # for "status": JSON-able, or bytes sent as they are
    content_type: str = "application/json; charset=utf-8"  # for "status"
    when: dict[str, str] = field(default_factory=dict)


class ToolServer:
    """The server, run on a background thread. Use as a context manager, or `start()` / `stop()`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self._faults: dict[str, list[Fault]] = {}
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set on stop/reset, so delayed answers stop waiting
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (path, query, headers)
        self._httpd = _QuietHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the tools here."""
        return {"OPEN_METEO_FORECAST_URL": self.url + FORECAST_PATH,
                "OPEN_METEO_GEOCODING_URL": self.url + GEOCODING_PATH,
                "WIKIPEDIA_API_URL": self.url + WIKI_PATH}

    def start(self) -> ToolServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="tool-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ToolServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def fault(self, path: str, mode: str, **options: Any) -> None:
        """Make requests to `path` misbehave (see `Fault`); several faults on one path apply in order."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(FAULT_MODES)}")
        with self._lock:
            self._faults.setdefault(path, []).append(Fault(mode, **options))

    def reset(self) -> None:
        """No faults, zero counters, empty request log; delayed answers in flight stop waiting."""
        self._wake.set()
        with self._lock:
            self._faults.clear()
            self._hits.clear()
            self.requests.clear()
        self._wake = threading.Event()

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def _take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            self._hits[path] = self._hits.get(path, 0) + 1
            for fault in self._faults.get(path, []):
                if any(query.get(k) != v for k, v in fault.when.items()):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout passed) leaves a broken pipe behind: expected here, not worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: ToolServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: simple, and "close" faults stay local

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            # Repeated keys (current=a&current=b, as niquests sends lists) mean the same as current=a,b.
            query = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if parts.path == "/_control/hits":
                return self._send(200, "application/json", json.dumps(dict(server._hits)).encode())
            with server._lock:
                server.requests.append((parts.path, query, dict(self.headers)))
            fault = server._take_fault(parts.path, query)
            if fault is not None and fault.mode == "delay":
                server._wake.wait(fault.seconds)
                fault = None
            status, content_type, body = self._answer(parts.path, query)
            if fault is None:
                return self._send(status, content_type, body)
            if fault.mode == "close":
                self.close_connection = True
                return None
            if fault.mode == "status":
                payload = fault.body if fault.body is not None else {
                    "error": True, "reason": f"Simulated HTTP {fault.status}"}
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                extra = {"Retry-After": str(fault.retry_after)} if fault.status == 429 and fault.retry_after else {}
                return self._send(fault.status, fault.content_type, data, extra)
            if fault.mode == "garbage":
                return self._send(200, content_type, bytes(range(7, 250, 3)) * 4)
            if fault.mode == "truncate":
                return self._send(200, content_type, body[: len(body) // 2])
            if fault.mode == "corrupt":
                half = body[4: 4 + (len(body) - 4) // 2]
                return self._send(200, content_type, len(half).to_bytes(4, "little") + half)
            if fault.mode == "content_type":
                return self._send(200, "text/html; charset=utf-8",
                                  b"<html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>")
            if fault.mode == "trickle":
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 16):
                    self.wfile.write(body[start:start + 16])
                    self.wfile.flush()
                    if server._wake.wait(fault.seconds):
                        break
                return None
            if fault.mode == "cut":
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            return self._send(500, "text/plain", b"unknown fault")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/_control/reset":
                server.reset()
            elif self.path == "/_control/fault":
                try:
                    server.fault(payload.pop("path"), payload.pop("mode"), **payload)
                except (KeyError, TypeError, ValueError) as exc:
                    return self._send(400, "application/json", json.dumps({"error": str(exc)}).encode())
            else:
                return self._send(404, "application/json", b'{"error": "not found"}')
            self._send(200, "application/json", b'{"ok": true}')

        def _answer(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
            if path == GEOCODING_PATH:
                return self._geocoding(query)
            if path == FORECAST_PATH:
                return self._forecast(query)
            if path == WIKI_PATH:
                return 200, "application/json; charset=utf-8", json.dumps(wiki_answer(query)).encode()
            return 404, "application/json", b'{"error": true, "reason": "Not Found"}'

        def _geocoding(self, query: dict[str, str]) -> tuple[int, str, bytes]:
            name = query.get("name", "").strip().lower()
            if not name:
                return _json(400, {"error": True, "reason": "Parameter 'name' is required"})
            count = max(1, min(100, int(query.get("count", 10))))
            exact = [p for p in PLACES if p.name.lower() == name]
            prefix = [p for p in PLACES if p.name.lower().startswith(name) and p not in exact]
            found = (exact + prefix)[:count]
            body: dict[str, Any] = {"generationtime_ms": 0.42}
            if found:
                body = {"results": [p.geocoding_json() for p in found], **body}
            return _json(200, body)

        def _forecast(self, query: dict[str, str]) -> tuple[int, str, bytes]:
            if query.get("format") != "flatbuffers":
                return _json(400, {"error": True, "reason": "This test server only speaks format=flatbuffers"})
            try:
                lat, lon = float(query["latitude"]), float(query["longitude"])
                days = int(query.get("forecast_days", 7))
            except (KeyError, ValueError):
                return _json(400, {"error": True, "reason": "Parameter 'latitude' and 'longitude' must be numbers"})
            if not 0 <= days <= 16:
                return _json(400, {"error": True, "reason": "Forecast days is invalid. Allowed range 0 to 16."})
            current = [v for v in query.get("current", "").split(",") if v]
            daily = [v for v in query.get("daily", "").split(",") if v]
            for name, known in [(v, CURRENT_COLUMNS) for v in current] + [(v, DAILY_COLUMNS) for v in daily]:
                if name not in known:
                    return _json(400, {"error": True, "reason": f"Cannot initialize variable from invalid String "
                                                                f"value {name}"})
            place = min(PLACES, key=lambda p: (p.latitude - lat) ** 2 + (p.longitude - lon) ** 2)
            unit = query.get("temperature_unit", "celsius")
            return 200, "application/octet-stream", forecast_flatbuffers(place, current, daily, days, unit)

        def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, "application/json; charset=utf-8", json.dumps(body).encode()


# ------------------------------------------------------------------------------------------------ pytest fixtures

@pytest.fixture(scope="session")
def tool_server():
    """One local Open-Meteo + Wikipedia server for the whole test session."""
    with ToolServer() as server:
        yield server


@pytest.fixture
def tool_env(tool_server, monkeypatch, tmp_path):
    """Point the tools at the local server (HTTP cache in tmp_path, short timeouts); faults reset around each test."""
    tool_server.reset()
    for key, value in tool_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TOOLS_CACHE_DIR", str(tmp_path / "http-cache"))
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "2")
    monkeypatch.setenv("TOOLS_RETRY_BACKOFF_S", "0.01")
    yield tool_server
    tool_server.reset()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Open-Meteo and Wikipedia look-alike answers on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    args = parser.parse_args(argv)
    server = ToolServer(port=args.port).start()
    for key, value in server.env().items():
        print(f"export {key}={value}")
    print(f"# tool server on {server.url}: Ctrl-C to stop", file=sys.stderr)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
