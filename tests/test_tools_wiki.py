"""search_wikipedia against a real local server that answers like the MediaWiki API, offline.

Run: python -m pytest tests/test_tools_wiki.py -q
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from fakes.app_process import free_port
from fakes.services import WIKI_PATH
from fakes.wikipedia import find_article
from tools.config import DEFAULT_USER_AGENT
from tools.wiki import search_wikipedia, truncate_text


def assert_error(result: dict, *phrases: str) -> str:
    assert isinstance(result, dict) and "error" in result, result
    message = result["error"]
    assert isinstance(message, str) and "Traceback" not in message and "\n" not in message
    for phrase in phrases:
        assert phrase in message, message
    json.dumps(result)
    return message


# ------------------------------------------------------------------------------------------------ success paths

def test_the_best_match_comes_back_with_title_url_and_summary(tool_env):
    result = search_wikipedia(query="Ada Lovelace")
    assert result == {"query": "Ada Lovelace", "title": "Ada Lovelace",
                      "url": "https://en.wikipedia.org/wiki/Ada_Lovelace",
                      "summary": find_article("Ada Lovelace").extract}


def test_it_searches_then_opens_the_page_without_auto_suggest(tool_env):
    search_wikipedia(query="Eiffel Tower")
    queries = [q for path, q, _ in tool_env.requests if path == WIKI_PATH]
    assert queries[0]["list"] == "search" and queries[0]["srsearch"] == "Eiffel Tower"
    assert [q.get("prop") for q in queries[1:]] == ["info|pageprops", "extracts"]
    assert all("srinfo" not in q for q in queries), "auto_suggest asks for a suggestion: it must be off"
    assert all(q["titles"] == "Eiffel Tower" for q in queries[1:])


def test_requests_identify_the_agent_with_its_user_agent(tool_env):
    search_wikipedia(query="Oslo")
    assert {headers["User-Agent"] for _, _, headers in tool_env.requests} == {DEFAULT_USER_AGENT}


def test_a_long_summary_is_cut_to_the_configured_size_after_a_sentence(tool_env, monkeypatch):
    full = find_article("Python (programming language)").extract
    result = search_wikipedia(query="python")
    assert result["title"] == "Python (programming language)" and result["truncated"] is True
    assert len(full) > 1500 >= len(result["summary"]) and result["summary"].endswith(".…")
    assert full.startswith(result["summary"][:-1])
    monkeypatch.setenv("WIKIPEDIA_SUMMARY_CHARS", "300")
    assert len(search_wikipedia(query="python")["summary"]) <= 300


def test_truncation_keeps_short_text_and_never_exceeds_the_limit():
    assert truncate_text("  Short.  ", 100) == ("Short.", False)
    text, cut = truncate_text("word " * 100, 50)
    assert cut and len(text) <= 50 and text.endswith("word…")


def test_a_disambiguation_page_offers_its_options_instead_of_guessing(tool_env):
    result = search_wikipedia(query="Mercury")
    assert "error" not in result
    assert result["ambiguous"] is True and result["title"] == "Mercury"
    assert result["options"] == ["Mercury (planet)", "Mercury (element)", "Mercury (mythology)", "Freddie Mercury"]
    assert "one of the options" in result["message"]


def test_a_search_hit_whose_page_is_gone_is_skipped_for_the_next(tool_env):
    result = search_wikipedia(query="Lovelace")  # ranks a deleted draft first
    assert result["title"] == "Ada Lovelace"


def test_no_match_is_an_error_value(tool_env):
    assert_error(search_wikipedia(query="qwxzv plorb"), 'No Wikipedia article matches "qwxzv plorb"')


def test_results_are_not_memoised_across_calls(tool_env):
    assert search_wikipedia(query="Oslo")["title"] == "Oslo"
    tool_env.fault(WIKI_PATH, "status", status=503, when={"list": "search"})
    assert_error(search_wikipedia(query="Oslo"), "HTTP 503")  # the package's own search() memo would skip it


# ------------------------------------------------------------------------------------------ argument checking

@pytest.mark.parametrize(("query", "phrase"), [
    ("", "query is empty"), ("  \n ", "query is empty"), ("x" * 301, "at most 300"), (None, "must be text")])
def test_absurd_queries_are_refused_before_any_request(tool_env, query, phrase):
    assert_error(search_wikipedia.run({"query": query}), phrase)
    assert tool_env.requests == []


# ---------------------------------------------------------------------------------------------------- failures

def test_the_api_url_is_read_from_the_environment_at_call_time(tool_env, monkeypatch):
    assert "error" not in search_wikipedia(query="Oslo")
    monkeypatch.setenv("WIKIPEDIA_API_URL", f"http://127.0.0.1:{free_port()}/w/api.php")
    started = time.monotonic()
    assert_error(search_wikipedia(query="Oslo"), "Could not connect to Wikipedia: connection refused")
    assert time.monotonic() - started < 1.5


def test_a_hung_server_cannot_hold_the_caller_past_the_time_limit_nor_leave_a_thread(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.5")
    tool_env.fault(WIKI_PATH, "delay", seconds=10)
    threads_before = threading.active_count()
    started = time.monotonic()
    assert_error(search_wikipedia(query="Oslo"), "did not answer within the 0.5 s time limit")
    assert time.monotonic() - started < 1.2
    tool_env.reset()  # wakes the server's delayed handler; the client side must not have started any thread
    for _ in range(100):
        if threading.active_count() <= threads_before:
            break
        time.sleep(0.01)
    assert threading.active_count() <= threads_before, [t.name for t in threading.enumerate()]


def test_the_time_limit_covers_all_requests_of_one_search(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.6")
    tool_env.fault(WIKI_PATH, "delay", seconds=0.25)  # three requests of 0.25 s: each fits, together they do not
    tool_env.fault(WIKI_PATH, "delay", seconds=0.25)
    tool_env.fault(WIKI_PATH, "delay", seconds=0.25)
    started = time.monotonic()
    assert_error(search_wikipedia(query="Oslo"), "time limit")
    assert time.monotonic() - started < 1.0


def test_a_trickling_answer_is_cut_at_the_time_limit(tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "0.5")
    tool_env.fault(WIKI_PATH, "trickle", seconds=0.05, when={"prop": "extracts"})
    started = time.monotonic()
    assert_error(search_wikipedia(query="Oslo"), "time limit")
    assert time.monotonic() - started < 1.0


def test_rate_limiting_is_reported_with_retry_after_and_not_waited_out(tool_env):
    tool_env.fault(WIKI_PATH, "status", status=429, retry_after=120)
    started = time.monotonic()
    result = search_wikipedia(query="Oslo")
    assert_error(result, "rate-limiting", "try again in 120 s")
    assert result["status"] == 429 and result["retry_after_s"] == 120
    assert time.monotonic() - started < 1.0 and tool_env.hits(WIKI_PATH) == 1


def test_one_server_error_is_retried(tool_env):
    tool_env.fault(WIKI_PATH, "status", status=500, times=1)
    assert search_wikipedia(query="Oslo")["title"] == "Oslo"


@pytest.mark.parametrize(("mode", "options", "phrase"), [
    ("status", {"status": 500}, "kept failing with a server error (HTTP 500)"),
    ("status", {"status": 404}, "rejected the request (HTTP 404)"),
    ("garbage", {}, "not valid JSON"),
    ("truncate", {}, "not valid JSON"),
    ("content_type", {}, "answered with text/html instead of JSON"),
    ("cut", {}, "closed the connection before the answer was complete"),
    ("close", {}, "closed the connection without answering"),
])
def test_broken_answers_become_clear_error_values(tool_env, mode, options, phrase):
    tool_env.fault(WIKI_PATH, mode, when={"prop": "extracts"}, **options)  # search and page info still work
    result = search_wikipedia(query="Eiffel Tower")
    assert_error(result, phrase)
    assert result["query"] == "Eiffel Tower"


def test_an_api_error_in_the_json_is_passed_on(tool_env):
    tool_env.fault(WIKI_PATH, "status", status=200, body={"error": {"code": "maxlag", "info": "Waiting for a db"}})
    assert_error(search_wikipedia(query="Oslo"), "refused the request: Waiting for a db")


def test_json_of_an_unexpected_shape_is_an_error_value_not_a_crash(tool_env):
    tool_env.fault(WIKI_PATH, "status", status=200, body={"query": {"pages": {}}}, when={"prop": "info|pageprops"})
    assert_error(search_wikipedia(query="Oslo"), "unexpected shape")


@pytest.mark.live
@pytest.mark.skipif(os.environ.get("RUN_LIVE") != "1", reason="needs the internet: set RUN_LIVE=1")
def test_live_wikipedia_answers_and_offers_options_for_an_ambiguous_word(monkeypatch):
    monkeypatch.delenv("WIKIPEDIA_API_URL", raising=False)
    result = search_wikipedia(query="Ada Lovelace")
    assert result["title"] == "Ada Lovelace" and result["url"].startswith("https://en.wikipedia.org/wiki/Ada")
    assert 100 < len(result["summary"]) <= 1500
    assert "error" not in search_wikipedia(query="Mercury")
