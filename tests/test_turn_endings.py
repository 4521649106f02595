"""Every turn ends in an answer: the last LLM call cannot call, repeats are answered, tool failures are said plainly,
a missing place is asked for, and answers without live data or cut short are marked.

The scripted fakes here stand in for the model's choices only; the decoding controls they honour (the call threshold)
are what the llama.cpp backend enforces in the sampler. Tools are real, against the local fake Open-Meteo server.
"""

import datetime as dt
import math

import pytest

from agent import Agent, AgentSettings
from agent.__main__ import answer_markers
from agent.backends.base import GenerationParams, Usage
from agent.endings import eagerness_from_threshold, threshold_from_eagerness, value_given
from agent.events import AgentError, FinalAnswer, Token, ToolCallFinished
from agent.messages import Message
from fakes.models import ScriptedLLM

TODAY = dt.date(2026, 11, 21)
OSLO = '[get_current_weather(location="Oslo")]'


class EagerLLM(ScriptedLLM):
    """Replays its script (whatever the decoder allows), records the params of every call, and reports a call
    probability and a finish reason in its usage."""

    def __init__(self, replies=(), p_call=0.9, finish_reason="stop", **kwargs):
        super().__init__(replies, **kwargs)
        self.p_call, self.finish_reason = p_call, finish_reason
        self.params: list[GenerationParams] = []

    def stream(self, messages, params):
        self.params.append(params)
        for chunk in super().stream(messages, params):
            if isinstance(chunk, Usage):
                chunk.call_probability, chunk.finish_reason = self.p_call, self.finish_reason
            yield chunk


def forbidding(p_call=0.9, prose="Here is my answer.", calls=OSLO, **kwargs):
    """A model that writes `calls` whenever it may, and `prose` when the decoder forbids a call."""
    llm = ScriptedLLM((), **kwargs)
    seen: list[GenerationParams] = []

    def stream(messages, params):
        seen.append(params)
        allowed = params.call_threshold is None or p_call >= params.call_threshold
        llm.enqueue(calls if allowed else prose)
        for chunk in ScriptedLLM.stream(llm, messages, params):
            if isinstance(chunk, Usage):
                chunk.call_probability = p_call
            yield chunk

    llm.stream = stream
    llm.seen = seen
    return llm


def weather_agent(llm, mode="weather", **settings):
    from tools import get_tools

    return Agent(llm, get_tools(), mode=mode, settings=AgentSettings(**settings), today=TODAY)


def run(agent, text, history=()):
    events = list(agent.run(text, history))
    final = events[-1]
    assert isinstance(final, FinalAnswer) and sum(isinstance(e, FinalAnswer) for e in events) == 1
    assert "".join(e.text for e in events if isinstance(e, Token)).strip() == final.text.strip()
    return events, final


def no_step_talk(text):
    return not any(word in text.lower() for word in ("step", "budget", "llm call", "model call"))


# ------------------------------------------------------------------------------------------ every turn ends

@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_a_model_that_always_calls_still_ends_every_turn_in_prose_within_the_budget(tool_env, budget):
    llm = forbidding(prose="It is -3.2 °C in Oslo.")
    events, final = run(weather_agent(llm, max_llm_calls=budget), "What's the weather in Oslo?")
    assert final.stats.llm_calls <= budget and len(llm.seen) <= budget
    assert llm.seen[-1].call_threshold == math.inf, "the last call a turn makes cannot open a call"
    assert final.text == "It is -3.2 °C in Oslo." and final.ending == "answer" and no_step_talk(final.text)
    runs = [e for e in events if isinstance(e, ToolCallFinished)]
    assert len(runs) == (0 if budget == 1 else 1), "the same call never runs twice in a turn"


def test_a_repeated_call_is_answered_by_a_call_that_cannot_call_again(tool_env):
    llm = EagerLLM([OSLO, OSLO, "It is -3.2 °C in Oslo.", "unused"], p_call=0.9)
    events, final = run(weather_agent(llm, max_llm_calls=4), "What's the weather in Oslo?")
    assert [p.call_threshold == math.inf for p in llm.params] == [False, False, True]
    assert final.text == "It is -3.2 °C in Oslo." and len([e for e in events if isinstance(e, ToolCallFinished)]) == 1
    # the repeat is not in the prompt of the answering call: it reads the call, the result, and answers
    assert [m.role for m in llm.prompts[2][-3:]] == ["user", "assistant", "ipython"]


def test_a_backend_that_cannot_forbid_calls_gets_an_answer_written_from_the_results(tool_env):
    llm = ScriptedLLM([OSLO, OSLO])  # ignores the threshold
    events, final = run(weather_agent(llm), "What's the weather in Oslo?")
    assert final.ending == "composed" and "-3.2" in final.text and "Oslo" in final.text
    assert no_step_talk(final.text) and not final.without_live_data


def test_the_old_behaviour_is_still_there_for_evaluation_when_switched_off(tool_env):
    llm = ScriptedLLM([OSLO, OSLO])
    events, final = run(weather_agent(llm, forbid_last_call=False), "What's the weather in Oslo?")
    assert final.ending == "budget" and any(isinstance(e, AgentError) for e in events)


