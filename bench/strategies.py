"""The two ways of running a turn that the benchmark compares, on the same model, tools and scripted decisions.

- `AgentStrategy`: this project's loop (`agent.loop.Agent`): one call when no tool is needed, two when one is; one
  system prompt per mode, so the second call and the next turn continue the same KV cache.
- `BaselineStrategy`: the original demo's way: always two calls, the answer call with a *different* system prompt
  (the persona without the tools), and no cache reuse (every call prefills its whole prompt).

Each returns a `TurnResult` per turn; the metering (`bench.llm.BenchLLM`) supplies the per-call counters.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.backends.base import GenerationParams
from agent.events import FinalAnswer, Token, ToolCallFinished
from agent.format import ToolCallParseError, parse_tool_calls, validate_call
from agent.loop import Agent, AgentSettings
from agent.messages import Message, tool_result_message
from agent.prompts import get_mode, mode_system_prompt, read_prompt_file, system_prompt
from bench.llm import PROSE, BenchLLM, CallRecord
from bench.scenario import Conversation, ScriptedTurn
from tools.base import Tool, timed


@dataclass
class TurnResult:
    """What one turn cost and answered."""

    strategy: str
    conversation: str
    turn: int  # 0-based, within its conversation
    mode: str
    uses_tool: bool  # the scripted decision
    answer: str
    turn_s: float
    ttft_s: float | None  # first answer token handed to the UI, from the start of the turn
    tool_s: float = 0.0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # name, arguments, ok
    calls: list[CallRecord] = field(default_factory=list)
    kv_saves: int = 0
    kv_restores: int = 0
    kv_swap_s: float = 0.0
    started_at: float = 0.0
    streamed: str | None = None  # what the UI received token by token (the agent strategy)


class Strategy:
    name = "strategy"

    def __init__(self, llm: BenchLLM, tools: Sequence[Tool], params: GenerationParams, today: dt.date,
                 force_decisions: bool):
        self.llm = llm
        self.tools = list(tools)
        self.params = params
        self.today = today
        self.force_decisions = force_decisions

    def new_history(self) -> list[Message]:
        return []

    def start_cold(self, modes: Sequence[str]) -> None:
        """Empty the model's KV cache and saved states, as after a fresh start."""
        if hasattr(self.llm.inner, "clear_cache"):
            self.llm.inner.clear_cache()

    def run_turn(self, conversation: Conversation, index: int, history: list[Message]) -> TurnResult:
        raise NotImplementedError

    def _kv_snapshot(self) -> tuple[int, int, float]:
        stats = getattr(self.llm.inner, "kv_stats", None)
        if stats is None:
            return 0, 0, 0.0
        return stats.saves, stats.restores, stats.save_s + stats.restore_s

    def _fill_kv(self, result: TurnResult, before: tuple[int, int, float]) -> None:
        after = self._kv_snapshot()
        result.kv_saves, result.kv_restores = after[0] - before[0], after[1] - before[1]
        result.kv_swap_s = after[2] - before[2]


