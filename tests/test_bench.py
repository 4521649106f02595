"""The benchmark's machinery: counting, the ideal, the report's structure, leak detection, and the KV-state cache.

Fast tests drive `bench.runner.run_benchmark` with a scripted fake model and the real tools against the local test
server (the `tool_env` fixture); the `model` tests run a tiny set on the embedded model. Timings are reported by the
benchmark, never asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.backends.base import Usage
from agent.backends.llamacpp import KVStateCache, SavedState, common_prefix_length
from agent.messages import Message, render_llama3
from bench.concurrency import leak_problems
from bench.llm import CallRecord, ForcedReply, ProseOpening, SeenTokens
from bench.metrics import Speeds
from bench.report import markdown_report
from bench.runner import BenchConfig, run_benchmark
from bench.scenario import Conversation, ScriptedTurn, load_scenario
from bench.strategies import TurnResult
from fakes.models import ScriptedLLM, fake_tokenize
from tools import get_tools

TINY_SET = {
    "conversations": [
        {"id": "ann", "mode": "chat", "turns": [{"user": "What is the capital of Italy?", "tool_call": None},
                                                {"user": "One fun fact about it?", "tool_call": None}]},
        {"id": "ben", "mode": "weather", "turns": [
            {"user": "Weather in Oslo?", "tool_call": "[get_current_weather(location=\"Oslo\")]"},
            {"user": "Umbrella?", "tool_call": None}]},
    ],
    "schedule": ["ann", "ben", "ann", "ben"],
    "concurrent_users": {"mode": "weather", "cities": ["Oslo", "Paris", "Tokyo"], "turns": [
        {"user": "Weather in {city}?", "tool_call": "[get_current_weather(location=\"{city}\")]"},
        {"user": "Thanks, in one sentence?", "tool_call": None}]},
}


def write_set(tmp_path: Path, data: dict = TINY_SET) -> Path:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


class ForgetfulScriptedLLM(ScriptedLLM):
    """The scripted fake, plus the backend's `clear_cache()` (so the baseline really starts each call cold)."""

    def clear_cache(self) -> None:
        self._last_tokens = []


def scripted_model(scenario_data: dict) -> ForgetfulScriptedLLM:
    """A fake that decides like the script says: the call on a tool turn, prose otherwise, an answer after a result."""
    calls = {t["user"]: t["tool_call"] for c in scenario_data["conversations"] for t in c["turns"]}
    for city in scenario_data["concurrent_users"]["cities"]:
        for t in scenario_data["concurrent_users"]["turns"]:
            calls[t["user"].replace("{city}", city)] = t["tool_call"] and t["tool_call"].replace("{city}", city)

    def reply(messages: list[Message]) -> str:
        last = messages[-1]
        if last.role == "ipython":
            return "It is " + json.loads(last.content).get("conditions", "fine") + " in " + \
                json.loads(last.content).get("location", "?") + "."
        offers_tools = "functions in JSON format" in messages[0].content
        if offers_tools and calls.get(last.content):
            return calls[last.content]
        return f"My answer to: {last.content}"

    return ForgetfulScriptedLLM([reply] * 500)


def run_tiny(tmp_path, users: int = 3, baseline: bool = True, second_instance: bool = True):
    llm = scripted_model(TINY_SET)
    config = BenchConfig(decisions="model", users=users, baseline=baseline, max_tokens=32)
    report = run_benchmark(llm, get_tools(), load_scenario(write_set(tmp_path)), config,
                           baseline_llm=scripted_model(TINY_SET) if second_instance else None)
    return llm, report


# ------------------------------------------------------------------------------------------ counting and structure

def test_no_tool_turns_make_one_call_and_tool_turns_two(tmp_path, tool_env):
    _, report = run_tiny(tmp_path)
    calls = [(r["conversation"], r["turn"], r["llm_calls"]) for r in report["turns"]["agent"]]
    assert calls == [("ann", 1, 1), ("ben", 1, 2), ("ann", 2, 1), ("ben", 2, 1)]
    assert report["summary"]["max_llm_calls_no_tool_turn"] == 1
    assert report["summary"]["max_llm_calls_tool_turn"] == 2
    assert [r["llm_calls"] for r in report["turns"]["baseline"]] == [2, 2, 2, 2]


def test_the_tool_turn_really_ran_the_tool_against_the_server(tmp_path, tool_env, monkeypatch):
    monkeypatch.setenv("TOOLS_CACHE_TTL_S", "0")  # as in the benchmark: every call goes to the server
    _, report = run_tiny(tmp_path, users=0)
    tool_turn = report["turns"]["agent"][1]
    assert tool_turn["tool_calls"] == [{"name": "get_current_weather", "arguments": {"location": "Oslo"}, "ok": True}]
    assert "Oslo" in tool_turn["answer"]
    assert tool_env.hits("/v1/forecast") >= 2  # the agent's turn and the baseline's