# --------------------------------------------------------------------------------------- failures said plainly

def test_with_the_weather_service_down_the_answer_says_it_could_not_reach_it(tool_env, monkeypatch):
    monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", "http://127.0.0.1:9/v1/search")  # nothing listens there
    monkeypatch.setenv("TOOLS_RETRIES", "0")
    llm = forbidding()
    events, final = run(weather_agent(llm), "What's the weather in Oslo?")
    assert final.text.startswith("I could not reach the weather service") and final.ending == "failure"
    assert final.without_live_data and no_step_talk(final.text) and len(llm.seen) == 1


def test_an_unknown_place_is_named_in_the_answer(tool_env):
    llm = forbidding(calls='[get_current_weather(location="Atlantisville")]')
    _, final = run(weather_agent(llm), "Weather in Atlantisville?")
    assert final.text.startswith('I don\'t know a place called "Atlantisville"')


def test_a_call_with_wrong_arguments_gets_another_llm_call_that_may_explain(tool_env):
    llm = EagerLLM(['[get_current_weather(location="Oslo", days=2)]', "Sorry, I could not check that."])
    events, final = run(weather_agent(llm), "Weather in Oslo?")
    assert final.text == "Sorry, I could not check that." and final.stats.llm_calls == 2


# ----------------------------------------------------------------------------------------- ask, don't guess

def test_a_place_the_user_never_named_is_asked_for_not_invented(tool_env):
    llm = forbidding(calls='[get_current_weather(location="London")]')
    agent = weather_agent(llm)
    events, final = run(agent, "What's the weather like?")
    assert final.text == "Which city or place should I check?" and final.ending == "asked"
    assert not [e for e in events if isinstance(e, ToolCallFinished)] and not final.without_live_data
    # the answer to the question names the place, and the next turn runs the call
    follow = forbidding(calls=OSLO, prose="It is -3.2 °C in Oslo.")
    agent.llm = follow
    events, final = run(agent, "In Oslo.", final.messages)
    assert [e.call.arguments["location"] for e in events if isinstance(e, ToolCallFinished)] == ["Oslo"]


def test_asking_can_be_switched_off(tool_env):
    llm = forbidding(calls='[get_current_weather(location="London")]', prose="It is 6.1 °C in London.")
    events, final = run(weather_agent(llm, ask_for_missing=False), "What's the weather like?")
    assert [e.call.arguments["location"] for e in events if isinstance(e, ToolCallFinished)] == ["London"]


@pytest.mark.parametrize(("value", "said", "given"), [
    ("Windhoek", "Are there showers in Windhuk right now?", True),
    ("Paris, France", "weather in paris please", True),
    ("São Paulo", "clima em sao paulo", True),
    ("London", "What's the weather like?", False),
    ("Seattle", "Write me a haiku about the sea.", False),
])
def test_a_value_counts_as_given_when_the_user_said_it_or_a_spelling_of_it(value, said, given):
    assert value_given(value, [Message("user", said)]) is given


# ------------------------------------------------------------------------------------------- honest answers

def test_a_tool_mode_answer_without_a_tool_call_is_marked_without_live_data():
    llm = forbidding(p_call=0.1, prose="It is 22.5 degrees.")
    _, final = run(weather_agent(llm, tool_eagerness=0.5), "What's the weather in Oslo?")
    assert final.without_live_data and llm.seen[0].call_threshold == 0.5
    assert answer_markers(final) == ["answered without live data"]


def test_an_answer_from_a_successful_call_is_not_marked(tool_env):
    llm = forbidding(prose="It is -3.2 °C in Oslo.")
    _, final = run(weather_agent(llm), "What's the weather in Oslo?")
    assert not final.without_live_data and answer_markers(final) == []


def test_chat_mode_has_no_tools_so_nothing_is_marked_and_no_grammar_is_sent():
    llm = forbidding(prose="Hello!")
    _, final = run(weather_agent(llm, mode="chat"), "Hi")
    assert not final.without_live_data
    assert llm.seen[0].call_grammar is None and llm.seen[0].call_threshold is None


def test_an_answer_cut_at_the_token_limit_says_so():
    llm = EagerLLM(["A very long answer"], p_call=0.0, finish_reason="length")
    agent = weather_agent(llm, generation=GenerationParams(max_tokens=64))
    _, final = run(agent, "Tell me everything")
    assert final.truncated and final.text.endswith("(This answer was cut at the limit of 64 tokens.)")
    assert "cut at the token limit" in answer_markers(final)


# ------------------------------------------------------------------------------------- decoding controls sent

