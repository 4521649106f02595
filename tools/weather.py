"""Weather tools: current conditions and a daily forecast for a place, from Open-Meteo.

The place name is resolved with Open-Meteo's geocoding API (plain JSON). The weather then comes as FlatBuffers through
the `openmeteo-requests` client, over a requests session with `requests-cache` caching and `retry-requests` retries, as
the client's README recommends. (The client is built on niquests now, but it only calls `session.get(...)` and reads
`.status_code`, `.json()`, `.content` from the answer, so a requests-cache session plugs in unchanged.)

This module does the I/O and reads the FlatBuffers answer into plain numbers; `tools/weather_results.py` turns those
into the result dict (and writes the error values), the same functions the training dataset uses.

Every failure is a value, `{"error": "<one sentence>", ...context}`: the model reads it and tells the user; nothing
raises out of a tool. Endpoints and timeouts come from the environment at call time (see `tools/config.py`).

Try it (live internet, or the local test server: `python -m tests.tool_server` and its exports):
    python -m tools.weather Oslo
    python -m tools.weather "Paris, France" --days 3 --unit fahrenheit
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tools.base import echo_argument, tool
from tools.config import (
    Deadline,
    ToolConfigError,
    ToolsConfig,
    build_session,
    describe_http_failure,
    is_transport_failure,
    retry_after_seconds,
)
from tools.weather_results import (  # noqa: F401  (WMO_CODES, MAX_FORECAST_DAYS: part of this module's interface)
    FORECAST,
    GEOCODING,
    MAX_FORECAST_DAYS,
    WMO_CODES,
    CurrentValues,
    DayValues,
    WeatherError,
    check_days,
    check_location,
    check_unit,
    current_result,
    forecast_result,
    http_status_error,
    place_fields,
    place_label,
    place_not_found,
)

logger = logging.getLogger(__name__)

CURRENT_VARIABLES = ("temperature_2m", "apparent_temperature", "relative_humidity_2m", "precipitation",
                     "weather_code", "wind_speed_10m", "wind_direction_10m")
DAILY_VARIABLES = ("weather_code", "temperature_2m_max", "temperature_2m_min", "precipitation_sum",
                   "precipitation_probability_max", "wind_speed_10m_max")


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    region: str
    latitude: float
    longitude: float
    note: str = ""  # set when the place found is not quite the place asked for

    @property
    def label(self) -> str:
        return place_label(self.name, self.region, self.country)


# ----------------------------------------------------------------------------------------------------- the tools

@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the current weather at a place: temperature, feels-like temperature, humidity, wind, precipitation
    and conditions.

    Args:
        location: The place, as a city or town name, e.g. "Oslo" or "Paris, France".
        unit: The temperature unit.
    """
    def work() -> dict[str, Any]:
        place_name, temperature_unit = check_location(location), check_unit(unit)
        return _ask(place_name, {"current": ",".join(CURRENT_VARIABLES), "forecast_days": 1,
                                 "temperature_unit": temperature_unit}, _current_result)

    return _as_value(work, {"location": echo_argument(location)}, "The weather lookup")