def test_token_counts_add_up_per_call_and_per_turn(tmp_path, tool_env):
    llm, report = run_tiny(tmp_path, users=0)
    agent = report["turns"]["agent"]
    for row in agent + report["turns"]["baseline"]:
        assert row["prompt_tokens"] == sum(c["prompt_tokens"] for c in row["calls"])
        assert row["evaluated_tokens"] == sum(c["evaluated_tokens"] for c in row["calls"])
        for call in row["calls"]:
            assert call["evaluated_tokens"] == call["prompt_tokens"] - call["cached_tokens"]
            assert 0 <= call["new_tokens"] <= call["prompt_tokens"]
    # The fake's prompts, tokenised the fake's way, are what the agent's rows count.
    agent_prompts = llm.prompts[: sum(r["llm_calls"] for r in agent)]
    assert sum(r["prompt_tokens"] for r in agent) == sum(
        len(fake_tokenize(render_llama3(p))) for p in agent_prompts)
    # The very first call is cold: everything is new and evaluated.
    first = agent[0]["calls"][0]
    assert first["new_tokens"] == first["evaluated_tokens"] == first["prompt_tokens"]
    # The answer call of the tool turn continues the decision call: only the call's end and the result are new.
    decision, answer = agent[1]["calls"]
    assert answer["cached_tokens"] > decision["prompt_tokens"] // 2
    assert answer["new_tokens"] == answer["evaluated_tokens"]


@pytest.mark.parametrize("second_instance", [True, False], ids=["turn-by-turn", "one-after-the-other"])
def test_the_baseline_never_reuses_the_cache(tmp_path, tool_env, second_instance):
    _, report = run_tiny(tmp_path, users=0, second_instance=second_instance)
    assert report["interleaved"] is second_instance
    for row in report["turns"]["baseline"]:
        assert all(c["cached_tokens"] == 0 for c in row["calls"])
    assert report["totals"]["baseline"]["evaluated_tokens"] == report["totals"]["baseline"]["prompt_tokens"]
    assert report["totals"]["agent"]["evaluated_tokens"] < report["totals"]["agent"]["prompt_tokens"]


def test_the_json_report_has_the_summary_the_issue_asks_for(tmp_path, tool_env):
    _, report = run_tiny(tmp_path)
    text = json.dumps(report)  # JSON-ready all the way down
    summary = json.loads(text)["summary"]
    for key in ("max_llm_calls_no_tool_turn", "prompt_tokens_evaluated_fraction", "time_vs_ideal",
                "speedup_vs_baseline", "concurrent_turn_p50_s", "concurrent_turn_p95_s", "concurrent_no_leaks"):
        assert key in summary, key
    assert summary["prompt_tokens_evaluated_fraction"] == round(
        summary["prompt_tokens_evaluated"] / summary["prompt_tokens_submitted"], 4)
    assert set(summary["targets"]) >= {"no_tool_turns_make_one_llm_call", "time_at_most_1.2x_ideal",
                                       "at_least_2x_faster_than_baseline", "no_answer_leaks_between_users"}
    assert summary["targets"]["no_tool_turns_make_one_llm_call"] is True


def test_the_markdown_report_has_one_row_per_turn(tmp_path, tool_env):
    _, report = run_tiny(tmp_path)
    markdown = markdown_report(report)
    per_turn = markdown.split("## Per turn")[1].split("## Simultaneous users")[0]
    assert sum(1 for line in per_turn.splitlines() if line.startswith("| ") and line[2].isdigit()) == 4
    assert "## Targets" in markdown and "| users |" in markdown


def test_simultaneous_users_get_only_their_own_answers(tmp_path, tool_env):
    _, report = run_tiny(tmp_path, users=3, baseline=False)
    concurrency = report["concurrency"]
    assert concurrency["users"] == 3 and concurrency["turns"] == 6
    assert concurrency["no_leaks"] is True, concurrency["leak_problems"]
    assert concurrency["answers_identical_to_alone"] == 6
    for user in concurrency["per_user"]:
        city = user["user"].split("-", 1)[1]
        assert city in user["answers"][0]


