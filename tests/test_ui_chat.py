"""The chat UI's handlers, driven with scripted models: streaming, tool steps as they happen, stats, model switching,
trimmed history, the compare view and the API answer. The tools are the real ones, against the local tool server."""

import threading
import time

import pytest

from agent.backends.base import Usage
from agent.messages import Message
from tests.fakes import ScriptedLLM
from tests.test_ui_model_manager import FakeSource
from tests.tool_server import tool_env, tool_server  # noqa: F401  (fixtures)
from ui import chat
from ui.model_manager import ModelManager, ModelOption


class ScriptSource(FakeSource):
    """Models named by the test, each a ScriptedLLM with its own replies."""

    def __init__(self, scripts: dict[str, list]):
        super().__init__(names=list(scripts))
        self.scripts = scripts
        self.models: dict[str, ScriptedLLM] = {}

    def options(self):
        return [ModelOption(n, f"Model {n}") for n in self.names] + [ModelOption("broken", "Broken")]

    def load(self, name):
        super().load(name)
        self.models[name] = ScriptedLLM(self.scripts[name], name=name, chunk_chars=2)
        return self.models[name]


def snapshots(turn):
    """Every state the chat went through, as copies (the handler reuses one conversation object)."""
    return [[dict(m) for m in conv.display] for conv in turn]


def titles(display):
    return [m.get("metadata", {}).get("title", "") for m in display]


SETTINGS = chat.agent_settings(temperature=0.0, max_new_tokens=128, max_llm_calls=2)


@pytest.fixture
def tools(tool_env):  # noqa: F811 (the fixture imported above)
    from tools import get_tools

    return get_tools()


def answer_from_tool(messages):
    assert messages[-1].role == "ipython", "the second call must see the tool result"
    return "It is " + ("cold" if '"temperature' in messages[-1].content else "unknown") + " in Oslo right now."


def test_a_tool_turn_shows_the_call_pending_then_done_then_streams_the_answer_and_its_stats(tools):
    manager = ModelManager(ScriptSource({"m": ['[get_current_weather(location="Oslo")]', answer_from_tool]}))
    manager.get("m")
    conv = chat.Conversation(model="m")
    states = snapshots(chat.run_turn(manager, tools, conv, "What's the weather in Oslo?", "weather", SETTINGS))

    assert states[0] == [{"role": "user", "content": "What's the weather in Oslo?"}]
    tool_states = [s[1]["metadata"] for s in states if len(s) > 1 and "metadata" in s[1]]
    assert tool_states[0]["status"] == "pending" and tool_states[-1]["status"] == "done"
    assert tool_states[0]["title"] == '🔧 `get_current_weather(location="Oslo")`'
    assert tool_states[-1]["duration"] >= 0 and "log" not in tool_states[-1]
    final = states[-1]
    assert "Oslo" in final[1]["content"] and final[1]["content"].startswith("```json")
    assert final[2] == {"role": "assistant", "content": "It is cold in Oslo right now."}
    answers = [s[2]["content"] for s in states if len(s) > 2 and "metadata" not in s[2]]
    assert len(answers) > 3 and answers[0] != answers[-1], "the answer must stream in several pieces"
    assert titles(final)[3].startswith("📊 2 LLM calls · 1 tool call · prompt ")
    assert conv.last_answer == "It is cold in Oslo right now."
    assert [m.role for m in conv.history] == ["user", "assistant", "ipython", "assistant"]


def test_the_next_turn_sends_the_history_and_the_stats_show_the_reused_prefix(tools):
    manager = ModelManager(ScriptSource({"m": ["Hi there!", "Sure, Oslo is in Norway."]}))
    conv = chat.Conversation(model="m")
    list(chat.run_turn(manager, tools, conv, "Hello", "all", SETTINGS))
    list(chat.run_turn(manager, tools, conv, "Where is Oslo?", "all", SETTINGS))
    prompt = manager.get("m").prompts[-1]
    assert [m.content for m in prompt[1:]] == ["Hello", "Hi there!", "Where is Oslo?"]
    assert conv.last_stats.cached_tokens > 0 and conv.last_stats.evaluated_tokens < conv.last_stats.prompt_tokens


