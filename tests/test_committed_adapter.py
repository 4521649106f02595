"""The committed fine-tuned adapter, loaded with the embedded base, calls the weather tool and holds back otherwise."""

import datetime as dt

import pytest

from agent import Agent, AgentSettings
from agent.backends.base import GenerationParams
from agent.events import LLMCallFinished
from agent.format import parse_tool_calls

pytestmark = pytest.mark.model


def first_reply(llm, mode, question):
    agent = Agent(llm, _tools(), mode=mode, today=dt.date(2026, 11, 21),
                  settings=AgentSettings(max_llm_calls=2, generation=GenerationParams(max_tokens=48, temperature=0)))
    # two calls allowed: the last call of a turn cannot open a tool call; only the first reply is read here
    return next(e for e in agent.run(question) if isinstance(e, LLMCallFinished)).text


def _tools():
    from tools import get_tools

    return get_tools()


def test_the_adapter_turns_a_weather_question_into_a_weather_call(tuned_llm):
    calls = parse_tool_calls(first_reply(tuned_llm, "weather", "What's the weather in Oslo?"))
    assert calls and {c.name for c in calls} == {"get_current_weather"}
    assert {c.arguments["location"] for c in calls} == {"Oslo"}


def test_the_adapter_answers_a_no_tool_question_without_a_call(tuned_llm):
    reply = first_reply(tuned_llm, "weather", "What is 15 times 4?")
    assert parse_tool_calls(reply) == [] and "60" in reply


def test_the_base_model_does_not_call_the_tool(embedded_llm):
    assert parse_tool_calls(first_reply(embedded_llm, "weather", "What's the weather in Oslo?")) == []