def test_the_leak_check_catches_another_users_message_in_a_prompt():
    conversation = Conversation("user1-Oslo", "weather", (ScriptedTurn("Weather in Oslo?"),))
    leaked = [Message("system", "s"), Message("user", "Weather in Paris?")]
    turn = TurnResult("agent", conversation.id, 0, "weather", False, "Sunny.", 1.0, 0.1, streamed="Sunny.",
                      calls=[CallRecord(leaked, "Sunny.", Usage(), False, 0.0, None, 1.0)])
    assert any("another user's message" in p for p in leak_problems(conversation, [turn]))
    turn.calls = [CallRecord([Message("system", "s"), Message("user", "Weather in Oslo?")], "Sunny.", Usage(),
                             False, 0.0, None, 1.0)]
    turn.streamed = "Rainy."
    assert leak_problems(conversation, [turn]) == ["turn 1: the streamed tokens differ from the final answer"]


# ------------------------------------------------------------------------------------------------- the pieces

def test_new_tokens_are_those_past_the_longest_prefix_seen_before():
    seen = SeenTokens()
    assert seen.new_tokens([1, 2, 3, 4]) == 4
    seen.add([1, 2, 3, 4, 5])
    seen.add([1, 2, 9])
    assert seen.new_tokens([1, 2, 3, 4, 5, 6, 7]) == 2
    assert seen.new_tokens([1, 2, 9, 9]) == 1
    assert seen.new_tokens([7]) == 1


def test_ideal_seconds_come_from_the_measured_speeds():
    speeds = Speeds().add_calls([{"evaluated_tokens": 1000, "prompt_eval_s": 2.0, "generated_tokens": 50,
                                  "decode_s": 1.0}])
    assert speeds.prefill_tokens_per_s == 500 and speeds.decode_tokens_per_s == 50
    assert speeds.seconds_for(new_tokens=100, generated_tokens=10) == pytest.approx(0.2 + 0.2)


def test_a_forced_reply_allows_only_the_scripted_token_at_each_step():
    forced = ForcedReply([5, 7], end_id=0)
    picks = [int(np.argmax(forced(np.array([]), np.random.default_rng(n).normal(size=10)))) for n in range(4)]
    assert picks == [5, 7, 0, 0]


def test_a_prose_opening_rules_out_tokens_that_would_start_a_tool_call():
    vocabulary = ["[", "The", " sky", "get_weather", "(", "{"]
    opening = ProseOpening(lambda ids: "".join(vocabulary[i] for i in ids))
    prompt = np.array([9, 9, 9])

    def pick(generated: list[int], preferred: list[int]) -> int:
        scores = np.zeros(len(vocabulary))
        scores[preferred] = np.linspace(10, 5, len(preferred))  # most preferred first
        return int(np.argmax(opening(np.concatenate([prompt, generated]).astype(int), scores)))

    assert pick([], [0, 5, 3, 1]) == 3  # "[" and "{" are ruled out; a plain word may still become prose
    assert pick([3], [4, 2]) == 2  # "get_weather(" would be a call: " sky" instead
    assert pick([3, 2], [0]) == 0  # "get_weather sky" reads as prose: from here on the model is free
    assert opening.free


def test_the_scenario_file_is_checked(tmp_path):
    scenario = load_scenario()
    steps = scenario.steps()
    assert len(steps) == len(scenario.schedule)
    assert any(s.turn.uses_tool for s in steps) and any(not s.turn.uses_tool for s in steps)
    bad = json.loads(json.dumps(TINY_SET))
    bad["schedule"] = ["ann", "ann", "ann"]
    with pytest.raises(ValueError, match="only 2 turns"):
        load_scenario(write_set(tmp_path, bad))
    bad = json.loads(json.dumps(TINY_SET))
    bad["conversations"][1]["turns"][0]["tool_call"] = "it is sunny"
    with pytest.raises(ValueError, match="not a function call"):
        load_scenario(write_set(tmp_path, bad))


def saved(tokens: list[int], nbytes: int = 100) -> SavedState:
    return SavedState(np.array(tokens, dtype=np.intc), None, nbytes)


def test_the_kv_state_cache_finds_the_longest_shared_prefix():
    cache = KVStateCache(capacity_bytes=1000)
    a, b = saved([1, 2, 3, 4]), saved([1, 2, 7])
    cache.add(a)
    cache.add(b)
    assert cache.longest_prefix(np.array([1, 2, 3, 9])) == (a, 3)
    assert cache.longest_prefix(np.array([1, 2, 7, 7])) == (b, 3)
    assert cache.longest_prefix(np.array([5])) == (None, 0)
    assert cache.covers(np.array([1, 2, 3])) and not cache.covers(np.array([1, 2, 3, 4, 5]))


