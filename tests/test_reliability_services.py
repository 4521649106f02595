"""Reliability: the weather and Wikipedia services misbehaving on purpose, through the whole agent turn.

The local tool server (fakes/services.py) times out, refuses, rate-limits, fails with 500s, sends truncated JSON,
HTML instead of JSON, FlatBuffers garbage, a 1 MB page and a 5 MB one; the hosts are also pointed at a closed port and
at a name under `.invalid` (RFC 6761: never resolves). For each fault: bounded retries, a clear tool error the model
answers from, the next turn of the same chat works, and no thread is left behind.

Run: python -m pytest tests/test_reliability_services.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time

import pytest

from agent.events import FinalAnswer, ToolCallFinished
from agent.loop import Agent
from fakes.models import ScriptedLLM
from fakes.services import FORECAST_PATH, GEOCODING_PATH, WIKI_PATH
from ui import chat
from ui.model_manager import ModelManager

TODAY = dt.date(2026, 11, 21)
WEATHER_CALL = '[get_current_weather(location="Oslo")]'
FORECAST_CALL = '[get_weather_forecast(location="Oslo", days=2)]'
WIKI_CALL = '[search_wikipedia(query="Eiffel Tower")]'


def closed_port_url(path: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def big_page(characters: int) -> dict:
    """The MediaWiki answer for the Eiffel Tower's intro, `characters` long."""
    extract = ("The tower is tall. " * (characters // 19 + 1))[:characters]
    return {"batchcomplete": "", "query": {"pages": {"9232": {"pageid": 9232, "ns": 0, "title": "Eiffel Tower",
                                                               "extract": extract}}}}


# (id, the call, how to break the service, phrase in the tool's error, most requests to the broken path)
FAULTS = [
    ("weather-timeout", WEATHER_CALL, {"path": FORECAST_PATH, "mode": "delay", "seconds": 10},
     "did not answer within the 0.5 s time limit", 1),
    ("weather-connection-refused", WEATHER_CALL, {"env": "OPEN_METEO_GEOCODING_URL", "url": "closed"},
     "Could not connect to Open-Meteo's place search: connection refused", None),
    ("weather-dns-failure", WEATHER_CALL, {"env": "OPEN_METEO_FORECAST_URL",
                                           "url": "http://api.open-meteo.invalid/v1/forecast"},
     "Could not connect to Open-Meteo's weather service: its host name could not be resolved", None),
    ("weather-429-retry-after", WEATHER_CALL,
     {"path": GEOCODING_PATH, "mode": "status", "status": 429, "retry_after": 30},
     "rate-limiting requests (HTTP 429); try again in 30 s", 1),
    ("weather-500", FORECAST_CALL, {"path": FORECAST_PATH, "mode": "status", "status": 500},
     "kept failing with a server error (HTTP 500)", 3),
    ("weather-truncated-json", WEATHER_CALL, {"path": GEOCODING_PATH, "mode": "truncate"},
     "sent an answer that is not valid JSON", 1),
    ("weather-wrong-content-type", WEATHER_CALL, {"path": FORECAST_PATH, "mode": "content_type"},
     "answered with text/html instead of forecast data", 1),
    ("weather-flatbuffers-garbage", FORECAST_CALL, {"path": FORECAST_PATH, "mode": "garbage"},
     "not in the FlatBuffers format", 1),
    ("weather-flatbuffers-truncated", WEATHER_CALL, {"path": FORECAST_PATH, "mode": "truncate"},
     "could not be decoded as a forecast (it was cut off)", 1),
    ("weather-cut-mid-transfer", WEATHER_CALL, {"path": FORECAST_PATH, "mode": "cut"},
     "closed the connection before the answer was complete", 1),
    ("wiki-timeout", WIKI_CALL, {"path": WIKI_PATH, "mode": "delay", "seconds": 10},
     "Wikipedia did not answer within the 0.5 s time limit", 1),
    ("wiki-connection-refused", WIKI_CALL, {"env": "WIKIPEDIA_API_URL", "url": "closed"},
     "Could not connect to Wikipedia: connection refused", None),
    ("wiki-dns-failure", WIKI_CALL, {"env": "WIKIPEDIA_API_URL", "url": "http://en.wikipedia.invalid/w/api.php"},
     "Could not connect to Wikipedia: its host name could not be resolved", None),
    ("wiki-429-retry-after", WIKI_CALL, {"path": WIKI_PATH, "mode": "status", "status": 429, "retry_after": 120},
     "rate-limiting requests (HTTP 429); try again in 120 s", 1),
    ("wiki-500", WIKI_CALL, {"path": WIKI_PATH, "mode": "status", "status": 500},
     "kept failing with a server error (HTTP 500)", 3),
    ("wiki-truncated-json", WIKI_CALL, {"path": WIKI_PATH, "mode": "truncate", "when": {"prop": "extracts"}},
     "sent an answer that is not valid JSON", 3),
    ("wiki-wrong-content-type", WIKI_CALL, {"path": WIKI_PATH, "mode": "content_type"},
     "answered with text/html instead of JSON", 1),
    ("wiki-garbage", WIKI_CALL, {"path": WIKI_PATH, "mode": "garbage"}, "not valid JSON", 1),
    ("wiki-5-mb-page", WIKI_CALL, {"path": WIKI_PATH, "mode": "status", "status": 200,
                                   "body": big_page(5_000_000), "when": {"prop": "extracts"}},
     "sent an answer larger than 4 MB", 3),
]


def break_service(server, monkeypatch, how: dict) -> None:
    how = dict(how)
    if "env" in how:
        url = how["url"]
        monkeypatch.setenv(how["env"], closed_port_url("/x") if url == "closed" else url)
    else:
        server.fault(how.pop("path"), how.pop("mode"), **how)


@pytest.fixture
def no_thread_left(tool_env):
    """Every thread started during the test has ended once the server's delayed answers are woken up."""
    before = set(threading.enumerate())
    yield
    tool_env.reset()
    deadline = time.monotonic() + 3
    while (left := [t for t in set(threading.enumerate()) - before if t.is_alive()]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"threads left running: {[t.name for t in left]}"


def answer_from_tool_result(messages) -> str:
    result = json.loads(messages[-1].content)
    assert messages[-1].role == "ipython"
    return f"Sorry: {result['error']}" if "error" in result else "Here it is."


@pytest.mark.parametrize(("call", "how", "phrase", "most_hits"),
                         [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_a_failing_service_gives_a_clear_tool_error_the_turn_ends_and_the_chat_goes_on(
        tool_env, monkeypatch, no_thread_left, call, how, phrase, most_hits):
    from tools import get_tools

    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.5")
    break_service(tool_env, monkeypatch, how)
    llm = ScriptedLLM([call, call, answer_from_tool_result])  # the failure is answered by the agent, not the model
    agent = Agent(llm, get_tools(), mode="all", today=TODAY)

    started = time.monotonic()
    events = list(agent.run("What's it like in Oslo, and what is the Eiffel Tower?"))
    elapsed = time.monotonic() - started

    (finished,) = [e for e in events if isinstance(e, ToolCallFinished)]
    error = finished.result.get("error", "")
    assert not finished.ok and phrase in error, finished.result
    assert "Traceback" not in error and "\n" not in error and len(error) < 300
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.text.startswith("I could not reach") and error in final.text
    assert elapsed < 2.5, f"the turn took {elapsed:.1f} s with a 0.5 s tool time limit"
    if most_hits is not None:
        assert tool_env.hits(how["path"]) <= most_hits, "retries are bounded"

    # The service recovers; the same conversation asks again and gets the answer.
    tool_env.reset()
    for name in ("OPEN_METEO_GEOCODING_URL", "OPEN_METEO_FORECAST_URL", "WIKIPEDIA_API_URL"):
        monkeypatch.setenv(name, tool_env.env()[name])
    again = list(agent.run("And now?", final.messages))
    (finished,) = [e for e in again if isinstance(e, ToolCallFinished)]
    assert finished.ok and again[-1].text.startswith("Here it is.")


def test_retries_back_off_between_attempts_and_stop_after_the_configured_number(tool_env, monkeypatch):
    from tools.weather import get_current_weather

    monkeypatch.setenv("TOOLS_RETRY_BACKOFF_S", "0.2")
    monkeypatch.setenv("TOOLS_RETRIES", "2")
    tool_env.fault(FORECAST_PATH, "status", status=503)
    get_current_weather(location="Oslo")  # warm the imports: timing the server, not Python
    tool_env.reset()
    tool_env.fault(FORECAST_PATH, "status", status=503)
    started = time.monotonic()
    result = get_current_weather(location="Oslo")
    elapsed = time.monotonic() - started
    assert "kept failing with a server error (HTTP 503)" in result["error"]
    assert tool_env.hits(FORECAST_PATH) == 3, "one request and two retries"
    assert 0.35 <= elapsed < 2.0, f"urllib3 backs off 0 s, then 2 x 0.2 s; took {elapsed:.2f} s"


def test_a_1_mb_wikipedia_page_is_read_and_cut_to_a_summary_the_model_can_hold(tool_env, no_thread_left):
    from tools import get_tools

    tool_env.fault(WIKI_PATH, "status", status=200, body=big_page(1_000_000), when={"prop": "extracts"})
    llm = ScriptedLLM([WIKI_CALL, answer_from_tool_result])
    agent = Agent(llm, get_tools(), mode="wiki", today=TODAY)
    started = time.monotonic()
    events = list(agent.run("Tell me about the Eiffel Tower"))
    assert time.monotonic() - started < 2.0
    (finished,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished.ok and finished.result["truncated"] is True
    assert len(finished.result["summary"]) <= 1500 and finished.result["summary"].startswith("The tower is tall.")
    assert len(llm.prompts[1][-1].content) < 2000, "the model reads a summary, not the page"
    assert events[-1].text.startswith("Here it is.")


def test_a_hung_service_in_the_chat_ui_shows_the_error_and_the_next_question_is_answered(tool_env, monkeypatch):
    from tests.test_ui_chat import ScriptSource
    from tools import get_tools

    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.5")
    tool_env.fault(GEOCODING_PATH, "delay", seconds=10, times=1)
    manager = ModelManager(ScriptSource({"m": [WEATHER_CALL, WEATHER_CALL, answer_from_tool_result]}))
    conv = chat.Conversation(model="m")
    settings = chat.agent_settings(temperature=0.0, max_new_tokens=128, max_llm_calls=2)
    list(chat.run_turn(manager, get_tools(), conv, "Weather in Oslo?", "weather", settings))
    tool_message = next(m for m in conv.display if m.get("metadata", {}).get("log") == "error")
    assert "did not answer within the 0.5 s time limit" in tool_message["content"]
    assert conv.last_answer.startswith("I could not reach the weather service") and conv.last_error == ""
    tool_env.reset()
    list(chat.run_turn(manager, get_tools(), conv, "And now?", "weather", settings))
    assert conv.last_answer.startswith("Here it is.") and conv.turns == 2
