"""The chat UI's handlers, driven with scripted models: streaming, tool steps as they happen, stats, model switching,
trimmed history, the compare view and the API answer. The tools are the real ones, against the local tool server."""

import threading
import time

import pytest

from agent.backends.base import Usage
from agent.messages import Message
from fakes.models import ScriptedLLM
from tests.test_ui_model_manager import FakeSource
from ui import chat
from ui.compare import compare_turn
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
    return "It is " + ("-3.2 °C" if '"temperature' in messages[-1].content else "unknown") + " in Oslo right now."


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
    assert final[2] == {"role": "assistant", "content": "It is -3.2 °C in Oslo right now."}
    answers = [s[2]["content"] for s in states if len(s) > 2 and "metadata" not in s[2]]
    assert len(answers) > 3 and answers[0] != answers[-1], "the answer must stream in several pieces"
    assert titles(final)[3].startswith("📊 Model m · 2 LLM calls · 1 tool call · prompt ")
    assert conv.last_answer == "It is -3.2 °C in Oslo right now."
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
    view = list(compare_turn(manager, tools, "Weather in Oslo?", "weather", "base", "tuned", SETTINGS))[-1]
    left, right = view.left, view.right
    assert view.done and left[0]["content"] == right[0]["content"] == "Weather in Oslo?"
    assert any(m["content"] == "I cannot check the weather." for m in left)
    assert titles(left)[-1].startswith("📊 Model base · 1 LLM call · prompt")
    assert '🔧 `get_current_weather(location="Oslo")`' in titles(right)
    assert any(m["content"] == "It is -3.2 °C in Oslo right now." for m in right)
    assert titles(right)[-1].startswith("📊 Model tuned · 2 LLM calls · 1 tool call")
    assert manager.get("base").prompts[0][-1].content == manager.get("tuned").prompts[0][-1].content
    assert view.left_verdict.startswith("**Model base** · 💬 no tool call · 🚫 answered without live data · ")
    assert view.right_verdict.startswith("**Model tuned** · 🔧 called get_current_weather · ✅ answered · ")


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


# ---------------------------------------------------------------------------------- issue 14: as a person uses it