@tool
def get_weather_forecast(location: str, days: int = 3, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the daily weather forecast for a place: min and max temperature, precipitation, wind and conditions per day.

    Args:
        location: The place, as a city or town name, e.g. "Tokyo" or "Portland, Oregon".
        days: How many days to forecast, starting today (1 to 16).
        unit: The temperature unit.
    """
    def work() -> dict[str, Any]:
        place_name, temperature_unit, day_count = check_location(location), check_unit(unit), check_days(days)
        return _ask(place_name, {"daily": ",".join(DAILY_VARIABLES), "forecast_days": day_count,
                                 "temperature_unit": temperature_unit},
                    lambda place, answer: _forecast_result(place, answer, day_count))

    return _as_value(work, {"location": echo_argument(location), "days": echo_argument(days)},
                     "The weather forecast lookup")


def _as_value(work, context: dict[str, Any], what: str) -> dict[str, Any]:
    """Run a tool's work; every failure becomes {"error": sentence, **context}."""
    try:
        return work()
    except WeatherError as exc:
        return {**exc.as_result(), **context}
    except ToolConfigError as exc:
        return {"error": f"The weather tool is misconfigured: {exc}.", **context}
    except Exception:  # a bug must not crash the chat; the log keeps the traceback for us
        logger.exception("%s failed", what)
        return {"error": f"{what} failed unexpectedly.", **context}


def _ask(location: str, params: dict[str, Any], to_result) -> dict[str, Any]:
    """Geocode, fetch, decode: all under one time budget and one session."""
    config = ToolsConfig.from_env()
    _import_clients()
    deadline = Deadline(config.timeout_s)
    with build_session(config, deadline, "open-meteo", _cacheable) as http:
        place = _geocode(http, location, config, deadline)
        return to_result(place, _forecast(http, config, deadline, place, params))


def _import_clients() -> None:
    """Import the HTTP libraries before the clock starts: a cold import takes ~0.5 s, and that is not the server's."""
    import openmeteo_requests  # noqa: F401
    import requests_cache  # noqa: F401
    import retry_requests  # noqa: F401


# ------------------------------------------------------------------------------------------------------ HTTP

def _cacheable(response) -> bool:
    """Only well-formed answers go into the cache: JSON that parses, FlatBuffers whose framing is whole."""
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        try:
            json.loads(response.content)
            return True
        except ValueError:
            return False
    return content_type.startswith("application/octet-stream") and _framing_problem(response.content) is None


def _framing_problem(data: bytes) -> str | None:
    """Open-Meteo sends size-prefixed FlatBuffers messages back to back; say what is wrong with the framing, if any."""
    if not data:
        return "it was empty"
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            return "it was cut off"
        length = int.from_bytes(data[pos:pos + 4], "little")
        if length < 8 or length > 64_000_000:
            return "it is not in the FlatBuffers format"
        if pos + 4 + length > len(data):
            return "it was cut off"
        pos += 4 + length
    return None


def _http_error(response, service: str) -> WeatherError:
    """The error for an HTTP status >= 400, with Open-Meteo's reason when the body gives one."""
    reason = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("reason"), str):
            reason = body["reason"]
    except ValueError:
        pass
    return http_status_error(service, response.status_code, reason, retry_after_seconds(response.headers))


def _geocode(http, location: str, config: ToolsConfig, deadline: Deadline) -> Place:
    """Resolve a place name. "Paris, France": search "Paris", prefer the result whose country or region matches."""
    name, _, qualifier = (part.strip() for part in location.partition(","))
    if not name:
        raise WeatherError(f"location \"{location}\" has no place name before the comma.")
    params = {"name": name, "count": 10 if qualifier else 1, "language": "en", "format": "json"}
    try:
        response = http.get(config.geocoding_url, params=params, timeout=deadline.timeout())
    except Exception as exc:
        raise WeatherError(describe_http_failure(exc, GEOCODING, config.timeout_s)) from None
    if response.status_code >= 400:
        raise _http_error(response, GEOCODING)
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if content_type != "application/json":
        raise WeatherError(f"{GEOCODING} answered with {content_type or 'no content type'} instead of JSON.")
    try:
        body = response.json()
    except ValueError:
        raise WeatherError(f"{GEOCODING} sent an answer that is not valid JSON.") from None
    results = body.get("results") if isinstance(body, dict) else None
    if not results:
        raise place_not_found(location)
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise WeatherError(f"{GEOCODING} sent results in an unexpected shape.")
    chosen, note = results[0], ""
    if qualifier:
        wanted = qualifier.lower()
        matching = [r for r in results if any(str(r.get(key) or "").lower().startswith(wanted)
                                              for key in ("country", "country_code", "admin1", "admin2"))]
        if matching:
            chosen = matching[0]
        else:
            note = f"No \"{name}\" in \"{qualifier}\" was found; this is the best match for \"{name}\"."
    try:
        latitude, longitude = float(chosen["latitude"]), float(chosen["longitude"])
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError
        return Place(name=str(chosen["name"]), country=str(chosen.get("country") or chosen.get("country_code") or ""),
                     region=str(chosen.get("admin1") or ""), latitude=latitude, longitude=longitude, note=note)
    except (KeyError, TypeError, ValueError):
        raise WeatherError(f"{GEOCODING} sent a place without valid coordinates.") from None