def test_the_first_turn_on_a_model_not_loaded_yet_shows_the_load_as_it_happens():
    manager = ModelManager(ScriptSource({"m": ["Hello!"]}))
    conv = chat.Conversation(model="m")
    states = snapshots(chat.run_turn(manager, [], conv, "Hi", "chat", SETTINGS))
    assert states[1][1]["metadata"] == {"title": "⏳ Loading Model m…", "status": "pending"}
    assert states[-1][1]["metadata"]["title"] == "✅ Model m loaded" and states[-1][2]["content"] == "Hello!"


def test_a_failed_model_switch_says_why_and_keeps_the_previous_model_working():
    manager = ModelManager(ScriptSource({"m": ["Still here."]}))
    conv = chat.Conversation(model="m")
    manager.get("m")
    statuses = [status for _, status in chat.switch_model(manager, conv, "broken")]
    assert statuses[0] == "⏳ Loading **Broken**…"
    assert statuses[-1].startswith("❌ Could not load **Broken**: broken.gguf: file not found")
    assert statuses[-1].endswith("Still using **Model m**.")
    assert conv.model == "m"
    list(chat.run_turn(manager, [], conv, "Are you there?", "chat", SETTINGS))
    assert conv.last_answer == "Still here."


def test_a_successful_switch_changes_the_model_and_switching_back_is_instant():
    source = ScriptSource({"a": ["from a"], "b": ["from b"]})
    manager = ModelManager(source, max_loaded=2)
    conv = chat.Conversation(model="a")
    manager.get("a")
    statuses = [s for _, s in chat.switch_model(manager, conv, "b")]
    assert statuses[-1].startswith("✅ **Model b** loaded in") and conv.model == "b"
    assert [s for _, s in chat.switch_model(manager, conv, "a")] == ["✅ **Model a** is ready."]
    assert source.loads == ["a", "b"] and conv.model == "a"


def test_a_model_that_fails_to_load_mid_turn_shows_an_error_instead_of_a_traceback():
    manager = ModelManager(ScriptSource({"m": []}))
    conv = chat.Conversation(model="broken")
    final = snapshots(chat.run_turn(manager, [], conv, "Hi", "chat", SETTINGS))[-1]
    assert final[-1]["content"].startswith("⚠️ Could not load Broken: broken.gguf: file not found")
    assert conv.history == [] and conv.last_error.startswith("Could not load Broken")


def test_a_long_conversation_is_trimmed_oldest_first_and_the_chat_says_so():
    manager = ModelManager(ScriptSource({"m": ["Short answer."]}))
    llm = manager.get("m")
    llm._context_length = 400
    conv = chat.Conversation(model="m")
    for i in range(20):
        conv.history += [Message("user", f"old question {i} " * 5), Message("assistant", f"old answer {i} " * 5)]
    final = snapshots(chat.run_turn(manager, [], conv, "New question", "chat",
                                    chat.agent_settings(max_new_tokens=64)))[-1]
    notices = [m["content"] for m in final if m["content"].startswith("ℹ️")]
    assert len(notices) == 1 and "oldest" in notices[0]
    sent = llm.prompts[-1]
    assert sent[0].role == "system" and sent[-1].content == "New question"
    assert "old question 0" not in " ".join(m.content for m in sent) and "old question 19" in sent[-3].content


def test_model_text_with_html_is_shown_escaped():
    manager = ModelManager(ScriptSource({"m": ['<img src=x onerror="alert(1)"> hi']}))
    conv = chat.Conversation(model="m")
    final = snapshots(chat.run_turn(manager, [], conv, "<b>hello</b>", "chat", SETTINGS))[-1]
    assert final[0]["content"] == "&lt;b&gt;hello&lt;/b&gt;"
    assert final[-2]["content"] == '&lt;img src=x onerror="alert(1)"&gt; hi'


