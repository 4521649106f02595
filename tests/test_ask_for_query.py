"""Asking instead of guessing a search query (agent/endings.py `must_be_said`): a Wikipedia call whose query has no word
the user (or a tool result) said is not run; the agent asks what to look up.

The first fine-tuned adapter answered "Find me an article." with `search_wikipedia(query="Ada Lovelace")`, a topic
nobody named. Read three ways: the rule itself, the agent with a scripted model against the local fake Wikipedia,
and the real fine-tuned adapter made to call (marked `model`).
"""

from __future__ import annotations

import datetime as dt

import pytest

from agent import Agent, AgentSettings
from agent.backends.base import GenerationParams
from agent.endings import USER_SUPPLIED, missing_value, must_be_said, question_for
from agent.events import FinalAnswer, ToolCallFinished
from agent.format import ToolCall
from agent.messages import Message
from agent.prompts import MODES
from evaluation import decisions as dec
from evaluation.cases import EvalCase
from fakes.models import Choice, DecidingLLM
from tools import get_tools

TODAY = dt.date(2026, 11, 21)
WIKI = {t.spec["name"]: t.spec for t in get_tools(MODES["wiki"].tool_names)}
GUESS = '[search_wikipedia(query="Ada Lovelace")]'


def said(*texts: str) -> list[Message]:
    return [Message("user", text) for text in texts]


def test_a_query_nobody_said_is_missing_and_one_the_user_said_is_not():
    call = ToolCall("search_wikipedia", {"query": "Ada Lovelace"})
    assert must_be_said(WIKI["search_wikipedia"]) == ["query"]
    assert "query" not in USER_SUPPLIED  # asked for, but not copied by the grammar
    assert missing_value([call], WIKI, said("Find me an article.")) == "query"
    assert missing_value([call], WIKI, said("I need some facts for my essay.")) == "query"
    assert missing_value([call], WIKI, said("Tell me about ada lovelace")) is None
    assert missing_value([call], WIKI, said("who was Ada Lovlace?")) is None  # the user's spelling of it
    # A follow-up: the name came back in an earlier tool result.
    earlier = [*said("Who wrote the first program?"), Message("assistant", GUESS),
               Message("ipython", '{"title": "Ada Lovelace", "extract": "..."}'), *said("And when was she born?")]
    assert missing_value([call], WIKI, earlier) is None


def wiki_agent(llm) -> Agent:
    return Agent(llm, get_tools(), mode="wiki", today=TODAY, settings=AgentSettings())


def run(agent: Agent, question: str):
    events = list(agent.run(question))
    assert isinstance(events[-1], FinalAnswer)
    return events[-1], [e for e in events if isinstance(e, ToolCallFinished)]


def test_the_agent_asks_what_to_look_up_instead_of_running_a_guessed_query(tool_env):
    llm = DecidingLLM([Choice(call=GUESS, p=0.9)])
    final, runs = run(wiki_agent(llm), "Find me an article.")
    assert runs == [] and final.text == question_for("query") and final.ending == "asked"
    assert len(llm.params) == 1  # asking costs no second LLM call


def test_the_agent_runs_a_query_the_user_named(tool_env):
    llm = DecidingLLM([Choice(call=GUESS, p=0.9),
                       Choice(prose="Ada Lovelace was an English mathematician and writer.", p=0.0)])
    final, runs = run(wiki_agent(llm), "Tell me about Ada Lovelace.")
    assert [e.call.arguments for e in runs] == [{"query": "Ada Lovelace"}] and runs[0].ok
    assert final.ending != "asked"


def test_the_evaluation_counts_a_guessed_query_as_asked():
    def case(question: str) -> EvalCase:
        return EvalCase("c1", "gen:x", "generated", [Message("system", "Tools."), *said(question)], list(WIKI.values()))

    assert dec.asked(case("Find me an article."), GUESS)
    assert not dec.asked(case("Who was Ada Lovelace?"), GUESS)


@pytest.mark.model
@pytest.mark.parametrize("question", ["Find me an article.", "I need some facts for my essay."])
def test_the_real_model_made_to_call_without_a_topic_is_asked_for_one(tuned_llm, tool_env, question):
    # At eagerness 1 the model must call; whatever it searches for, the user named no topic, so nothing runs.
    agent = Agent(tuned_llm, get_tools(), mode="wiki", today=TODAY, settings=AgentSettings(
        tool_eagerness=1.0, generation=GenerationParams(max_tokens=96, temperature=0.0, seed=0)))
    final, runs = run(agent, question)
    assert runs == [] and final.text == question_for("query") and final.ending == "asked", final.text