def _forecast(http, config: ToolsConfig, deadline: Deadline, place: Place, params: dict[str, Any]):
    """Fetch through openmeteo-requests; return the first decoded `WeatherApiResponse`, its framing checked."""
    import openmeteo_requests

    answers: list = []  # every HTTP answer the client saw, so its status and headers can explain a failure
    http.hooks["response"].append(lambda r, *args, **kwargs: answers.append(r))
    client = openmeteo_requests.Client(session=http)
    query = {"latitude": place.latitude, "longitude": place.longitude, "timezone": "auto",
             "wind_speed_unit": "kmh", "precipitation_unit": "mm", **params}
    try:
        responses = client.weather_api(config.forecast_url, params=query, timeout=deadline.timeout())
    except Exception as exc:
        if answers and answers[-1].status_code >= 400:
            raise _http_error(answers[-1], FORECAST) from None
        if is_transport_failure(exc):
            raise WeatherError(describe_http_failure(exc, FORECAST, config.timeout_s)) from None
        # The answer arrived whole, and the client could not read it.
        raise WeatherError(f"{FORECAST} sent data that could not be decoded as a forecast.") from None
    if answers:
        content_type = answers[-1].headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != "application/octet-stream":
            raise WeatherError(f"{FORECAST} answered with {content_type or 'no content type'} "
                               "instead of forecast data.")
        problem = _framing_problem(answers[-1].content)
        if problem:
            raise WeatherError(f"{FORECAST} sent data that could not be decoded as a forecast ({problem}).")
    if not responses:
        raise WeatherError(f"{FORECAST} sent an empty answer.")
    return responses[0]


# -------------------------------------------------------------------------------------------------- decoding

def _unit_name(code: int) -> str:
    from openmeteo_sdk.Unit import Unit

    return next((k for k, v in vars(Unit).items() if v == code and not k.startswith("_")), "")


def _variables(section) -> dict[tuple[int, int], Any]:
    """The section's variables keyed by (Variable, Aggregation), as the README's NumPy example matches them."""
    found = {}
    for i in range(section.VariablesLength()):
        variable = section.Variables(i)
        found.setdefault((variable.Variable(), variable.Aggregation()), variable)
    return found


def _need(found: dict, variable: int, aggregation: int, what: str):
    item = found.get((variable, aggregation))
    if item is None:  # tolerate an aggregation tag we did not expect, as long as the variable is unambiguous
        candidates = [v for (var, _), v in found.items() if var == variable]
        item = candidates[0] if len(candidates) == 1 else None
    if item is None:
        raise WeatherError(f"{FORECAST} sent a forecast without {what}.")
    return item


def _local_time(unix_seconds: int, utc_offset_seconds: int, fmt: str) -> str:
    return datetime.fromtimestamp(unix_seconds + utc_offset_seconds, tz=UTC).strftime(fmt)


def _place_fields(place: Place) -> dict[str, str]:
    return place_fields(place.label, place.note)


def _timezone(answer) -> str | None:
    return (answer.Timezone() or b"").decode("utf-8", "replace") or None


def _decoded(build):
    """Run a decoding step; a FlatBuffers read past the data (garbage bytes) becomes a WeatherError."""
    try:
        return build()
    except WeatherError:
        raise
    except Exception:
        raise WeatherError(f"{FORECAST} sent data that could not be decoded as a forecast.") from None


