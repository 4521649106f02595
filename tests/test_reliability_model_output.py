"""Reliability: whatever a model writes, the agent loop ends the turn with a clear message, within its LLM-call budget,
and never runs a tool with arguments that do not fit the tool's spec.

Covers unknown tools, wrong argument types, hallucinated arguments, half a bracket, text mixed with a call, a call
repeated, ten calls in one reply, a property test over random reply scripts, the model lock during tool calls, and
a tool result or user message too long for the context.

Run: python -m pytest tests/test_reliability_model_output.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.backends.base import BackendError, GenerationParams, Usage
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


# -------------------------------------------------------------------------------------------- the model lock

class LockHoldingLLM(ScriptedLLM):
    """Holds its lock for the whole stream, the `Usage` included (stricter than llama.cpp, which lets go first)."""

    def stream(self, messages, params):
        with self.lock:
            self.prompts.append(list(messages))
            reply = self.replies.popleft()
            text = reply(list(messages)) if callable(reply) else reply
            for i in range(0, len(text), 3):
                yield text[i:i + 3]
            yield Usage(prompt_tokens=10, completion_tokens=3)


def test_the_model_lock_is_never_held_while_a_tool_runs():
    llm = LockHoldingLLM(['[lock_probe(label="a"), lock_probe(label="b")]', "Both ran."])
    seen: list[bool] = []

    @tool
    def lock_probe(label: str) -> dict:
        """Record whether the model's lock is held.

        Args:
            label: Any label.
        """
        seen.append(llm.lock.locked())
        return {"label": label}

    agent = Agent(llm, [lock_probe], mode="all", today=dt.date(2026, 11, 21))
    agent.tools = {"lock_probe": lock_probe}  # the "all" mode lists the real tools; give it this one
    events = list(agent.run("probe"))
    assert seen == [False, False] and events[-1].text == "Both ran."


def test_stopping_a_turn_mid_stream_releases_the_model_lock_at_once():
    agent, llm = make_agent(llm=LockHoldingLLM(["A long answer that the user stops halfway through."]))
    events = agent.run("Tell me a story")
    next(e for e in events if isinstance(e, Token))
    assert llm.lock.locked()
    events.close()  # what the UI does when the user presses Stop
    assert not llm.lock.locked()


# ---------------------------------------------------------------------------------------- context overflow

class ContextLimitedLLM(ScriptedLLM):
    """Refuses a prompt longer than its context, as `LlamaCppLLM.stream` does."""

    def stream(self, messages, params):
        tokens = self.count_tokens(messages)
        if tokens + 1 >= self.context_length:
            raise BackendError(f"prompt of {tokens} tokens does not fit the context of {self.context_length}")
        yield from super().stream(messages, params)


@tool
def huge_article(query: str) -> dict:
    """Return a very long article.

    Args:
        query: What to look up.
    """
    RUNS.append(("huge_article", {"query": query}))
    return {"title": query, "summary": "word " * 4000}


def test_a_tool_result_that_overflows_the_context_is_shortened_with_a_notice_not_an_error():
    llm = ContextLimitedLLM(['[huge_article(query="Oslo")]', "Oslo is a city."], context_length=1500)
    agent = Agent(llm, [huge_article], mode="all", today=dt.date(2026, 11, 21))
    agent.tools = {"huge_article": huge_article}
    events, final = run(agent, "Tell me about Oslo")
    assert of(events, AgentError) == [], [e.message for e in of(events, AgentError)]
    assert any("tool result" in n.text and "shortened" in n.text for n in of(events, Notice))
    assert final.text == "Oslo is a city." and len(llm.prompts) == 2
    second = llm.prompts[1]
    assert llm.count_tokens(second) + 512 <= 1500
    assert second[-1].role == "ipython" and second[-1].content.startswith('{"title": "Oslo", "summary": "word word')


def test_a_tool_result_overflow_with_a_long_history_drops_the_history_first():
    history = []
    for i in range(6):
        history += [Message("user", f"old question {i}"), Message("assistant", f"old answer {i} " * 20)]
    llm = ContextLimitedLLM(['[huge_article(query="Oslo")]', "Oslo is a city."], context_length=1500)
    agent = Agent(llm, [huge_article], mode="all", today=dt.date(2026, 11, 21))
    agent.tools = {"huge_article": huge_article}
    events, final = run(agent, "Tell me about Oslo", history)
    notices = [n.text for n in of(events, Notice)]
    assert any("left out" in n for n in notices) and any("shortened" in n for n in notices)
    assert final.text == "Oslo is a city." and of(events, AgentError) == []


def test_a_user_message_too_long_for_the_context_is_cut_with_a_notice():
    llm = ContextLimitedLLM(["That is a lot of text."], context_length=1500)
    agent = Agent(llm, TOOLS, mode="chat", today=dt.date(2026, 11, 21))
    events, final = run(agent, "token " * 5000)
    assert of(events, AgentError) == [] and final.text == "That is a lot of text."
    assert any("message" in n.text and "context" in n.text for n in of(events, Notice))
    assert llm.count_tokens(llm.prompts[0]) + 512 <= 1500
    assert final.messages[0].content == llm.prompts[0][-1].content, "the history keeps what the model saw"


def test_a_max_tokens_setting_larger_than_the_context_still_leaves_room_for_the_prompt():
    llm = ContextLimitedLLM(["Fine."], context_length=1500)
    agent = Agent(llm, TOOLS, mode="chat", settings=AgentSettings(generation=GenerationParams(max_tokens=4096)),
                  today=dt.date(2026, 11, 21))
    history = [Message("user", "earlier question"), Message("assistant", "earlier answer")]
    events, final = run(agent, "Hello", history)
    assert final.text == "Fine." and llm.prompts[0][1].content == "earlier question", "nothing needed trimming"


def test_the_lock_holding_fake_is_released_between_the_two_calls_of_a_tool_turn():
    # The same turn calls the model twice; the second call must not deadlock on a lock the first still holds.
    llm = LockHoldingLLM(['[get_current_weather(location="Oslo")]', "Mild."])
    agent, _ = make_agent(llm=llm)
    done = threading.Event()
    result = {}

    def turn():
        result["events"] = list(agent.run("Weather in Oslo?"))
        done.set()

    threading.Thread(target=turn, daemon=True).start()
    assert done.wait(5), "the turn deadlocked on the model lock"
    assert result["events"][-1].text.startswith("Mild.")