def test_the_kv_state_cache_stays_within_its_bytes_dropping_the_least_recently_used():
    cache = KVStateCache(capacity_bytes=250)
    first, second, third = saved([1, 1]), saved([2, 2]), saved([3, 3])
    cache.add(first)
    cache.add(second)
    cache.longest_prefix(np.array([1, 1, 5]))  # first is used again: second is now the oldest
    cache.add(third)
    assert cache.nbytes <= 250 and len(cache) == 2
    assert cache.longest_prefix(np.array([2, 2]))[0] is None
    cache.add(saved([4], nbytes=300))  # larger than the whole budget: not kept, nothing evicted for it
    assert len(cache) == 2


def test_a_longer_state_of_the_same_conversation_replaces_its_prefix():
    cache = KVStateCache(capacity_bytes=1000)
    cache.add(saved([1, 2, 3]))
    longer = saved([1, 2, 3, 4, 5])
    cache.add(longer)
    assert len(cache) == 1 and cache.longest_prefix(np.array([1, 2, 3]))[0] is longer
    assert common_prefix_length(np.array([1, 2]), np.array([1, 2, 3])) == 2


# ------------------------------------------------------------------------------------------ the embedded model

@pytest.mark.model
def test_switching_back_to_a_saved_conversation_prefills_only_the_new_tokens(embedded_llm):
    from agent.backends.base import GenerationParams

    llm, params = embedded_llm, GenerationParams(max_tokens=12, temperature=0.0)
    system_a = Message("system", "You are a helpful assistant. " * 20)
    system_b = Message("system", "You are a pirate who answers briefly. " * 20)

    def ask(messages):
        chunks = list(llm.stream(messages, params))
        return "".join(c for c in chunks if isinstance(c, str)).strip(), chunks[-1]

    llm.clear_cache()
    first_a = [system_a, Message("user", "Name a colour.")]
    answer_a, _ = ask(first_a)
    ask([system_b, Message("user", "Name a ship.")])  # another mode overwrites the live KV cache
    follow_up = [*first_a, Message("assistant", answer_a), Message("user", "And another one?")]
    restores = llm.kv_stats.restores
    answer, usage = ask(follow_up)
    assert llm.kv_stats.restores == restores + 1
    assert usage.evaluated_tokens < 30 < usage.prompt_tokens  # only the new turn, not the 100+-token system prompt
    llm.clear_cache()
    fresh_answer, fresh = ask(follow_up)
    assert fresh.evaluated_tokens == fresh.prompt_tokens
    assert answer == fresh_answer  # the restored state is the same conversation


@pytest.mark.model
def test_a_prewarmed_system_prompt_is_not_prefilled_again_by_the_first_user(embedded_llm):
    from agent.backends.base import GenerationParams

    system = Message("system", "You are a helpful assistant who answers in one sentence. " * 8)
    embedded_llm.clear_cache()
    tokens, _ = embedded_llm.prewarm([[system], [Message("system", "You are a pirate. " * 12)]])
    assert tokens > 100
    *_, usage = embedded_llm.stream([system, Message("user", "Name a colour.")],
                                    GenerationParams(max_tokens=4, temperature=0.0))
    assert usage.evaluated_tokens < 20 < usage.prompt_tokens  # only the user's message and the reply header


@pytest.mark.model
def test_the_benchmark_runs_on_the_embedded_model(tmp_path, tool_env, embedded_llm):
    config = BenchConfig(decisions="scripted", users=2, max_tokens=8)
    report = run_benchmark(embedded_llm, get_tools(), load_scenario(write_set(tmp_path)), config)
    agent = report["turns"]["agent"]
    assert [r["llm_calls"] for r in agent] == [1, 2, 1, 1]
    decision = agent[1]["calls"][0]
    assert decision["forced_decision"] and agent[1]["tool_calls"][0]["arguments"] == {"location": "Oslo"}
    assert agent[1]["calls"][1]["evaluated_tokens"] < agent[1]["calls"][1]["prompt_tokens"] // 2
    assert all(c["cached_tokens"] == 0 for r in report["turns"]["baseline"] for c in r["calls"])
    assert report["summary"]["prefill_tokens_per_s"] > 0 and report["summary"]["decode_tokens_per_s"] > 0
    assert report["concurrency"]["no_leaks"] is True, report["concurrency"]["leak_problems"]
    assert report["summary"]["kv_restores"] >= 1  # ann and ben interleave: ann's state came back
    assert report["startup"]["tokens"] > 0  # the chat and weather system prompts, prefilled before the first turn
    first = agent[0]["calls"][0]
    assert first["evaluated_tokens"] < first["prompt_tokens"] and first["new_tokens"] <= first["evaluated_tokens"]
