"""End to end with the real embedded model (SmolLM2-135M-Instruct via llama-cpp-python); short replies."""

import datetime as dt
import json

import pytest

from agent import Agent, AgentSettings
from agent.__main__ import main
from agent.backends.base import GenerationParams, Usage
from agent.events import FinalAnswer, Token
from agent.messages import Message

pytestmark = pytest.mark.model
GREEDY = GenerationParams(max_tokens=24, temperature=0.0, seed=0)


def test_the_embedded_model_streams_text_and_reports_usage(embedded_llm):
    chunks = list(embedded_llm.stream([Message("system", "Be brief."), Message("user", "Say hello.")], GREEDY))
    usage = chunks[-1]
    assert isinstance(usage, Usage) and all(isinstance(c, str) for c in chunks[:-1])
    assert "".join(chunks[:-1]).strip()
    assert usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 24
    assert usage.time_to_first_token_s <= usage.duration_s


def test_a_follow_up_prompt_only_evaluates_the_new_tokens(embedded_llm):
    first = [Message("system", "You are terse."), Message("user", "Name a colour.")]
    *chunks, usage1 = embedded_llm.stream(first, GREEDY)
    follow = first + [Message("assistant", "".join(chunks)), Message("user", "Another one?")]
    *_, usage2 = embedded_llm.stream(follow, GREEDY)
    assert usage2.cached_tokens >= usage1.prompt_tokens
    assert usage2.evaluated_tokens < usage2.prompt_tokens / 2


def test_a_question_needing_no_tool_is_answered_in_one_llm_call(embedded_llm):
    from tools import get_tools

    agent = Agent(embedded_llm, get_tools(), mode="weather", today=dt.date(2026, 11, 21),
                  settings=AgentSettings(generation=GREEDY))
    events = list(agent.run("What is the capital of France?"))
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.stats.llm_calls == 1
    assert final.text and "".join(e.text for e in events if isinstance(e, Token)).strip() == final.text


def test_the_command_line_prints_json_events_with_the_answer(capsys):
    pytest.importorskip("llama_cpp")
    code = main(["What is the capital of France?", "--mode", "chat", "--json", "--max-tokens", "16",
                 "--temperature", "0"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    final = events[-1]
    assert final["type"] == "final_answer" and final["stats"]["llm_calls"] == 1 and final["text"]
    assert any(e["type"] == "token" for e in events)
    assert any(e["type"] == "llm_call_finished" and e["usage"]["prompt_tokens"] > 0 for e in events)
