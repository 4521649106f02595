"""The headline scenario end to end with the real fine-tuned adapter and the local fake Open-Meteo server: the turn
ends in an answer that states the server's temperature, or, with the server down, says the service failed; neither
talks about a step budget."""

import datetime as dt

import pytest

from agent import Agent, AgentSettings
from agent.backends.base import GenerationParams
from agent.events import FinalAnswer, ToolCallFinished
from agent.grounding import misstated_temperatures

pytestmark = pytest.mark.model

OSLO_TEMPERATURE = "-3.2"  # fakes/openmeteo.py: Oslo's current temperature


def weather_turn(llm, question):
    from tools import get_tools

    agent = Agent(llm, get_tools(), mode="weather", today=dt.date(2026, 11, 21), settings=AgentSettings(
        generation=GenerationParams(max_tokens=96, temperature=0.0, seed=0)))
    events = list(agent.run(question))
    assert isinstance(events[-1], FinalAnswer) and sum(isinstance(e, FinalAnswer) for e in events) == 1
    return events, events[-1]


def no_budget_talk(text):
    return not any(word in text.lower() for word in ("step", "budget", "llm call", "model call", "ran out"))


def test_the_weather_in_oslo_ends_in_an_answer_with_the_servers_temperature(tuned_llm, tool_env):
    events, final = weather_turn(tuned_llm, "What's the weather in Oslo?")
    runs = [e for e in events if isinstance(e, ToolCallFinished)]
    assert runs and all(e.ok for e in runs) and runs[0].result["temperature"] == float(OSLO_TEMPERATURE)
    assert OSLO_TEMPERATURE in final.text and no_budget_talk(final.text), final.text
    assert final.ending in ("answer", "grounded") and not final.without_live_data
    # On an AMX Xeon the adapter answers "It's 3.2 °C in Oslo right now, and it feels like -3.2 °C": a temperature it
    # gets wrong is flagged, and the server's figures follow it.
    if misstated_temperatures(final.text, [runs[0].result]):
        assert final.ending == "grounded" and "not what the weather service said" in final.text, final.text
        assert "-3.2 °C (feels like -7.9 °C)" in final.text, final.text
    assert final.stats.llm_calls <= 2


def test_with_the_server_down_the_answer_says_the_service_failed(tuned_llm, tool_env, monkeypatch):
    monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", "http://127.0.0.1:9/v1/search")  # nothing listens on port 9
    monkeypatch.setenv("TOOLS_RETRIES", "0")
    events, final = weather_turn(tuned_llm, "What's the weather in Oslo?")
    runs = [e for e in events if isinstance(e, ToolCallFinished)]
    assert runs and not any(e.ok for e in runs)
    assert "could not reach the weather service" in final.text.lower() and no_budget_talk(final.text), final.text
    assert final.without_live_data


def test_a_found_article_reaches_the_answer(tuned_llm, tool_env):
    # The adapter answers this successful search with "I couldn't find a Wikipedia article about Ada Lovelace"; the
    # agent points to the article under such an answer, so the user is not told it was not found.
    from tools import get_tools

    agent = Agent(tuned_llm, get_tools(), mode="wiki", today=dt.date(2026, 11, 21), settings=AgentSettings(
        generation=GenerationParams(max_tokens=96, temperature=0.0, seed=0)))
    events = list(agent.run("Tell me about Ada Lovelace."))
    runs, final = [e for e in events if isinstance(e, ToolCallFinished)], events[-1]
    assert runs and runs[0].ok and runs[0].result["title"] == "Ada Lovelace", runs
    # Either the model's own words carry the article (Babbage, the Analytical Engine) or the agent's pointer does.
    assert any(fact in final.text for fact in ("Babbage", "Analytical Engine", "wikipedia.org/wiki/Ada_Lovelace")), \
        final.text
    assert final.ending in ("answer", "grounded") and not final.without_live_data