def test_a_tool_mode_sends_its_call_grammar_and_the_models_fitted_threshold(tmp_path, monkeypatch):
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text('[[models]]\nname = "scripted"\nlabel = "x"\nsource = "local"\npath = "x.gguf"\n'
                         "call_threshold = 0.42\n", encoding="utf-8")
    monkeypatch.setenv("MODEL_CATALOGUE", str(catalogue))
    llm = forbidding(p_call=0.3, prose="No call.")
    run(weather_agent(llm), "What's the weather in Oslo?")
    params = llm.seen[0]
    assert params.call_threshold == 0.42
    assert params.call_grammar and "get_current_weather" in params.call_grammar
    assert "search_wikipedia" not in params.call_grammar, "only this mode's tools"
    llm = forbidding(p_call=0.3, prose="No call.")
    run(weather_agent(llm, tool_eagerness=1.0), "Weather in Oslo?")
    assert llm.seen[0].call_threshold == 0.0, "the user's eagerness wins over the fitted threshold"


@pytest.mark.parametrize(("eagerness", "threshold"), [(None, None), (1.0, 0.0), (0.25, 0.75), (0.0, math.inf)])
def test_tool_eagerness_maps_to_the_call_threshold_and_back(eagerness, threshold):
    assert threshold_from_eagerness(eagerness) == threshold
    assert eagerness_from_threshold(threshold) == eagerness


def test_an_answer_that_leaves_out_the_tools_temperature_gets_the_data_added(tool_env):
    llm = forbidding(prose="I don't have live weather data for Oslo right now.")
    events, final = run(weather_agent(llm), "What's the weather in Oslo?")
    assert final.ending == "grounded" and "-3.2 °C" in final.text and "slight snowfall" in final.text
    llm = forbidding(prose="I don't have live weather data for Oslo right now.")
    _, final = run(weather_agent(llm, ground_answers=False), "What's the weather in Oslo?")
    assert final.ending == "answer" and "-3.2" not in final.text


ADA = '[search_wikipedia(query="Ada Lovelace")]'


def test_an_answer_that_denies_a_found_article_gets_the_article_added(tool_env):
    # The committed adapter, in the app, answered a successful search with "I couldn't find a Wikipedia article".
    denial = "I couldn't find a Wikipedia article about Ada Lovelace."
    llm = forbidding(prose=denial, calls=ADA)
    _, final = run(weather_agent(llm, mode="wiki"), "Tell me about Ada Lovelace.")
    assert final.ending == "grounded" and final.text.startswith(denial)
    assert '"Ada Lovelace"' in final.text and "wikipedia.org/wiki/Ada_Lovelace" in final.text
    assert "Babbage" not in final.text  # pointed to, not repeated: the page's text stays in the tool's message
    told = "Ada Lovelace was an English mathematician who worked on Babbage's Analytical Engine."
    _, final = run(weather_agent(forbidding(prose=told, calls=ADA), mode="wiki"), "Tell me about Ada Lovelace.")
    assert final.ending == "answer" and final.text == told
    _, final = run(weather_agent(forbidding(prose=denial, calls=ADA), mode="wiki", ground_answers=False),
                   "Tell me about Ada Lovelace.")
    assert final.ending == "answer" and final.text == denial


# ------------------------------------------------------------------------------------------ one call per request

def specs():
    from tools import get_tools

    return {tool.name: tool.spec for tool in get_tools()}


@pytest.mark.parametrize("question, reply, kept", [
    ("What's the weather in Oslo?", '[get_current_weather(location="Oslo"), '
     'get_current_weather(location="Oslo", unit="fahrenheit")]', 1),
    ("What's the weather in Oslo?", '[get_current_weather(location="Oslo", unit="celsius"), '
     'get_current_weather(location="Oslo")]', 1),
    ("Oslo's weather in Celsius and in Fahrenheit, please", '[get_current_weather(location="Oslo"), '
     'get_current_weather(location="Oslo", unit="fahrenheit")]', 2),
    ("Weather in Oslo and in Paris?", '[get_current_weather(location="Oslo"), '
     'get_current_weather(location="Paris")]', 2),
    ("Oslo: the weather now and the forecast?", '[get_current_weather(location="Oslo"), '
     'get_weather_forecast(location="Oslo")]', 2),
    ("Forecast for Oslo", '[get_weather_forecast(location="Oslo"), get_weather_forecast(location="Oslo", days=5)]', 1),
    ("Forecast for Oslo, 3 and 5 days", '[get_weather_forecast(location="Oslo", days=3), '
     'get_weather_forecast(location="Oslo", days=5)]', 2),
])
def test_calls_that_differ_only_in_values_nobody_asked_for_run_once(question, reply, kept):
    from agent.endings import one_call_per_request
    from agent.format import parse_tool_calls

    calls = parse_tool_calls(reply)
    out = one_call_per_request(calls, specs(), [Message("user", question)])
    assert len(out) == kept and out[0] == calls[0]


def test_the_agent_runs_oslos_weather_once_when_the_model_asks_for_it_in_two_units(tool_env):
    pair = '[get_current_weather(location="Oslo"), get_current_weather(location="Oslo", unit="fahrenheit")]'
    events, final = run(weather_agent(ScriptedLLM([pair, "It's -3.2 °C in Oslo, feels like -7.9 °C."])),
                        "What's the weather in Oslo?")
    ran = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [e.call.arguments for e in ran] == [{"location": "Oslo"}] and final.ending == "answer"
    assert "fahrenheit" not in final.messages[1].content  # the history keeps the call that ran
