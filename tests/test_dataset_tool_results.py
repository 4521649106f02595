"""The dataset's tool results are the real tools' results: same formatter, keys, key order, types and error values.

The real tools run against the local fake Open-Meteo and Wikipedia server (`fakes.services`, real HTTP); the dataset
simulates numbers and formats them with the tools' own functions. These tests fail if the two drift apart.
Run: python -m pytest tests/test_dataset_tool_results.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from agent.format import parse_tool_calls
from agent.messages import tool_result_message
from fakes.wikipedia import find_article
from tools import ALL_TOOLS
from tools.weather import get_current_weather, get_weather_forecast
from tools.weather_results import (
    UNIT_SYMBOLS,
    WMO_CODES,
    CurrentValues,
    DayValues,
    current_result,
    forecast_result,
    place_fields,
)
from tools.wiki import article_result, search_wikipedia
from training.dataset import builders as B
from training.dataset import generate as D
from training.dataset import tool_turns as R
from training.dataset.categories import error_turn

COMPASS_DEGREES = {"N": 0, "NE": 45, "E": 90, "SE": 135, "S": 180, "SW": 225, "W": 270, "NW": 315}
UNIT_NAMES = {symbol: name for name, symbol in UNIT_SYMBOLS.items()}
CODES = {text: code for code, text in WMO_CODES.items()}


@pytest.fixture(scope="module")
def train_samples():
    samples, _ = D.build_split("train", 600, seed=0)
    return samples


def city(name: str) -> B.City:
    return next(c for c in B.load_cities() if c.name == name)


def shape(value):
    """Keys in order, and the type of every leaf: what must match between the tool and the dataset."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def reformatted(result: dict) -> dict:
    """A result's own values, fed through the tools' formatter again: the same dict if the dataset used it."""
    place = place_fields(result["location"], result.get("note", ""))
    units = {key: UNIT_NAMES[symbol] for key, symbol in result["units"].items()}
    if "days" in result:
        days = [DayValues(d["date"], CODES[d["conditions"]], d["temperature_min"], d["temperature_max"],
                          d["precipitation_sum"], d["precipitation_probability"], d["wind_speed_max"])
                for d in result["days"]]
        return forecast_result(place, result["timezone"], days, units)
    values = CurrentValues(result["time"], result["timezone"], CODES[result["conditions"]], result["temperature"],
                           result["apparent_temperature"], result["relative_humidity"], result["wind_speed"],
                           COMPASS_DEGREES[result["wind_direction"]], result["precipitation"])
    return current_result(place, values, units)


def tool_messages(samples, tool_name: str):
    """(call, tool message content) pairs of the samples' histories."""
    for sample in samples:
        messages = sample["messages"]
        for index, message in enumerate(messages):
            if message["role"] != "assistant" or messages[index + 1:index + 2] == [] \
                    or messages[index + 1]["role"] != "ipython":
                continue
            for offset, call in enumerate(parse_tool_calls(message["content"])):
                if call.name == tool_name:
                    yield call, messages[index + 1 + offset]["content"]


# ------------------------------------------------------------------------------------------------------ weather

@pytest.mark.parametrize("tool_name", ["get_current_weather", "get_weather_forecast"])
def test_every_weather_result_in_the_dataset_is_the_formatters_output_for_its_values(train_samples, tool_name):
    checked = 0
    for _, content in tool_messages(train_samples, tool_name):
        result = json.loads(content)
        if "error" in result:
            continue
        assert content == tool_result_message(reformatted(result)).content
        checked += 1
    assert checked > 30


def test_humidity_and_precipitation_probability_are_whole_numbers_as_the_tool_writes_them(train_samples):
    current = [json.loads(c) for _, c in tool_messages(train_samples, "get_current_weather")]
    forecast = [json.loads(c) for _, c in tool_messages(train_samples, "get_weather_forecast")]
    assert all(type(r["relative_humidity"]) is int for r in current if "error" not in r)
    assert all(type(d["precipitation_probability"]) is int for r in forecast if "error" not in r for d in r["days"])


@pytest.mark.parametrize("name", ["Oslo", "Tokyo", "New York"])
@pytest.mark.parametrize("unit", ["celsius", "fahrenheit"])
def test_simulated_current_weather_has_the_keys_order_and_types_of_the_real_tool(tool_env, name, unit):
    real = get_current_weather(location=name, unit=unit)
    simulated = R.current_result(random.Random(0), city(name), dt.date(2025, 1, 15), unit)
    assert "error" not in real
    assert shape(simulated) == shape(real)
    assert (simulated["location"], simulated["timezone"], simulated["units"]) == (
        real["location"], real["timezone"], real["units"])


@pytest.mark.parametrize("name", ["Oslo", "Tokyo"])
def test_simulated_forecast_has_the_keys_order_and_types_of_the_real_tool(tool_env, name):
    real = get_weather_forecast(location=name, days=4, unit="fahrenheit")
    simulated = R.forecast_result(random.Random(0), city(name), dt.date(2025, 1, 15), 4, "fahrenheit")
    assert shape(simulated) == shape(real)
    assert [shape(d) for d in simulated["days"]] == [shape(d) for d in real["days"]]
    assert (simulated["location"], simulated["units"], len(simulated["days"])) == (
        real["location"], real["units"], len(real["days"]))


# ------------------------------------------------------------------------------------------------------ errors

def error_ctx(**pools) -> B.Ctx:
    base = D.split_pools()["train"]
    return B.Ctx(random.Random(0), dt.date(2025, 1, 15), B.Pools(**{**vars(base), **pools}))


@pytest.mark.parametrize("kind", ["unknown_place", "too_many_days", "wiki_not_found"])
def test_error_results_in_the_dataset_equal_what_the_real_tool_returns_for_the_same_call(tool_env, kind):
    for seed in range(6):
        ctx = error_ctx()
        ctx.rng = random.Random(seed)
        turn = error_turn(ctx, kind)
        call, result = turn.calls[0], turn.results[0]
        assert ALL_TOOLS[call.name].run(call.arguments) == result, (call, result)


def test_a_disambiguation_in_the_dataset_equals_the_real_tools_answer(tool_env):
    turn = error_turn(error_ctx(ambiguous=["Mercury"]), "wiki_ambiguous")
    assert search_wikipedia(query="Mercury") == turn.results[0]


# ---------------------------------------------------------------------------------------------------- Wikipedia

def test_a_simulated_article_equals_the_real_tools_result_for_the_same_article(tool_env):
    article = find_article("Ada Lovelace")
    topic = B.Topic("Ada Lovelace", "person", article.extract, "Ada Lovelace", "Ada Lovelace")
    assert R.wiki_result(topic) == search_wikipedia(query="Ada Lovelace")


def test_every_article_in_the_dataset_is_the_tools_article_result(train_samples):
    checked = 0
    for _, content in tool_messages(train_samples, "search_wikipedia"):
        result = json.loads(content)
        if "summary" in result:
            rebuilt = article_result(result["query"], result["title"], result["url"], result["summary"], 10_000)
            assert json.loads(content) == rebuilt
            checked += 1
    assert checked > 30
