"""The agent loop with the scripted fake model: call budget, streaming, tool results in the prompt, errors."""

import datetime as dt

import pytest

from agent import Agent, AgentSettings
from agent.events import AgentError, FinalAnswer, LLMCallFinished, Notice, Token, ToolCallFinished, ToolCallStarted
from agent.format import classify_opening
from agent.messages import Message
from fakes.models import ScriptedLLM
from tools.base import tool

RUNS: list[dict] = []


@tool
def get_current_weather(location: str, unit: str = "celsius") -> dict:
    """Get the current weather.

    Args:
        location: City name.
        unit: celsius or fahrenheit.
    """
    RUNS.append({"location": location, "unit": unit})
    return {"location": location, "temperature": 7.5, "unit": unit}


@tool
def search_wikipedia(query: str) -> dict:
    """Search Wikipedia.

    Args:
        query: What to look up.
    """
    RUNS.append({"query": query})
    return {"title": query, "summary": f"{query} is a thing."}


TOOLS = [get_current_weather, search_wikipedia]


@pytest.fixture(autouse=True)
def clear_runs():
    RUNS.clear()


def run(agent, text, history=()):
    events = list(agent.run(text, history))
    assert isinstance(events[-1], FinalAnswer)
    return events, events[-1]


def make_agent(*replies, mode="all", **settings):
    llm = ScriptedLLM(replies)
    return Agent(llm, TOOLS, mode=mode, settings=AgentSettings(**settings), today=dt.date(2026, 11, 21)), llm


def test_a_question_needing_no_tool_takes_one_llm_call_and_streams():
    agent, llm = make_agent("Twelve times seven is 84.")
    events, final = run(agent, "What is 12*7?")
    assert final.stats.llm_calls == 1 and len(llm.prompts) == 1
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) > 3 and "".join(tokens) == "Twelve times seven is 84."
    assert final.text == "Twelve times seven is 84."
    assert [m.role for m in final.messages] == ["user", "assistant"]
    assert RUNS == []


def test_a_tool_turn_takes_two_calls_with_the_result_in_the_second_prompt():
    agent, llm = make_agent('[get_current_weather(location="Oslo")]', "It is 7.5 °C in Oslo.")
    events, final = run(agent, "Weather in Oslo?")
    assert final.stats.llm_calls == 2 and final.stats.tool_calls == 1
    kinds = [type(e) for e in events]
    assert kinds.index(ToolCallStarted) < kinds.index(ToolCallFinished) < kinds.index(Token)
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.ok and finished.result["temperature"] == 7.5 and finished.duration_s >= 0
    second = llm.prompts[1]
    assert second[-1].role == "ipython" and '"temperature": 7.5' in second[-1].content
    assert second[-2] == Message("assistant", '[get_current_weather(location="Oslo")]')
    # both calls share the first prompt as a prefix (same system prompt, no separate "answer" prompt)
    assert second[: len(llm.prompts[0])] == llm.prompts[0]
    assert final.text == "It is 7.5 °C in Oslo."
    assert [m.role for m in final.messages] == ["user", "assistant", "ipython", "assistant"]
    # no call text leaked into the streamed answer
    assert "get_current_weather" not in "".join(e.text for e in events if isinstance(e, Token))


def test_the_second_call_reuses_the_first_calls_prefix():
    agent, _ = make_agent('[get_current_weather(location="Oslo")]', "Mild.")
    events, _ = run(agent, "Weather in Oslo?")
    first, second = [e.usage for e in events if isinstance(e, LLMCallFinished)]
    assert first.cached_tokens == 0
    assert second.cached_tokens >= first.prompt_tokens  # only the call and its result are new


def test_parallel_calls_all_run_and_duplicates_run_once():
    agent, llm = make_agent(
        '[get_current_weather(location="Oslo"), get_current_weather(location="Lima"), '
        'get_current_weather(location="Oslo")]', "Both done.")
    _, final = run(agent, "Oslo and Lima?")
    assert [r["location"] for r in RUNS] == ["Oslo", "Lima"]
    assert [m.role for m in llm.prompts[1][-2:]] == ["ipython", "ipython"]


def test_an_invalid_call_is_not_run_and_gives_a_clear_error_result():
    agent, llm = make_agent('[get_current_weather(city="Oslo")]', "Sorry, I could not get that.")
    events, final = run(agent, "Weather?")
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert not finished.ok and "missing required argument 'location'" in finished.result["error"]
    assert "unknown argument 'city'" in finished.result["error"]
    assert RUNS == []
    assert "error" in llm.prompts[1][-1].content


def test_a_tool_outside_the_mode_is_an_unknown_function():
    agent, _ = make_agent('[search_wikipedia(query="Oslo")]', "I can only do weather.", mode="weather")
    events, _ = run(agent, "Tell me about Oslo")
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert "unknown function 'search_wikipedia'" in finished.result["error"] and RUNS == []


def test_a_malformed_call_yields_an_error_event_and_one_repair_attempt():
    agent, llm = make_agent('[get_current_weather(location="Oslo"', "It is mild in Oslo.")
    events, final = run(agent, "Weather in Oslo?")
    errors = [e for e in events if isinstance(e, AgentError)]
    assert errors and "malformed tool call" in errors[0].message
    assert "could not be parsed" in llm.prompts[1][-1].content
    assert final.text == "It is mild in Oslo."