class ProbabilityLLM(ScriptedLLM):
    """A scripted model that reports P(call) on each turn's first call, as the llama.cpp backend does."""

    def __init__(self, *args, probability: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.probability = probability

    def stream(self, messages, params):
        for chunk in super().stream(messages, params):
            if isinstance(chunk, Usage) and messages[-1].role == "user":
                chunk.call_probability = self.probability
            yield chunk


def test_messages_queued_during_an_answer_are_shown_at_once_and_answered_in_order():
    manager = ModelManager(ScriptSource({"m": ["first answer", "second answer", "third answer"]}))
    conv = chat.Conversation(model="m")
    assert not chat.queue_message(conv, "   "), "blank input is ignored"
    chat.queue_message(conv, "one")
    assert conv.view() == [{"role": "user", "content": "one"}], "nothing running: shown as sent, not as queued"
    loop = chat.answer_inbox(manager, [], conv, "chat", SETTINGS)
    next(loop)
    chat.queue_message(conv, "two")
    chat.queue_message(conv, "three")
    note = "\n\n_⏳ queued: answered after the current reply_"
    assert [m["content"] for m in conv.view()[-2:]] == ["two" + note, "three" + note]
    assert conv.busy_line().endswith("· 2 messages queued")
    assert list(chat.answer_inbox(manager, [], conv, "chat", SETTINGS)) == [], "one loop per conversation"
    list(loop)
    shown = [m["content"] for m in conv.display if "metadata" not in m]
    assert shown == ["one", "first answer", "two", "second answer", "three", "third answer"]
    assert conv.inbox == [] and not conv.answering and conv.busy_line() == ""


def test_new_chat_mid_answer_stops_the_turn_and_nothing_of_it_comes_back():
    manager = ModelManager(ScriptSource({"m": ["a long answer that is still streaming", "fresh"]}))
    conv = chat.Conversation(model="m")
    chat.queue_message(conv, "old question")
    loop = chat.answer_inbox(manager, [], conv, "chat", SETTINGS)
    while not any(m["content"].startswith("a lo") for m in conv.display):
        next(loop)
    conv.reset()
    assert list(loop) == [], "the stopped turn yields nothing more"
    assert conv.display == [] and conv.history == [] and conv.busy_line() == ""
    chat.queue_message(conv, "new question")
    list(chat.answer_inbox(manager, [], conv, "chat", SETTINGS))
    assert [m["content"] for m in conv.display if "metadata" not in m] == ["new question", "fresh"]
    assert [m.content for m in conv.history] == ["new question", "fresh"]


def test_stop_ends_the_answer_settles_spinners_and_gives_queued_messages_back():
    manager = ModelManager(ScriptSource({"m": ['[get_current_weather(location="Oslo")]', "never shown"]}))
    conv = chat.Conversation(model="m")
    chat.queue_message(conv, "Weather in Oslo?")
    loop = chat.answer_inbox(manager, [], conv, "weather", SETTINGS)
    while not any(m.get("metadata", {}).get("status") == "pending" and "🔧" in m["metadata"]["title"]
                  for m in conv.display):
        next(loop)
    chat.queue_message(conv, "and Paris?")
    assert conv.stop() == "and Paris?"
    assert list(loop) == []
    assert all(m.get("metadata", {}).get("status") != "pending" for m in conv.display)
    assert conv.display[-1]["content"] == "⏹️ _Stopped._" and conv.inbox == [] and not conv.answering


def test_the_busy_line_follows_the_turn_thinking_calling_writing_then_empty(tools):
    manager = ModelManager(ScriptSource({"m": ['[get_current_weather(location="Oslo")]', answer_from_tool]}))
    manager.get("m")
    conv = chat.Conversation(model="m")
    lines = [c.busy_line() for c in chat.run_turn(manager, tools, conv, "Weather in Oslo?", "weather", SETTINGS)]
    assert lines[0].startswith("💭 Model m is thinking…")
    assert any(line.startswith("🔧 Model m is calling get_current_weather…") for line in lines)
    assert any(line.startswith("✍️ Model m is writing…") for line in lines)
    assert conv.busy_line() == ""


def test_a_switch_mid_conversation_is_marked_and_the_new_model_starts_fresh():
    manager = ModelManager(ScriptSource({"a": ["from a"], "b": ["from b"]}))
    conv = chat.Conversation(model="a")
    list(chat.run_turn(manager, [], conv, "Hi", "chat", SETTINGS))
    list(chat.switch_model(manager, conv, "b"))
    assert conv.display[-1]["content"].startswith("🔀 **Switched to Model b.** It starts a fresh context")
    list(chat.run_turn(manager, [], conv, "Who are you?", "chat", SETTINGS))
    assert [m.content for m in manager.get("b").prompts[-1][1:]] == ["Who are you?"], "a's text is not sent to b"
    assert titles(conv.display)[-1].startswith("📊 Model b · ")


def test_the_base_model_says_it_rarely_calls_tools_when_its_fine_tune_is_offered():
    manager = ModelManager(ScriptSource({"small": ["x"], "small-funccall": ["y"]}))
    conv = chat.Conversation(model="small-funccall")
    status = [s for _, s in chat.switch_model(manager, conv, "small")][-1]
    assert "This is the base model: it rarely calls tools" in status and "Model small-funccall" in status
    assert "base model" not in [s for _, s in chat.switch_model(manager, conv, "small-funccall")][-1]


def test_stats_show_the_call_probability_tool_counts_and_a_first_token_time_on_every_turn(tools):
    calls = '[get_current_weather(location="Oslo"), get_current_weather(location="Atlantis"), get_current_weather()]'

    class Source(ScriptSource):
        def load(self, name):
            self.loads.append(name)
            return ProbabilityLLM([calls, "Sorry."], name=name, probability=0.973)

    manager = ModelManager(Source({"m": []}))
    conv = chat.Conversation(model="m")
    list(chat.run_turn(manager, tools, conv, "Weather in Oslo and Atlantis?", "weather", SETTINGS))
    line = titles(conv.display)[-1]
    assert " · 3 tool calls (1 failed, 1 refused) · calls a tool: 97% · " in line
    assert "first token –" not in line and conv.last_outcome.first_visible_s is not None
    failed = [t for t in titles(conv.display) if "❌" in t]
    assert len(failed) == 2 and "**failed**: _No place called" in failed[0] and "**not run**" in failed[1]


def test_an_answer_without_live_data_or_cut_at_the_limit_says_so():
    from agent.events import FinalAnswer, TurnStats

    conv = chat.Conversation(model="m")
    outcome = chat.TurnOutcome(model="m", label="M")
    final = FinalAnswer("It is sunny.", TurnStats(llm_calls=1), [], without_live_data=True, truncated=True)
    chat._finish(conv, conv.display, conv.history, outcome, final, True, SETTINGS)
    contents = [m["content"] for m in conv.display]
    assert contents[0] == "It is sunny." and contents[1].startswith("🚫 **No live data**")
    assert contents[2].startswith("✂️ **Cut off** at the limit of 128 new tokens")


def test_compare_streams_both_sides_before_either_finishes_and_gives_verdicts_and_probabilities(tools):
    class Source(ScriptSource):
        def load(self, name):
            self.loads.append(name)
            replies = ["I think it is sunny in Oslo today, probably."] if name == "base" else \
                ['[get_current_weather(location="Oslo")]', answer_from_tool]
            return ProbabilityLLM(replies, name=name, chunk_chars=3, probability=0.02 if name == "base" else 0.97)

    manager = ModelManager(Source({"base": [], "tuned": []}))
    views = list(compare_turn(manager, tools, "Weather in Oslo?", "weather", "base", "tuned", SETTINGS))

    def has_text(display):
        return any(m["role"] == "assistant" and "metadata" not in m and m["content"] for m in display)

    def finished(display):
        return any(t.startswith("📊") for t in titles(display))

    assert any(has_text(v.left) and has_text(v.right) and not finished(v.left) and not finished(v.right)
               for v in views), "both panes show text before either finishes"
    final = views[-1]
    assert final.summary.endswith("base **2%** · Model tuned **97%**")
    assert "calls a tool: 97%" in final.right_verdict and "🔧 called get_current_weather" in final.right_verdict


def test_compare_with_the_same_model_on_both_sides_says_the_right_waits_its_turn():
    manager = ModelManager(ScriptSource({"m": ["left answer", "right answer"]}))
    views = list(compare_turn(manager, [], "Hi", "chat", "m", "m", SETTINGS))
    assert "waits its turn" in views[1].right_verdict
    assert views[-1].left_verdict.startswith("**Model m** · 💬 no tool call · ✅ answered · ")
    assert any(m["content"] == "right answer" for m in views[-1].right)
