"""The weather tools against a real local server that answers like Open-Meteo (FlatBuffers and all), offline.

Every failure must come back as `{"error": "<sentence>", ...}`, quickly, and never as an exception.
Run: python -m pytest tests/test_tools_weather.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from fakes.app_process import free_port
from fakes.openmeteo import NOW, find_place, forecast_flatbuffers, to_fahrenheit
from fakes.services import FORECAST_PATH, GEOCODING_PATH
from tools.config import DEFAULT_FORECAST_URL, DEFAULT_GEOCODING_URL, DEFAULT_WIKIPEDIA_API_URL, ToolsConfig
from tools.weather import WMO_CODES, get_current_weather, get_weather_forecast

REPO = Path(__file__).resolve().parents[1]


def assert_error(result: dict, *phrases: str) -> str:
    """An error value: one readable sentence containing `phrases`, no traceback, JSON-serialisable."""
    assert isinstance(result, dict) and set(result) >= {"error"}, result
    message = result["error"]
    assert isinstance(message, str) and message.endswith("."), message
    assert "Traceback" not in message and "\n" not in message
    for phrase in phrases:
        assert phrase in message, message
    json.dumps(result)
    return message


# ------------------------------------------------------------------------------------------------ success paths

def test_current_weather_for_oslo_names_the_place_time_values_units_and_conditions_in_words(tool_env):
    oslo = find_place("Oslo").weather
    result = get_current_weather(location="Oslo")
    assert result == {
        "location": "Oslo, Norway",
        "time": "2025-01-15T13:00",  # the server's 12:00 UTC in Oslo's UTC+1
        "timezone": "Europe/Oslo",
        "conditions": "slight snowfall",  # WMO 71
        "temperature": oslo.temperature,
        "apparent_temperature": oslo.apparent_temperature,
        "relative_humidity": 86,
        "wind_speed": oslo.wind_speed,
        "wind_direction": "SW",
        "precipitation": oslo.precipitation,
        "units": {"temperature": "°C", "relative_humidity": "%", "wind_speed": "km/h", "precipitation": "mm"},
    }


def test_the_place_is_geocoded_with_the_documented_query_then_the_forecast_asked_as_flatbuffers(tool_env):
    get_current_weather(location="  Tokyo ")
    (geo_path, geo_query, _), (fc_path, fc_query, _) = tool_env.requests
    assert geo_path == GEOCODING_PATH
    assert geo_query == {"name": "Tokyo", "count": "1", "language": "en", "format": "json"}
    assert fc_path == FORECAST_PATH
    tokyo = find_place("Tokyo")
    assert float(fc_query["latitude"]) == tokyo.latitude and float(fc_query["longitude"]) == tokyo.longitude
    assert fc_query["format"] == "flatbuffers" and fc_query["timezone"] == "auto"
    assert "temperature_2m" in fc_query["current"].split(",")


def test_fahrenheit_is_asked_for_and_named(tool_env):
    result = get_current_weather(location="Cairo", unit="fahrenheit")
    assert result["units"]["temperature"] == "°F"
    assert result["temperature"] == pytest.approx(to_fahrenheit(find_place("Cairo").weather.temperature), abs=0.06)
    assert tool_env.requests[-1][1]["temperature_unit"] == "fahrenheit"


def test_forecast_gives_one_compact_entry_per_day_in_local_dates(tool_env):
    tokyo = find_place("Tokyo").weather
    result = get_weather_forecast(location="Tokyo", days=4)
    assert result["location"] == "Tokyo, Japan" and result["timezone"] == "Asia/Tokyo"
    assert result["units"] == {"temperature": "°C", "precipitation_sum": "mm", "precipitation_probability": "%",
                               "wind_speed_max": "km/h"}
    # Local dates: at 12:00 UTC it is already evening of the 15th in Tokyo, and the days run from there.
    assert [d["date"] for d in result["days"]] == ["2025-01-15", "2025-01-16", "2025-01-17", "2025-01-18"]
    for i, day in enumerate(result["days"]):
        expected = tokyo.day(i)
        assert day == {
            "date": day["date"],
            "conditions": WMO_CODES[expected["weather_code"]],
            "temperature_min": pytest.approx(expected["temperature_min"], abs=0.05),
            "temperature_max": pytest.approx(expected["temperature_max"], abs=0.05),
            "precipitation_sum": pytest.approx(expected["precipitation_sum"], abs=0.05),
            "precipitation_probability": expected["precipitation_probability"],
            "wind_speed_max": pytest.approx(expected["wind_speed_max"], abs=0.05),
        }
    assert tool_env.requests[-1][1]["forecast_days"] == "4"


def test_forecast_for_sixteen_days_in_fahrenheit(tool_env):
    result = get_weather_forecast(location="New York", days=16, unit="fahrenheit")
    assert len(result["days"]) == 16 and result["units"]["temperature"] == "°F"
    first = find_place("New York").weather.day(0)
    assert result["days"][0]["temperature_max"] == pytest.approx(to_fahrenheit(first["temperature_max"]), abs=0.06)


def test_a_country_or_region_after_a_comma_picks_the_matching_place(tool_env):
    assert get_current_weather(location="Paris")["location"] == "Paris, Île-de-France, France"
    texas = get_current_weather(location="Paris, Texas")
    assert texas["location"] == "Paris, Texas, United States" and "note" not in texas
    assert tool_env.requests[-2][1]["name"] == "Paris"  # the geocoder is asked for the bare name


def test_an_unmatched_qualifier_falls_back_to_the_best_match_and_says_so(tool_env):
    result = get_weather_forecast(location="Paris, Narnia", days=1)
    assert result["location"] == "Paris, Île-de-France, France"
    assert "Narnia" in result["note"]


def test_the_wmo_table_covers_every_code_open_meteo_documents():
    documented = {0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77, 80, 81, 82, 85, 86,
                  95, 96, 99}
    assert set(WMO_CODES) == documented and all(WMO_CODES.values())


# ---------------------------------------------------------------------------------------------------- caching

def test_a_repeated_question_is_answered_from_the_cache_in_tools_cache_dir(tool_env, tmp_path):
    first = get_weather_forecast(location="Oslo", days=2)
    second = get_weather_forecast(location="Oslo", days=2)
    assert first == second and "error" not in first
    assert tool_env.hits(GEOCODING_PATH) == 1 and tool_env.hits(FORECAST_PATH) == 1
    assert (tmp_path / "http-cache" / "open-meteo.sqlite").is_file()
    assert not list(REPO.glob("*.sqlite")), "the HTTP cache must never land in the repository"


def test_the_cache_can_be_turned_off(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_CACHE_TTL_S", "0")
    get_current_weather(location="Oslo")
    get_current_weather(location="Oslo")
    assert tool_env.hits(FORECAST_PATH) == 2


def test_failures_and_undecodable_answers_are_not_cached(tool_env):
    tool_env.fault(FORECAST_PATH, "truncate", times=1)
    assert_error(get_current_weather(location="Oslo"), "cut off")
    assert get_current_weather(location="Oslo")["temperature"] == find_place("Oslo").weather.temperature
    assert tool_env.hits(FORECAST_PATH) == 2


def test_the_default_cache_lives_under_the_users_cache_directory_not_the_working_directory():
    config = ToolsConfig.from_env({})
    assert config.cache_dir == Path.home() / ".cache" / "toolcall-agent" / "http"
    assert ToolsConfig.from_env({"XDG_CACHE_HOME": "/var/cache/me"}).cache_dir == Path(
        "/var/cache/me/toolcall-agent/http")
    assert (config.forecast_url, config.geocoding_url, config.wikipedia_api_url) == (
        DEFAULT_FORECAST_URL, DEFAULT_GEOCODING_URL, DEFAULT_WIKIPEDIA_API_URL)
    assert config.timeout_s == 10.0


# ---------------------------------------------------------------------------------------------------- retries

@pytest.mark.parametrize("status", [500, 503])
def test_one_server_error_is_retried_and_the_answer_still_arrives(tool_env, status):
    tool_env.fault(FORECAST_PATH, "status", status=status, times=1)
    result = get_current_weather(location="Oslo")
    assert result["temperature"] == find_place("Oslo").weather.temperature
    assert tool_env.hits(FORECAST_PATH) == 2


def test_a_persistent_server_error_is_retried_a_bounded_number_of_times(tool_env):
    tool_env.fault(FORECAST_PATH, "status", status=502)
    started = time.monotonic()
    assert_error(get_current_weather(location="Oslo"), "kept failing", "HTTP 502")
    assert tool_env.hits(FORECAST_PATH) == 3  # TOOLS_RETRIES=2 by default
    assert time.monotonic() - started < 1.5


def test_rate_limiting_is_reported_at_once_with_the_servers_retry_after(tool_env):
    tool_env.fault(FORECAST_PATH, "status", status=429, retry_after=30)
    started = time.monotonic()
    result = get_current_weather(location="Oslo")
    assert_error(result, "rate-limiting", "try again in 30 s")
    assert result["status"] == 429 and result["retry_after_s"] == 30 and result["location"] == "Oslo"
    assert time.monotonic() - started < 1.0, "Retry-After must not be slept through"
    assert tool_env.hits(FORECAST_PATH) == 1


def test_a_rejected_request_passes_on_open_meteos_reason(tool_env):
    tool_env.fault(FORECAST_PATH, "status", status=400, body={"error": True, "reason": "Latitude must be in range"})
    result = get_current_weather(location="Oslo")
    assert_error(result, "rejected the request (HTTP 400)", "Latitude must be in range")


# ------------------------------------------------------------------------------------------ transport failures

def test_a_hung_forecast_server_costs_one_timeout_not_one_per_retry(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.5")
    tool_env.fault(FORECAST_PATH, "delay", seconds=5)
    started = time.monotonic()
    assert_error(get_current_weather(location="Oslo"), "did not answer within the 0.5 s time limit")
    assert time.monotonic() - started < 1.2
    assert tool_env.hits(FORECAST_PATH) == 1


def test_the_time_limit_is_shared_by_geocoding_and_forecast(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.6")
    tool_env.fault(GEOCODING_PATH, "delay", seconds=0.4)
    tool_env.fault(FORECAST_PATH, "delay", seconds=0.4)  # each alone fits in 0.6 s, both together do not
    started = time.monotonic()
    assert_error(get_current_weather(location="Oslo"), "time limit")
    assert time.monotonic() - started < 1.0


def test_a_server_trickling_its_answer_cannot_outlast_the_time_limit(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.5")
    tool_env.fault(FORECAST_PATH, "trickle", seconds=0.05)  # the whole body would take over a second
    started = time.monotonic()
    assert_error(get_current_weather(location="Oslo"), "time limit")
    assert time.monotonic() - started < 1.0


def test_connection_refused_is_reported_quickly(tool_env, monkeypatch):
    monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", f"http://127.0.0.1:{free_port()}/v1/search")
    started = time.monotonic()
    assert_error(get_current_weather(location="Oslo"), "Could not connect", "connection refused")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(("path", "mode", "phrase"), [
    (FORECAST_PATH, "garbage", "not in the FlatBuffers format"),
    (FORECAST_PATH, "truncate", "could not be decoded as a forecast (it was cut off)"),
    (FORECAST_PATH, "corrupt", "could not be decoded as a forecast"),
    (FORECAST_PATH, "content_type", "answered with text/html instead of forecast data"),
    (FORECAST_PATH, "cut", "closed the connection before the answer was complete"),
    (FORECAST_PATH, "close", "closed the connection without answering"),
    (GEOCODING_PATH, "garbage", "not valid JSON"),
    (GEOCODING_PATH, "truncate", "not valid JSON"),
    (GEOCODING_PATH, "content_type", "answered with text/html instead of JSON"),
    (GEOCODING_PATH, "close", "closed the connection without answering"),
])
def test_broken_answers_become_clear_error_values(tool_env, path, mode, phrase):
    result = get_weather_forecast(location="Oslo", days=2)
    assert "error" not in result  # the same call works while the server behaves
    tool_env.reset()
    tool_env.fault(path, mode)
    result = get_weather_forecast(location="Sydney", days=2)
    assert_error(result, phrase)
    assert result["location"] == "Sydney" and result["days"] == 2


def test_an_unknown_place_is_an_error_value_naming_it(tool_env):
    result = get_current_weather(location="Atlantis")
    assert_error(result, 'No place called "Atlantis" was found')
    assert tool_env.hits(FORECAST_PATH) == 0


def test_a_forecast_missing_a_variable_is_an_error_value_naming_what_is_missing(tool_env):
    partial = forecast_flatbuffers(find_place("Oslo"), ["temperature_2m", "weather_code"], [], 0)
    tool_env.fault(FORECAST_PATH, "status", status=200, body=partial, content_type="application/octet-stream")
    assert_error(get_current_weather(location="Oslo"), "sent a forecast without apparent temperature")


# ------------------------------------------------------------------------------------------ argument checking

@pytest.mark.parametrize(("arguments", "phrase"), [
    ({"location": ""}, "location is empty"),
    ({"location": "   "}, "location is empty"),
    ({"location": "x" * 201}, "at most 200"),
    ({"location": 42}, "must be a place name"),
    ({"location": ", France"}, "no place name before the comma"),
    ({"location": "Oslo", "unit": "kelvin"}, 'unit must be "celsius" or "fahrenheit"'),
    ({"location": "Oslo", "days": 0}, "days must be from 1 to 16"),
    ({"location": "Oslo", "days": 17}, "days must be from 1 to 16"),
    ({"location": "Oslo", "days": -3}, "days must be from 1 to 16"),
    ({"location": "Oslo", "days": True}, "whole number"),
    ({"location": "Oslo", "days": "3"}, "whole number"),
])
def test_absurd_arguments_are_refused_before_any_request(tool_env, arguments, phrase):
    assert_error(get_weather_forecast.run(arguments), phrase)
    assert tool_env.requests == []


def test_unit_is_checked_for_current_weather_too_and_a_capitalised_unit_is_fine(tool_env):
    assert_error(get_current_weather(location="Oslo", unit="K"), "unit must be")
    assert get_current_weather(location="Oslo", unit="Fahrenheit")["units"]["temperature"] == "°F"


# -------------------------------------------------------------------------------------------- configuration

def test_endpoints_are_read_at_call_time(tool_env, monkeypatch):
    assert "error" not in get_current_weather(location="Oslo")
    monkeypatch.setenv("OPEN_METEO_FORECAST_URL", f"http://127.0.0.1:{free_port()}/v1/forecast")
    monkeypatch.setenv("TOOLS_CACHE_TTL_S", "0")
    assert_error(get_current_weather(location="Oslo"), "connection refused")


@pytest.mark.parametrize(("name", "value", "phrase"), [
    ("TOOLS_TIMEOUT_S", "soon", "TOOLS_TIMEOUT_S must be a number"),
    ("TOOLS_TIMEOUT_S", "0", "TOOLS_TIMEOUT_S must be between"),
    ("OPEN_METEO_FORECAST_URL", "api.open-meteo.com/v1/forecast", "must be an http(s) URL"),
    ("TOOLS_RETRIES", "2.5", "TOOLS_RETRIES must be a whole number"),
])
def test_a_bad_setting_is_reported_as_a_configuration_error(tool_env, monkeypatch, name, value, phrase):
    monkeypatch.setenv(name, value)
    assert_error(get_current_weather(location="Oslo"), "misconfigured", phrase)


# -------------------------------------------------------------------------------------------- the test server

def test_the_servers_flatbuffers_decode_with_the_unmodified_openmeteo_client(tool_server):
    import openmeteo_requests
    from openmeteo_sdk.Variable import Variable

    oslo = find_place("Oslo")
    responses = openmeteo_requests.Client().weather_api(tool_server.url + FORECAST_PATH, params={
        "latitude": oslo.latitude, "longitude": oslo.longitude, "current": ["temperature_2m", "weather_code"],
        "daily": ["temperature_2m_max"], "forecast_days": 2})
    response = responses[0]
    assert response.Timezone() == b"Europe/Oslo" and response.UtcOffsetSeconds() == 3600
    current = response.Current()
    assert current.Time() == int(NOW.timestamp())
    assert current.Variables(0).Variable() == Variable.temperature
    assert current.Variables(0).Value() == pytest.approx(oslo.weather.temperature)
    assert current.Variables(1).Value() == oslo.weather.weather_code
    assert response.Daily().Variables(0).ValuesLength() == 2


def test_the_server_runs_standalone_prints_its_exports_and_takes_faults_over_http():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "fakes.services", "--port", str(port)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        exports = dict(process.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(3))
        base = f"http://127.0.0.1:{port}"
        assert exports == {"OPEN_METEO_FORECAST_URL": base + FORECAST_PATH,
                           "OPEN_METEO_GEOCODING_URL": base + GEOCODING_PATH,
                           "WIKIPEDIA_API_URL": base + "/w/api.php"}
        geocoding = exports["OPEN_METEO_GEOCODING_URL"]
        assert requests.get(geocoding, params={"name": "Oslo"}, timeout=5).json()["results"][0]["country"] == "Norway"
        requests.post(base + "/_control/fault", json={"path": GEOCODING_PATH, "mode": "status", "status": 503},
                      timeout=5).raise_for_status()
        assert requests.get(geocoding, params={"name": "Oslo"}, timeout=5).status_code == 503
        requests.post(base + "/_control/reset", timeout=5).raise_for_status()
        assert requests.get(geocoding, params={"name": "Oslo"}, timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.live
@pytest.mark.skipif(os.environ.get("RUN_LIVE") != "1", reason="needs the internet: set RUN_LIVE=1")
def test_live_open_meteo_answers_for_berlin(monkeypatch):
    for name in ("OPEN_METEO_FORECAST_URL", "OPEN_METEO_GEOCODING_URL"):
        monkeypatch.delenv(name, raising=False)
    current = get_current_weather(location="Berlin")
    assert current["location"].startswith("Berlin") and current["conditions"] and "error" not in current
    forecast = get_weather_forecast(location="Berlin, Germany", days=3)
    assert len(forecast["days"]) == 3 and "note" not in forecast
