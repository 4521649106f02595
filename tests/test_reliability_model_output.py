"""Reliability: whatever a model writes, the agent loop ends the turn with a clear message, within its LLM-call budget,
and never runs a tool with arguments that do not fit the tool's spec.

Covers unknown tools, wrong argument types, hallucinated arguments, half a bracket, text mixed with a call, a call
repeated, ten calls in one reply and a property test over random reply scripts (the model lock and context overflow:
tests/test_reliability_limits.py).

Run: python -m pytest tests/test_reliability_model_output.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.events import AgentError, FinalAnswer, Notice, Token, ToolCallFinished
from agent.format import ToolCall, validate_call
from agent.loop import Agent, AgentSettings
from agent.messages import Message
from fakes.models import ScriptedLLM
from tools.base import tool

RUNS: list[tuple[str, dict]] = []  # every tool run, with the arguments it got


@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the current weather.

    Args:
        location: City name.
        unit: The temperature unit.
    """
    RUNS.append(("get_current_weather", {"location": location, "unit": unit}))
    return {"location": location, "temperature": 7.5}


@tool
def get_weather_forecast(location: str, days: int = 3, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the daily forecast.

    Args:
        location: City name.
        days: How many days.
        unit: The temperature unit.
    """
    RUNS.append(("get_weather_forecast", {"location": location, "days": days, "unit": unit}))
    return {"location": location, "days": [{"max": 3}] * min(days, 16)}


@tool
def search_wikipedia(query: str) -> dict:
    """Search Wikipedia.

    Args:
        query: What to look up.
    """
    RUNS.append(("search_wikipedia", {"query": query}))
    return {"title": query, "summary": f"{query} is a thing."}


TOOLS = [get_current_weather, get_weather_forecast, search_wikipedia]
SPECS = {t.name: t.spec for t in TOOLS}


@pytest.fixture(autouse=True)
def clear_runs():
    RUNS.clear()


def make_agent(*replies, llm=None, mode="all", **settings):
    llm = llm or ScriptedLLM(replies)
    settings.setdefault("ask_for_missing", False)  # the prompts name no place: asking is tested in test_turn_endings
    return Agent(llm, TOOLS, mode=mode, settings=AgentSettings(**settings), today=dt.date(2026, 11, 21)), llm


def run(agent, text="What's the weather?", history=()):
    events = list(agent.run(text, history))
    assert isinstance(events[-1], FinalAnswer) and sum(isinstance(e, FinalAnswer) for e in events) == 1
    return events, events[-1]


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def streamed(events) -> str:
    return "".join(e.text for e in of(events, Token))


# ----------------------------------------------------------------------------------- wrong calls are never run

def test_an_unknown_tool_is_refused_with_the_tools_that_exist_and_nothing_runs():
    agent, llm = make_agent('[launch_rocket(target="moon")]', "I cannot do that.")
    events, final = run(agent)
    (finished,) = of(events, ToolCallFinished)
    assert not finished.ok and RUNS == []
    assert finished.result["error"] == ("unknown function 'launch_rocket' (available: get_current_weather, "
                                        "get_weather_forecast, search_wikipedia)")
    assert json.loads(llm.prompts[1][-1].content) == finished.result, "the model reads why, and answers"
    assert final.text == "I cannot do that."


@pytest.mark.parametrize("call, phrase", [
    ("get_current_weather(location=42)", "argument 'location' should be string, got int"),
    ('get_current_weather(location=["Oslo", "Lima"])', "argument 'location' should be string, got list"),
    ("get_current_weather(location=None)", "argument 'location' should be string, got NoneType"),
    ('get_current_weather(location={"city": "Oslo"})', "argument 'location' should be string, got dict"),
    ('get_weather_forecast(location="Oslo", days="3")', "argument 'days' should be integer, got str"),
    ('get_weather_forecast(location="Oslo", days=2.5)', "argument 'days' should be integer, got float"),
    ('get_weather_forecast(location="Oslo", days=True)', "argument 'days' should be integer, got bool"),
    ('get_current_weather(location="Oslo", unit="kelvin")', "argument 'unit' must be one of celsius, fahrenheit"),
    ("get_current_weather()", "missing required argument 'location'"),
])
def test_wrong_argument_types_are_refused_before_the_tool_runs(call, phrase):
    agent, _ = make_agent(f"[{call}]", "Sorry.")
    events, _ = run(agent)
    (finished,) = of(events, ToolCallFinished)
    assert not finished.ok and phrase in finished.result["error"] and RUNS == []


def test_hallucinated_arguments_are_refused_not_silently_dropped():
    agent, _ = make_agent('[get_current_weather(location="Oslo", api_key="x", country="NO")]', "Sorry.")
    events, _ = run(agent)
    (finished,) = of(events, ToolCallFinished)
    assert "unknown argument 'api_key'" in finished.result["error"]
    assert "unknown argument 'country'" in finished.result["error"] and RUNS == []


@pytest.mark.parametrize("fragment", [
    '[get_current_weather(location="Oslo"',
    '[get_current_weather(location="Oslo")',
    '[get_current_weather(location="Oslo"]',
    '[get_current_weather(location="Os',
    "[get_current_weather(location=",
    '{"name": "get_current_weather", "parameters": {"location": "Oslo"',
    '<|python_tag|>[get_current_weather(location="Oslo"), ',
    '```python\n[get_current_weather(location="Oslo")\n```',
])
def test_half_a_bracket_gets_one_repair_attempt_within_the_budget(fragment):
    agent, llm = make_agent(fragment, "It is mild in Oslo.")
    events, final = run(agent)
    (error,) = of(events, AgentError)
    assert error.message.startswith("The model wrote a malformed tool call (")
    repair = llm.prompts[1][-1]
    assert repair.role == "ipython" and "could not be parsed" in repair.content
    assert final.stats.llm_calls == 2 == len(llm.prompts) and final.text == "It is mild in Oslo." and RUNS == []


def test_a_malformed_call_when_no_call_is_left_ends_with_a_clear_message():
    agent, llm = make_agent('[get_current_weather(location="Oslo"', max_llm_calls=1)
    events, final = run(agent)
    assert len(llm.prompts) == 1 and RUNS == []
    assert final.text == "Sorry, I could not form a valid tool call for that. Please rephrase your question."


def test_a_call_followed_by_text_is_not_run_and_gets_one_repair_attempt():
    agent, llm = make_agent('[get_current_weather(location="Oslo")] Let me check that for you.', "Mild.")
    events, final = run(agent)
    assert of(events, AgentError) and RUNS == [] and final.text == "Mild."
    assert "could not be parsed" in llm.prompts[1][-1].content


def test_a_call_buried_in_prose_is_not_run_and_the_user_is_told_why():
    reply = 'Sure, let me check. [get_current_weather(location="Oslo")]'
    agent, llm = make_agent(reply)
    events, final = run(agent)
    assert RUNS == [] and len(llm.prompts) == 1
    assert streamed(events) == reply, "prose streams as it comes"
    (notice,) = of(events, Notice)
    assert "get_current_weather" in notice.text and "not run" in notice.text


def test_looking_for_buried_calls_in_a_huge_reply_takes_bounded_time():
    for reply in ["Sure. " + "get_current_weather(" * 20_000 + ")" * 20_000,
                  "Sure. " + '[get_current_weather(location=((((' * 20_000,
                  "Sure. " + 'get_current_weather(location="Oslo") ' * 3_000]:
        agent, _ = make_agent(reply)
        started = time.perf_counter()
        run(agent)
        assert time.perf_counter() - started < 3.0
    assert RUNS == []


def test_prose_that_only_mentions_a_list_or_an_unknown_name_gets_no_notice():
    for reply in ("Lists look like [1, 2, 3].", "As Smith argues [Smith (2020)], it rains.", "Use [print(x=1)]."):
        agent, _ = make_agent(reply)
        events, _ = run(agent)
        assert of(events, Notice) == [], reply


def test_a_python_tag_followed_by_prose_shows_the_prose_without_the_tag():
    agent, _ = make_agent("<|python_tag|>It is sunny in Oslo today.")
    events, final = run(agent)
    assert final.text == "It is sunny in Oslo today." and streamed(events) == final.text
    assert RUNS == []


def test_the_same_call_twice_in_one_reply_runs_once():
    agent, llm = make_agent('[get_current_weather(location="Oslo"), get_current_weather(location="Oslo")]', "7.5.")
    run(agent)
    assert len(RUNS) == 1 and [m.role for m in llm.prompts[1][-2:]] == ["assistant", "ipython"]


def test_a_call_repeated_in_a_later_reply_is_not_run_again():
    call = '[get_current_weather(location="Oslo")]'
    agent, llm = make_agent(call, call, "It is 7.5 °C in Oslo.", max_llm_calls=3)
    events, final = run(agent)
    assert len(RUNS) == 1, "the repeat is answered from the first result, not run again"
    assert len(of(events, ToolCallFinished)) == 1, "a reply that only repeats a call is not even shown as a call"
    assert final.text == "It is 7.5 °C in Oslo." and final.stats.tool_calls == 1


def test_ten_calls_in_one_reply_run_at_most_the_cap_and_each_extra_one_is_refused_clearly():
    calls = ", ".join(f'get_current_weather(location="City{i}")' for i in range(10))
    agent, llm = make_agent(f"[{calls}]", "Done.")
    events, final = run(agent)
    finished = of(events, ToolCallFinished)
    assert len(finished) == 10 and len(RUNS) == 4 == final.stats.tool_calls
    refused = [e for e in finished if not e.ok]
    assert len(refused) == 6 and all("too many tool calls in one reply (limit 4)" in e.result["error"]
                                     for e in refused)
    assert sum(m.role == "ipython" for m in llm.prompts[1]) == 10, "the model hears about every call"


def test_more_calls_than_the_parser_accepts_are_one_clear_error_and_none_runs():
    calls = ", ".join(f'get_current_weather(location="C{i}")' for i in range(40))
    agent, _ = make_agent(f"[{calls}]", "Sorry.")
    events, _ = run(agent)
    assert "too many tool calls in one reply (40, limit 32)" in of(events, AgentError)[0].message
    assert RUNS == []


def test_a_turn_runs_at_most_its_llm_budget_minus_one_times_the_per_reply_cap():
    many = "[" + ", ".join(f'search_wikipedia(query="q{i}")' for i in range(8)) + "]"
    more = "[" + ", ".join(f'search_wikipedia(query="r{i}")' for i in range(8)) + "]"
    agent, llm = make_agent(many, more, many, more, max_llm_calls=4, max_tool_calls=3)
    events, final = run(agent)
    assert len(llm.prompts) == 4 and len(RUNS) <= (4 - 1) * 3
    assert final.ending == "composed" and "steps" not in final.text, "an answer from the results, not a budget"


# ------------------------------------------------------------------------------ property test over the loop

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 40), st.floats(-1e3, 1e3, allow_nan=False),
                   st.text(max_size=12), st.lists(st.integers(0, 3), max_size=2))
ARG_NAMES = st.sampled_from(["location", "days", "unit", "query", "city", "q"])
CALLS = st.builds(
    lambda name, args: f"{name}({', '.join(f'{k}={json.dumps(v)}' for k, v in args.items())})",
    st.sampled_from(["get_current_weather", "get_weather_forecast", "search_wikipedia", "rm_rf", "os.system"]),
    st.dictionaries(ARG_NAMES, VALUES, max_size=3),
)
REPLIES = st.one_of(
    st.lists(CALLS, min_size=1, max_size=12).map(lambda calls: "[" + ", ".join(calls) + "]"),
    st.lists(CALLS, min_size=1, max_size=3).map(lambda calls: "[" + ", ".join(calls)),  # half a bracket
    st.builds(lambda prose, calls: prose + " [" + ", ".join(calls) + "]", st.text(max_size=20),
              st.lists(CALLS, min_size=1, max_size=2)),
    st.text(max_size=40),
    st.sampled_from(["", "   ", "<|python_tag|>", "```", "[", "{\"name\": ", "Sure!"]),
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(REPLIES, min_size=4, max_size=4), st.integers(1, 4), st.integers(1, 5))
def test_any_script_of_replies_ends_in_one_final_answer_within_budget_running_only_valid_calls(
        replies, max_llm_calls, max_tool_calls):
    RUNS.clear()
    agent, llm = make_agent(*replies, max_llm_calls=max_llm_calls, max_tool_calls=max_tool_calls)
    events = list(agent.run("Weather in Oslo, and who was Ada Lovelace?"))
    assert isinstance(events[-1], FinalAnswer) and sum(isinstance(e, FinalAnswer) for e in events) == 1
    final = events[-1]
    assert len(llm.prompts) == final.stats.llm_calls <= max_llm_calls
    assert len(RUNS) == final.stats.tool_calls <= (max_llm_calls - 1) * max_tool_calls
    for name, arguments in RUNS:  # the tools ran with what validated (defaults filled in by Python)
        assert validate_call(ToolCall(name, arguments), SPECS) == []
    assert final.messages[0] == Message("user", "Weather in Oslo, and who was Ada Lovelace?")
    assert final.messages[-1].role == "assistant"
