"""Reliability at the limits: the model lock is never held while a tool runs and is released when a turn stops, and a
tool result, a history or a user message too long for the context is shortened with a notice instead of an error.

Run: python -m pytest tests/test_reliability_limits.py -q
"""

from __future__ import annotations

import datetime as dt
import threading

from agent.backends.base import BackendError, GenerationParams, Usage
from agent.events import AgentError, Notice, Token
from agent.loop import Agent, AgentSettings
from agent.messages import Message
from fakes.models import ScriptedLLM
from tests.test_reliability_model_output import RUNS, TOOLS, make_agent, of, run
from tools.base import tool

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
    events = list(agent.run("probe a and b"))  # the labels were said: the agent runs the calls, it does not ask
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