def test_the_budget_is_respected_when_the_model_keeps_calling_tools():
    # This fake ignores the ban on calls in the last LLM call: the agent answers from the results it has.
    agent, llm = make_agent('[get_current_weather(location="Oslo")]', '[get_current_weather(location="Lima")]')
    events, final = run(agent, "Weather in Oslo and Lima?")
    assert len(llm.prompts) == 2 and final.stats.llm_calls == 2
    assert final.ending == "composed" and "7.5" in final.text and "Oslo" in final.text
    assert "steps" not in final.text and "budget" not in final.text
    assert [r["location"] for r in RUNS] == ["Oslo"]


def test_a_larger_budget_allows_a_multi_step_loop():
    agent, llm = make_agent('[get_current_weather(location="Oslo")]', '[search_wikipedia(query="Oslo")]',
                            "Oslo: 7.5 °C; a city.", max_llm_calls=3)
    _, final = run(agent, "Weather and facts about Oslo")
    assert final.stats.llm_calls == 3 and len(RUNS) == 2 and final.text.startswith("Oslo")


def test_too_many_calls_in_one_reply_are_capped():
    calls = ", ".join(f'get_current_weather(location="C{i}")' for i in range(10))
    agent, _ = make_agent(f"[{calls}]", "Done.")
    events, _ = run(agent, "Weather in " + " ".join(f"C{i}" for i in range(10)))
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert len(RUNS) == 4 and sum(not e.ok for e in finished) == 6


def test_chat_mode_has_no_tools_in_its_prompt():
    agent, llm = make_agent("Hello!", mode="chat")
    run(agent, "Hi")
    assert "function" not in llm.prompts[0][0].content


def test_empty_message_is_refused_without_calling_the_model():
    agent, llm = make_agent()
    events, final = run(agent, "   ")
    assert llm.prompts == [] and isinstance(events[0], AgentError)


def test_history_is_trimmed_oldest_first_with_a_notice():
    history = []
    for i in range(40):
        history += [Message("user", f"question {i} " + "word " * 50), Message("assistant", "answer " * 50)]
    llm = ScriptedLLM(["Fine."], context_length=1500)
    agent = Agent(llm, TOOLS, mode="chat", settings=AgentSettings(), today=dt.date(2026, 11, 21))
    events, _ = run(agent, "latest question", history)
    assert any(isinstance(e, Notice) and "left out" in e.text for e in events)
    prompt = llm.prompts[0]
    assert prompt[0].role == "system" and prompt[1].role == "user" and prompt[-1].content == "latest question"
    assert "question 39" in prompt[-3].content and "question 0 " not in " ".join(m.content for m in prompt)


def test_llm_call_events_carry_usage():
    agent, _ = make_agent("Hi there.")
    events, _ = run(agent, "Hello")
    usage = [e for e in events if isinstance(e, LLMCallFinished)]
    assert len(usage) == 1 and usage[0].usage.prompt_tokens > 0 and usage[0].usage.completion_tokens > 0


@pytest.mark.parametrize("text, expected", [
    ("", "undecided"), ("  ", "undecided"), ("<|python", "undecided"), ("<|python_tag|>", "call"),
    ("[", "undecided"), ("[get_w", "undecided"), ("[get_weather(", "call"), ("[1, 2]", "prose"),
    ("{", "undecided"), ('{"na', "undecided"), ('{"name"', "call"), ("Sure", "undecided"), ("Sure,", "prose"),
    ("get_weather(", "undecided"), ("get_weather(city=", "call"), ("get_time()", "call"),
    ("Confucius (551", "prose"), ("Confucius(551", "prose"), ("The", "undecided"), ("The weather", "prose"),
    ("```", "undecided"),
    ("```python\n[f(", "call"), ("```python\ndef f", "prose"), ("Hello!", "prose"),
])
def test_the_opening_of_a_reply_decides_call_or_prose(text, expected):
    assert classify_opening(text) == expected


def test_a_tool_turn_with_the_real_tools_against_the_local_server(tool_env):
    from tools import get_tools

    def answer_from_result(messages):
        result = messages[-1].content
        assert messages[-1].role == "ipython" and "Oslo" in result
        return "It is -3.2 °C in Oslo."

    llm = ScriptedLLM(['[get_current_weather(location="Oslo")]', answer_from_result])
    agent = Agent(llm, get_tools(), mode="weather", today=dt.date(2026, 11, 21))
    events = list(agent.run("What's the weather in Oslo?"))
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.ok and finished.result["location"].startswith("Oslo") and "temperature" in finished.result
    assert events[-1].text == "It is -3.2 °C in Oslo."


def test_a_failing_service_becomes_a_readable_tool_error_and_the_chat_goes_on(tool_env, tool_server):
    from tools import get_tools

    tool_server.fault("/v1/search", "status", status=500)
    llm = ScriptedLLM(['[get_current_weather(location="Oslo")]', "Sorry, the weather service is down."])
    agent = Agent(llm, get_tools(), mode="weather", today=dt.date(2026, 11, 21))
    events = list(agent.run("What's the weather in Oslo?"))
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert not finished.ok and "error" in finished.result and "Traceback" not in finished.result["error"]
    # the agent says what failed itself, without a second LLM call that might invent a forecast
    assert events[-1].text.startswith("I could not reach the weather service") and len(llm.prompts) == 1
    assert events[-1].ending == "failure" and events[-1].without_live_data
