"""What the weather tools return, built from plain values: the one place where result dicts and error values are made.

`tools/weather.py` reads Open-Meteo's FlatBuffers answer into plain numbers and calls these functions; the training
dataset (`training/dataset/tool_turns.py`) calls the same functions with simulated numbers, so the model trains on
results of exactly the shape, rounding, key order and wording the real tool produces. Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.base import ToolError

MAX_FORECAST_DAYS = 16
MAX_LOCATION_CHARS = 200
GEOCODING = "Open-Meteo's place search"
FORECAST = "Open-Meteo's weather service"

# WMO weather interpretation codes, as documented by Open-Meteo ("weather_code").
WMO_CODES: dict[int, str] = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast",
    45: "fog", 48: "depositing rime fog",
    51: "light drizzle", 53: "moderate drizzle", 55: "dense drizzle",
    56: "light freezing drizzle", 57: "dense freezing drizzle",
    61: "slight rain", 63: "moderate rain", 65: "heavy rain",
    66: "light freezing rain", 67: "heavy freezing rain",
    71: "slight snowfall", 73: "moderate snowfall", 75: "heavy snowfall", 77: "snow grains",
    80: "slight rain showers", 81: "moderate rain showers", 82: "violent rain showers",
    85: "slight snow showers", 86: "heavy snow showers",
    95: "thunderstorm", 96: "thunderstorm with slight hail", 99: "thunderstorm with heavy hail",
}

# Open-Meteo's unit names (openmeteo_sdk.Unit) -> the symbols the model reads.
UNIT_SYMBOLS = {"celsius": "°C", "fahrenheit": "°F", "kilometres_per_hour": "km/h", "miles_per_hour": "mph",
                "metre_per_second": "m/s", "knots": "kn", "millimetre": "mm", "inch": "in", "percentage": "%"}


class WeatherError(ToolError):
    """A weather failure worth telling the user about; `as_result()` is what the tool returns."""


@dataclass(frozen=True)
class CurrentValues:
    """Current conditions as numbers, in the units named beside them (NaN = Open-Meteo has no data)."""

    time: str  # local time, "2025-01-15T13:00"
    timezone: str | None
    weather_code: float
    temperature: float
    apparent_temperature: float
    relative_humidity: float
    wind_speed: float
    wind_direction: float | None  # degrees; None when the answer lacks it
    precipitation: float


@dataclass(frozen=True)
class DayValues:
    """One forecast day as numbers."""

    date: str  # local date, "2025-01-15"
    weather_code: float
    temperature_min: float
    temperature_max: float
    precipitation_sum: float
    precipitation_probability: float
    wind_speed_max: float


# --------------------------------------------------------------------------------------------- argument checks

def check_location(location: Any) -> str:
    if not isinstance(location, str):
        raise WeatherError(f"location must be a place name (text), got {type(location).__name__}.")
    location = " ".join(location.split())
    if not location:
        raise WeatherError("location is empty: give a city or town name, e.g. \"Oslo\".")
    if len(location) > MAX_LOCATION_CHARS:
        raise WeatherError(f"location is {len(location)} characters long; a place name has at most "
                           f"{MAX_LOCATION_CHARS}.")
    return location


def check_unit(unit: Any) -> str:
    if isinstance(unit, str) and unit.strip().lower() in ("celsius", "fahrenheit"):
        return unit.strip().lower()
    raise WeatherError(f"unit must be \"celsius\" or \"fahrenheit\", got {unit!r}.")


def check_days(days: Any) -> int:
    if isinstance(days, float) and days.is_integer():
        days = int(days)
    if isinstance(days, bool) or not isinstance(days, int):
        raise WeatherError(f"days must be a whole number from 1 to {MAX_FORECAST_DAYS}, got {days!r}.")
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise days_out_of_range(days)
    return days


# ------------------------------------------------------------------------------------------------ small pieces

def place_label(name: str, region: str, country: str) -> str:
    """How a result names the place found: "Paris, Île-de-France, France" (no part twice, none empty)."""
    return ", ".join([name] + [p for p in (region, country) if p and p != name])


def place_fields(label: str, note: str = "") -> dict[str, str]:
    """The fields every result opens with: the place found, and a note when it is not quite the place asked for."""
    return {"location": label, **({"note": note} if note else {})}


def unit_symbol(name: str) -> str:
    return UNIT_SYMBOLS.get(name, name or "?")


def number(value: float, digits: int = 1) -> float | int | None:
    """Rounded for the model (whole numbers as int); NaN (Open-Meteo's "no data") becomes None."""
    if not math.isfinite(value):
        return None
    return round(float(value), digits) if digits else int(round(value))


def conditions(code: float) -> str:
    if not math.isfinite(code):
        return "unknown"
    return WMO_CODES.get(int(code), f"unknown weather code {int(code)}")


def compass(degrees: float | None) -> str | None:
    if degrees is None or not math.isfinite(degrees):
        return None
    return ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[int((degrees % 360) / 45 + 0.5) % 8]


def check_plausible(label: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise WeatherError(f"{FORECAST} sent an implausible {label} ({value}); the data looks corrupt.")


# ----------------------------------------------------------------------------------------------------- results

def current_result(place: Mapping[str, str], values: CurrentValues, units: Mapping[str, str]) -> dict[str, Any]:
    """get_current_weather's result. `units`: Open-Meteo unit names for temperature, wind_speed, precipitation."""
    result = {
        **place,
        "time": values.time,
        "timezone": values.timezone or None,
        "conditions": conditions(values.weather_code),
        "temperature": number(values.temperature),
        "apparent_temperature": number(values.apparent_temperature),
        "relative_humidity": number(values.relative_humidity, 0),
        "wind_speed": number(values.wind_speed),
        "wind_direction": compass(values.wind_direction),
        "precipitation": number(values.precipitation),
        "units": {"temperature": unit_symbol(units["temperature"]), "relative_humidity": "%",
                  "wind_speed": unit_symbol(units["wind_speed"]), "precipitation": unit_symbol(units["precipitation"])},
    }
    check_plausible("temperature", result["temperature"], -130, 160)
    check_plausible("humidity", result["relative_humidity"], 0, 100)
    check_plausible("wind speed", result["wind_speed"], 0, 500)
    return result


def forecast_result(place: Mapping[str, str], timezone: str | None, days: list[DayValues],
                    units: Mapping[str, str]) -> dict[str, Any]:
    """get_weather_forecast's result. `units`: Open-Meteo unit names for temperature, precipitation_sum,
    wind_speed_max."""
    if not days:
        raise WeatherError(f"{FORECAST} sent a forecast with no days in it.")
    entries = []
    for day in days:
        entry = {"date": day.date, "conditions": conditions(day.weather_code),
                 "temperature_min": number(day.temperature_min), "temperature_max": number(day.temperature_max),
                 "precipitation_sum": number(day.precipitation_sum),
                 "precipitation_probability": number(day.precipitation_probability, 0),
                 "wind_speed_max": number(day.wind_speed_max)}
        check_plausible("temperature", entry["temperature_max"], -130, 160)
        check_plausible("temperature", entry["temperature_min"], -130, 160)
        entries.append(entry)
    return {
        **place,
        "timezone": timezone or None,
        "units": {"temperature": unit_symbol(units["temperature"]),
                  "precipitation_sum": unit_symbol(units["precipitation_sum"]),
                  "precipitation_probability": "%",
                  "wind_speed_max": unit_symbol(units["wind_speed_max"])},
        "days": entries,
    }


# ------------------------------------------------------------------------------------------------------ errors

def place_not_found(location: str) -> WeatherError:
    return WeatherError(f"No place called \"{location}\" was found. Check the spelling, or name a nearby city.")


def days_out_of_range(days: int) -> WeatherError:
    return WeatherError(f"days must be from 1 to {MAX_FORECAST_DAYS} (Open-Meteo forecasts at most "
                        f"{MAX_FORECAST_DAYS} days ahead), got {days}.")


def http_status_error(service: str, status: int, reason: str = "", retry_after_s: int | None = None) -> WeatherError:
    """The error for an HTTP status >= 400 (`reason`: the server's own explanation, if it gave one)."""
    return WeatherError.for_status(service, status, reason, retry_after_s)
