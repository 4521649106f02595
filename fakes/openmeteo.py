"""Open-Meteo look-alike data for the local fake server: a few fixed places and their weather, the geocoding JSON
and the forecast as the FlatBuffers bytes api.open-meteo.com sends (`fakes.services` serves them over HTTP).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import flatbuffers
from openmeteo_sdk.Aggregation import Aggregation
from openmeteo_sdk.Model import Model
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable

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
    # A city the fine-tuned model never saw, which it used to miscopy ("Uzbekota"): tests/test_copy_places.py.
    Place(3833367, "Ushuaia", -54.8, -68.3, "Argentina", "AR", "Tierra del Fuego", "America/Argentina/Ushuaia", "-03",
          -10800, 58028, Weather(4.7, 0.9, 79, 0.3, 61, 27.4, 270, (61, 3, 80, 2), 6.8, 1.6, 2.6, 65, 38.0)),
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


# ------------------------------------------------------------------------------------------- the answers

def geocoding_answer(query: dict[str, str]) -> tuple[int, str, bytes]:
    """(status, content type, body) for a geocoding request: exact name matches first, then prefixes."""
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


def forecast_answer(query: dict[str, str]) -> tuple[int, str, bytes]:
    """(status, content type, body) for a forecast request: the nearest place's weather, or Open-Meteo's 400s."""
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


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, "application/json; charset=utf-8", json.dumps(body).encode()
