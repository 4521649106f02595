"""Is an answer grounded in the tool results (agent/grounding.py): a weather answer states a temperature the tools
returned and writes none they did not, sign and feels-like included; the agent shows the data under one that does
not. Tools are real, against the local fake Open-Meteo server; the scripted model stands in for the answer only."""

import datetime as dt

import pytest

from agent import Agent, AgentSettings
from agent.events import FinalAnswer
from agent.format import ToolCall
from agent.grounding import grounding_note, misstated_temperatures, states_temperature, temperatures_in
from fakes.models import ScriptedLLM

OSLO = '[get_current_weather(location="Oslo")]'

OSLO_NOW = {"location": "Oslo, Norway", "temperature": -3.2, "apparent_temperature": -7.9,
            "conditions": "slight snowfall", "units": {"temperature": "°C"}}
FORECAST = {"location": "Paris, France", "days": [
    {"date": "2026-11-22", "temperature_min": 4.1, "temperature_max": 9.6, "conditions": "rain"},
    {"date": "2026-11-23", "temperature_min": 2.0, "temperature_max": 7.0, "conditions": "overcast"}]}


@pytest.mark.parametrize("answer, wrong", [
    ("It's -3.2 °C in Oslo right now, and it feels like -7.9 °C.", []),
    ("It's about -3 degrees in Oslo, feels like -8.", []),  # rounded to a whole degree
    ("It's −3,2° in Oslo.", []),  # a typographic minus and a decimal comma
    ("It's 3.2 °C in Oslo right now, and it feels like -3.2 °C.", ["3.2 °C", "feels like -3.2"]),
    ("Oslo is at -3.2 °C; it feels like -3.2 °C.", ["feels like -3.2"]),
    ("It's 12 degrees and sunny in Oslo.", ["12 degrees"]),
    ("Snow, with 86% humidity and wind at 12.6 km/h.", []),  # numbers without degrees are not temperatures
])
def test_a_temperature_the_tool_did_not_return_is_misstated(answer, wrong):
    assert misstated_temperatures(answer, [OSLO_NOW]) == wrong


def test_forecast_ranges_are_read_number_by_number():
    assert misstated_temperatures("Tomorrow 4-10 °C with rain, then 2 to 7 °C.", [FORECAST]) == []  # 9.6 -> 10
    assert misstated_temperatures("Tomorrow 4-12 °C with rain.", [FORECAST]) == ["12 °C"]
    assert temperatures_in(FORECAST) == {4.1, 9.6, 2.0, 7.0} and temperatures_in(FORECAST, "apparent") == set()


def test_the_note_flags_a_misstated_answer_and_gives_the_data_with_its_feels_like():
    call = (ToolCall("get_current_weather", {"location": "Oslo"}), OSLO_NOW)
    wrong = grounding_note("It's 3.2 °C in Oslo right now, and it feels like -3.2 °C.", [call])
    assert wrong.startswith("Careful: a temperature in that answer is not what the weather service said.")
    assert "Oslo, Norway: -3.2 °C (feels like -7.9 °C), slight snowfall" in wrong
    assert grounding_note("It's -3.2 °C in Oslo, feels like -7.9 °C.", [call]) == ""
    silent = grounding_note("I have no live data for Oslo.", [call])  # states nothing: the data, no warning
    assert "Careful" not in silent and "-3.2 °C (feels like -7.9 °C)" in silent
    assert states_temperature("It's 3.2 °C in Oslo right now, and it feels like -3.2 °C.", {-3.2, -7.9})


def oslo_turn(llm, **settings):
    from tools import get_tools

    agent = Agent(llm, get_tools(), mode="weather", settings=AgentSettings(**settings), today=dt.date(2026, 11, 21))
    final = list(agent.run("What's the weather in Oslo?"))[-1]
    assert isinstance(final, FinalAnswer)
    return final


def test_the_agent_shows_the_data_under_an_answer_that_gets_a_temperature_wrong(tool_env):
    wrong = "It's 3.2 °C in Oslo right now, and it feels like -3.2 °C."
    final = oslo_turn(ScriptedLLM([OSLO, wrong]))
    assert final.ending == "grounded" and final.text.startswith(wrong)
    assert "not what the weather service said" in final.text and "-3.2 °C (feels like -7.9 °C)" in final.text
    right = "It's -3.2 °C in Oslo right now, and it feels like -7.9 °C."
    final = oslo_turn(ScriptedLLM([OSLO, right]))
    assert final.ending == "answer" and final.text == right
    final = oslo_turn(ScriptedLLM([OSLO, wrong]), ground_answers=False)
    assert final.ending == "answer" and final.text == wrong