def test_compare_runs_the_same_prompt_on_both_models_each_with_its_tool_calls_and_stats(tools):
    manager = ModelManager(ScriptSource({
        "base": ["I cannot check the weather."],
        "tuned": ['[get_current_weather(location="Oslo")]', answer_from_tool],
    }))
    states = list(chat.compare_turn(manager, tools, "Weather in Oslo?", "weather", "base", "tuned", SETTINGS))
    left, right = states[-1]
    assert left[0]["content"] == right[0]["content"] == "Weather in Oslo?"
    assert any(m["content"] == "I cannot check the weather." for m in left)
    assert titles(left)[-1].startswith("📊 1 LLM call · prompt")
    assert '🔧 `get_current_weather(location="Oslo")`' in titles(right)
    assert any(m["content"] == "It is cold in Oslo right now." for m in right)
    assert titles(right)[-1].startswith("📊 2 LLM calls · 1 tool call")
    assert manager.get("base").prompts[0][-1].content == manager.get("tuned").prompts[0][-1].content


def test_the_api_answer_is_the_final_text_and_errors_come_back_as_text():
    manager = ModelManager(ScriptSource({"m": ["Forty-two."]}))
    assert chat.answer_once(manager, [], "What is six times seven?", "chat", "m") == "Forty-two."
    assert chat.answer_once(manager, [], "Hi", "bogus", "m").startswith("Unknown mode 'bogus'")
    assert chat.answer_once(manager, [], "   ", "chat", "m") == "Please type a question."
    assert chat.answer_once(manager, [], "Hi", "chat", "broken").startswith("Could not load Broken")


def test_new_chat_keeps_the_model_and_forgets_the_rest():
    conv = chat.Conversation(model="m", display=[{"role": "user", "content": "x"}], history=[Message("user", "x")])
    fresh = conv.cleared()
    assert fresh.model == "m" and fresh.display == [] and fresh.history == []


def test_every_mode_has_example_prompts_and_settings_are_clamped():
    examples = chat.mode_examples()
    assert set(examples) == {"weather", "wiki", "chat", "all"} and all(len(v) >= 3 for v in examples.values())
    settings = chat.agent_settings(temperature=-1, max_new_tokens=0, max_llm_calls=0, icl=True)
    assert settings.generation.temperature == 0.0 and settings.generation.max_tokens == 16
    assert settings.max_llm_calls == 1 and settings.icl is True


class OneCallAtATimeLLM(ScriptedLLM):
    """Like LlamaCppLLM: holds its lock while it generates, and records how many generations ever overlapped."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active, self.most_active = 0, 0

    def stream(self, messages, params):
        with self.lock:
            self.prompts.append(list(messages))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            reply = f"answer to {messages[-1].content}"
            for i in range(0, len(reply), 4):
                time.sleep(0.005)
                yield reply[i:i + 4]
            self.active -= 1
        yield Usage(prompt_tokens=10, completion_tokens=3)


def test_two_sessions_on_one_model_share_it_one_llm_call_at_a_time_and_each_gets_its_own_answer():
    class SharedSource(FakeSource):
        def load(self, name):
            super().load(name)
            return OneCallAtATimeLLM(name=name)

    manager = ModelManager(SharedSource(names=["m"]))
    conversations = [chat.Conversation(model="m") for _ in range(2)]
    threads = [threading.Thread(target=lambda c=c, i=i: list(chat.run_turn(manager, [], c, f"q{i}", "chat", SETTINGS)))
               for i, c in enumerate(conversations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    llm = manager.get("m")
    assert len(llm.prompts) == 2, "both sessions used the one loaded model"
    assert llm.most_active == 1, "their LLM calls never overlapped"
    assert [c.last_answer for c in conversations] == ["answer to q0", "answer to q1"]
