"""Grounded numbers (agent/numbers.py): an answer to tool results writes only numbers the user or the tools gave.

The guard's rules on a toy vocabulary of single characters; the decoder with the real embedded model (a reply whose
numbers are limited, streamed whole after a clause is taken back); and whole Wikipedia turns of the shipped adapter
against the local fake Wikipedia, where it used to add dates the article does not give (marked `model`).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from agent import Agent, AgentSettings
from agent.backends.base import GenerationParams, Usage
from agent.events import FinalAnswer, LLMCallFinished, ToolCallFinished
from agent.messages import Message
from agent.numbers import NumberGuard, NumberTokens, given_numbers, minus_first, spellings, unsigned_next
from agent.prompts import MODES
from tools import get_tools

PIECES = [*(d.encode() for d in "0123456789"), b".", b",", b" ", b"a", b" (", b")", b"\xe2\x80\x93", b":"]
ID = {piece.decode(): i for i, piece in enumerate(PIECES)}
TOKENS = NumberTokens.of(PIECES)


def allowed_after(guard: NumberGuard, reply: str) -> set[str]:
    logits = np.zeros(len(PIECES), dtype=np.float32)
    guard.apply(reply.encode(), logits)
    allowed = {PIECES[i].decode() for i in np.flatnonzero(np.isfinite(logits))}
    assert allowed == {p.decode() for i, p in enumerate(PIECES) if guard.allows(reply.encode(), i)}
    return allowed


def numbers_of(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


# ---------------------------------------------------------------------------------------------- the rules

def test_numbers_are_collected_from_the_user_and_the_tools_in_every_spelling_a_reply_may_use():
    assert spellings("1,500") == {"1500"} and spellings("01") == {"01", "1"} and spellings("3.50") == {"3.50", "3.5"}
    assert spellings("4.0") == {"4.0", "4"}
    conversation = [Message("system", "Today is 30 November 2026."), Message("user", "Weather in Oslo for 3 days?"),
                    Message("assistant", "It was 99 degrees."), Message("ipython", '{"temperature": -3.2, '
                                                                         '"time": "2026-12-01T13:00"}')]
    assert set(given_numbers(conversation)) == {"3", "3.2", "2026", "12", "01", "1", "13", "00", "0"}


def test_a_digit_may_only_write_towards_a_given_number_and_a_number_may_only_end_where_it_is_one():
    guard = NumberGuard(["1815", "3.5", "1500"], TOKENS)
    assert allowed_after(guard, "Born ") == set(p.decode() for p in PIECES) - {"0", "2", "4", "5", "6", "7", "8", "9"}
    assert allowed_after(guard, "Born 1") == {"8", "5", ","}  # 18.. or 15..; "1," as in "1,500"
    assert allowed_after(guard, "Born 18") == {"1", ","}  # half a number: it must go on
    assert allowed_after(guard, "Born 1815") >= {".", ",", " ", "a", ")", ":"}
    assert not {"0", "1", "5"} & allowed_after(guard, "Born 1815")
    assert allowed_after(guard, "x 3") == {"."} and allowed_after(guard, "x 3.") == {"5"}
    assert allowed_after(guard, "x 1,") == {"5", "8"}  # commas are ignored: "1,500" (and "1,815")
    assert "." in allowed_after(guard, "x 3.5") and "a" in allowed_after(guard, "in 1815.")


def test_with_nothing_given_no_digit_may_be_written_and_words_are_free():
    guard = NumberGuard([], TOKENS)
    assert allowed_after(guard, "Freddie Mercury (") == {".", ",", " ", "a", " (", ")", "\u2013", ":"}


def test_clauses_begin_at_parentheses_commas_colons_and_full_stops_but_not_inside_numbers():
    guard = NumberGuard(["1500"], TOKENS)
    assert guard.opens_clause(b"Mercury", b" (") and guard.opens_clause(b"Mercury", b",")
    assert guard.opens_clause(b"Queen", b".") and guard.opens_clause(b"says", b":")
    assert not guard.opens_clause(b"x 1", b",") and not guard.opens_clause(b"x 3", b".")
    assert not guard.opens_clause(b"Queen", b" a")
    assert list(guard.parens) == [ID[" ("]]


def test_digits_that_only_begin_a_negative_result_are_the_minus_first_ones():
    oslo = Message("ipython", '{"time": "2025-01-15T13:00", "temperature": -3.2, "apparent_temperature": -7.9, '
                              '"relative_humidity": 86, "wind_speed": 12.6}')
    assert minus_first([Message("user", "Weather in Oslo?"), oslo]) == ("3", "7")  # "-01" of the date is no number
    assert minus_first([Message("user", "Oslo, 3 days?"), oslo]) == ("7",)  # the user's 3 may be written as it is
    assert minus_first([Message("user", "It is -5 here"), Message("ipython", '{"temperature": 4}')]) == ()
    for reply, unsigned in [("It's ", True), ("It's -", False), ("It's −", False), ("It's 1", False),
                            ("from 1.", False), ("It's 12, ", True), ("", True)]:
        assert unsigned_next(reply.encode()) == unsigned, reply


# ---------------------------------------------------------------------------------- the decoder, real model

@pytest.mark.model
def test_the_real_model_counts_only_with_the_numbers_it_may_write(embedded_llm):
    messages = [Message("user", "Count from 1 to 10, one number per line.")]
    params = GenerationParams(max_tokens=48, temperature=0.0, seed=0)
    free = "".join(x for x in embedded_llm.stream(messages, params) if isinstance(x, str))
    assert {"4", "5", "6"} <= numbers_of(free), free  # the control: unguarded, it counts on
    chunks = [x for x in embedded_llm.stream(messages, GenerationParams(
        max_tokens=48, temperature=0.0, seed=0, allowed_numbers=("1", "2", "3"))) if isinstance(x, str)]
    assert numbers_of("".join(chunks)) <= {"1", "2", "3"}, chunks


@pytest.mark.model
def test_the_real_model_writes_a_number_it_begins_with_a_minus_first_digit_with_its_minus(embedded_llm):
    messages = [Message("user", "Repeat exactly: The temperature is 3.2 degrees.")]
    params = GenerationParams(max_tokens=24, temperature=0.0, seed=0)
    free = "".join(x for x in embedded_llm.stream(messages, params) if isinstance(x, str))
    assert "3.2" in free and "-3.2" not in free, free  # the control
    signed = "".join(x for x in embedded_llm.stream(messages, GenerationParams(
        max_tokens=24, temperature=0.0, seed=0, minus_first=("3",))) if isinstance(x, str))
    assert "-3.2" in signed and re.sub(r"-3", "", signed).count("3") == 0, signed


# ------------------------------------------------------------------------ whole turns, the shipped adapter

def wiki_turn(llm, text: str, ground: bool) -> tuple[str, list, list]:
    settings = AgentSettings(ground_numbers=ground, generation=GenerationParams(max_tokens=96, temperature=0.0, seed=0))
    agent = Agent(llm, get_tools(MODES["wiki"].tool_names), mode="wiki", settings=settings)
    events = list(agent.run(text))
    final = events[-1]
    assert isinstance(final, FinalAnswer)
    runs = [e for e in events if isinstance(e, ToolCallFinished)]
    usages = [e.usage for e in events if isinstance(e, LLMCallFinished)]
    assert all(isinstance(u, Usage) for u in usages)
    return final.text, runs, [e.text for e in events if isinstance(e, LLMCallFinished)]


@pytest.mark.model
@pytest.mark.parametrize("question", ["Give me a quick summary of the Freddie Mercury.",
                                      "quick one: give me a quick summary of Freddie Mercury."])
def test_the_shipped_adapter_states_the_article_without_the_dates_it_used_to_add(tuned_llm, tool_env, question):
    free, runs, _ = wiki_turn(tuned_llm, question, ground=False)
    assert runs and runs[0].ok and runs[0].result["title"] == "Freddie Mercury", runs
    summary = runs[0].result["summary"]
    assert not numbers_of(summary)  # the fake article gives no dates
    assert numbers_of(free), free  # the control: without the guard it writes years ("Freddie Mercury (1971–1990)")
    answer, runs, replies = wiki_turn(tuned_llm, question, ground=True)
    assert runs and runs[0].ok
    assert not numbers_of(answer), answer
    assert "Queen" in answer or "singer" in answer, answer  # still an answer from the article
    assert replies[-1] in answer  # what streamed is the model's whole reply: nothing taken back was shown


# --------------------------------------------------------------------------------- the agent's wiring

@pytest.mark.parametrize(("mode", "call", "question", "guarded"), [
    ("wiki", '[search_wikipedia(query="Ada Lovelace")]', "Who was Ada Lovelace, born in 1815?", True),
    ("weather", '[get_current_weather(location="Oslo")]', "What's the weather in Oslo?", False),
])
def test_only_an_answer_that_retells_an_article_gets_the_numbers_it_may_write(tool_env, mode, call, question,
                                                                              guarded):
    from fakes.models import DecidingLLM

    llm = DecidingLLM([call, "It said so."])
    agent = Agent(llm, get_tools(MODES[mode].tool_names), mode=mode)
    events = list(agent.run(question))
    runs = [e for e in events if isinstance(e, ToolCallFinished)]
    assert runs and runs[0].ok, runs
    first, answer = llm.params
    assert first.allowed_numbers is None  # the call decision is never constrained
    if not guarded:  # weather data: any number it may write, but Oslo's -3.2 and -7.9 with their minus sign
        assert answer.allowed_numbers is None and answer.minus_first == ("3", "7") and first.minus_first == ()
        return
    summary_numbers = numbers_of(runs[0].result["summary"])
    assert set(answer.allowed_numbers) >= {"1815"} | summary_numbers  # the user's year and the article's
    off = Agent(DecidingLLM([call, "It said so."]), get_tools(MODES[mode].tool_names), mode=mode,
                settings=AgentSettings(ground_numbers=False))
    list(off.run(question))
    assert off.llm.params[1].allowed_numbers is None