def _current_result(place: Place, answer) -> dict[str, Any]:
    """Read the current conditions out of the FlatBuffers answer; `weather_results.current_result` shapes them."""
    from openmeteo_sdk.Aggregation import Aggregation as A
    from openmeteo_sdk.Variable import Variable as V

    def build() -> dict[str, Any]:
        current = answer.Current()
        if current is None:
            raise WeatherError(f"{FORECAST} sent an answer without current conditions.")
        found = _variables(current)
        temperature = _need(found, V.temperature, A.none, "temperature")
        apparent = _need(found, V.apparent_temperature, A.none, "apparent temperature")
        humidity = _need(found, V.relative_humidity, A.none, "humidity")
        precipitation = _need(found, V.precipitation, A.none, "precipitation")
        code = _need(found, V.weather_code, A.none, "conditions")
        wind = _need(found, V.wind_speed, A.none, "wind speed")
        direction = found.get((V.wind_direction, A.none))
        values = CurrentValues(
            time=_local_time(current.Time(), answer.UtcOffsetSeconds(), "%Y-%m-%dT%H:%M"), timezone=_timezone(answer),
            weather_code=code.Value(), temperature=temperature.Value(), apparent_temperature=apparent.Value(),
            relative_humidity=humidity.Value(), wind_speed=wind.Value(),
            wind_direction=direction.Value() if direction is not None else None, precipitation=precipitation.Value())
        units = {"temperature": _unit_name(temperature.Unit()), "wind_speed": _unit_name(wind.Unit()),
                 "precipitation": _unit_name(precipitation.Unit())}
        return current_result(_place_fields(place), values, units)

    return _decoded(build)


def _forecast_result(place: Place, answer, days: int) -> dict[str, Any]:
    """Read the daily forecast out of the FlatBuffers answer; `weather_results.forecast_result` shapes it."""
    from openmeteo_sdk.Aggregation import Aggregation as A
    from openmeteo_sdk.Variable import Variable as V

    def build() -> dict[str, Any]:
        daily = answer.Daily()
        if daily is None:
            raise WeatherError(f"{FORECAST} sent an answer without a daily forecast.")
        found = _variables(daily)
        columns = {
            "weather_code": _need(found, V.weather_code, A.none, "conditions"),
            "temperature_min": _need(found, V.temperature, A.minimum, "minimum temperatures"),
            "temperature_max": _need(found, V.temperature, A.maximum, "maximum temperatures"),
            "precipitation_sum": _need(found, V.precipitation, A.sum, "precipitation sums"),
            "precipitation_probability": _need(found, V.precipitation_probability, A.maximum,
                                               "precipitation probabilities"),
            "wind_speed_max": _need(found, V.wind_speed, A.maximum, "wind speeds"),
        }
        count = min([days] + [c.ValuesLength() for c in columns.values()])
        start, step, offset = daily.Time(), daily.Interval() or 86400, answer.UtcOffsetSeconds()
        entries = [DayValues(date=_local_time(start + i * step, offset, "%Y-%m-%d"),
                             **{key: column.Values(i) for key, column in columns.items()}) for i in range(count)]
        units = {key: _unit_name(columns[key].Unit()) for key in ("temperature_max", "precipitation_sum",
                                                                  "wind_speed_max")}
        units["temperature"] = units.pop("temperature_max")
        return forecast_result(_place_fields(place), _timezone(answer), entries, units)

    return _decoded(build)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Ask the weather tools from the command line.")
    parser.add_argument("location")
    parser.add_argument("--days", type=int, default=0, help="forecast this many days (0: current weather)")
    parser.add_argument("--unit", default="celsius", choices=("celsius", "fahrenheit"))
    args = parser.parse_args()
    if args.days:
        result = get_weather_forecast.run({"location": args.location, "days": args.days, "unit": args.unit})
    else:
        result = get_current_weather.run({"location": args.location, "unit": args.unit})
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