class AgentStrategy(Strategy):
    """This project's loop, exactly as the app and the CLI run it."""

    name = "agent"

    def __init__(self, *args, prewarm: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.prewarm = prewarm
        self.startups: list[dict[str, Any]] = []  # what each prewarm cost: modes, tokens, seconds
        self.prewarmed: list[list[list[Message]]] = []  # the prompts of each prewarm

    def start_cold(self, modes: Sequence[str]) -> None:
        """A fresh start; with `prewarm`, each mode's system prompt is then prefilled, as the app does at start-up."""
        super().start_cold(modes)
        if self.prewarm and hasattr(self.llm.inner, "prewarm"):
            prompts = [[Agent(self.llm, self.tools, mode, today=self.today).system_message()] for mode in modes]
            tokens, seconds = self.llm.inner.prewarm(prompts)
            self.startups.append({"modes": list(modes), "tokens": tokens, "seconds": round(seconds, 4)})
            self.prewarmed.append(prompts)

    def _plan(self, turn: ScriptedTurn) -> None:
        """Scripted decisions: a tool turn writes its call and then answers in prose; another turn answers in prose."""
        if self.force_decisions:
            self.llm.plan_calls([turn.tool_call, PROSE] if turn.uses_tool else [PROSE])

    def run_turn(self, conversation: Conversation, index: int, history: list[Message]) -> TurnResult:
        turn = conversation.turns[index]
        agent = Agent(self.llm, self.tools, conversation.mode,
                      AgentSettings(max_llm_calls=2, generation=self.params), today=self.today)
        self._plan(turn)
        kv_before = self._kv_snapshot()
        start = time.perf_counter()
        streamed, final, tool_calls, tool_s = "", None, [], 0.0
        for event in agent.run(turn.user, history):
            if isinstance(event, Token):
                streamed += event.text
            elif isinstance(event, ToolCallFinished):
                tool_s += event.duration_s
                tool_calls.append({"name": event.call.name, "arguments": event.call.arguments, "ok": event.ok,
                                   "result": event.result})
            elif isinstance(event, FinalAnswer):
                final = event
        turn_s = time.perf_counter() - start
        self.llm.plan_calls([])
        history.extend(final.messages)
        result = TurnResult(self.name, conversation.id, index, conversation.mode, turn.uses_tool, final.text,
                            turn_s, final.stats.time_to_first_token_s, tool_s, tool_calls, self.llm.take_records(),
                            started_at=start, streamed=streamed)
        self._fill_kv(result, kv_before)
        return result


class BaselineStrategy(Strategy):
    """The original demo: a decision call with the tool prompt, then an answer call with another system prompt."""

    name = "baseline"

    def __init__(self, *args, decision_tokens: int = 16, **kwargs):
        super().__init__(*args, **kwargs)
        self.decision_tokens = decision_tokens

    def run_turn(self, conversation: Conversation, index: int, history: list[Message]) -> TurnResult:
        turn = conversation.turns[index]
        mode = get_mode(conversation.mode)
        tools = {t.name: t for t in self.tools if t.name in mode.tool_names}
        specs = [t.spec for t in tools.values()]
        tool_system = Message("system", mode_system_prompt(mode, specs, today=self.today))
        answer_system = Message("system", system_prompt(
            [], persona=read_prompt_file(f"personas/{mode.persona_file}"), today=self.today))
        user = Message("user", turn.user)
        kv_before = self._kv_snapshot()
        start = time.perf_counter()

        # Call 1 decides. On a turn without a tool its prose is thrown away, so it is cut after a few tokens, enough to
        # see that it is not a call (the original let it run on; cutting it short only favours the baseline).
        if self.force_decisions:  # the decision call writes the call (or prose); the answer call answers in prose
            self.llm.plan_calls([turn.tool_call or PROSE, PROSE])
        decision_params = self.params if turn.uses_tool else replace(self.params, max_tokens=self.decision_tokens)
        decision = "".join(c for c in self.llm.stream([tool_system, *history, user], decision_params)
                           if isinstance(c, str))
        try:
            calls = parse_tool_calls(decision) if tools else []
        except ToolCallParseError:
            calls = []
        tail: list[Message] = []
        tool_calls, tool_s = [], 0.0
        if calls:
            tail.append(Message("assistant", decision))
            for call in calls:
                errors = validate_call(call, {n: t.spec for n, t in tools.items()})
                result, seconds = ({"error": "; ".join(e.message for e in errors)}, 0.0) if errors else \
                    timed(tools[call.name], call.arguments)
                tool_s += seconds
                tool_calls.append({"name": call.name, "arguments": call.arguments, "ok": "error" not in result,
                                   "result": result})
                tail.append(tool_result_message(result))

        # Call 2 answers, streamed, under the answer system prompt: a different prefix, so nothing is shared.
        answer, ttft = "", None
        for chunk in self.llm.stream([answer_system, *history, user, *tail], self.params):
            if isinstance(chunk, str) and chunk:
                if ttft is None and chunk.strip():
                    ttft = time.perf_counter() - start
                answer += chunk
        turn_s = time.perf_counter() - start
        self.llm.plan_calls([])
        answer = answer.strip()
        history.extend([user, Message("assistant", answer)])
        result = TurnResult(self.name, conversation.id, index, conversation.mode, turn.uses_tool, answer, turn_s,
                            ttft, tool_s, tool_calls, self.llm.take_records(), started_at=start)
        self._fill_kv(result, kv_before)
        return result
