"""From recorded turns to the benchmark's numbers: tokens per call, speeds from llama.cpp's counters, the ideal time.

The ideal time of a turn is what it would cost to pay only for what is new:
    new prompt tokens / prefill speed + generated tokens / decode speed
where a prompt token is *new* when no earlier call of the same run evaluated the same prefix (what a perfect,
unbounded prefix cache would still have to prefill), and both speeds come from llama.cpp's own counters
(`llama_perf_context`: n_p_eval / t_p_eval, n_eval / t_eval) summed over every call of the run, both strategies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.messages import Message
from bench.llm import SeenTokens, TokenView
from bench.strategies import TurnResult


@dataclass
class Speeds:
    """Token counts and llama.cpp's own timings, summed over calls."""

    prefill_tokens: int = 0
    prefill_s: float = 0.0
    decode_tokens: int = 0
    decode_s: float = 0.0

    def add_calls(self, rows: Sequence[dict[str, Any]]) -> Speeds:
        for row in rows:
            self.prefill_tokens += row["evaluated_tokens"]
            self.prefill_s += row["prompt_eval_s"]
            self.decode_tokens += row["generated_tokens"]
            self.decode_s += row["decode_s"]
        return self

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prefill_tokens / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        return self.decode_tokens / self.decode_s if self.decode_s > 0 else 0.0

    def seconds_for(self, new_tokens: int, generated_tokens: int) -> float:
        """Ideal seconds for prefilling `new_tokens` and decoding `generated_tokens` at these speeds."""
        prefill = new_tokens / self.prefill_tokens_per_s if self.prefill_tokens_per_s else 0.0
        decode = generated_tokens / self.decode_tokens_per_s if self.decode_tokens_per_s else 0.0
        return prefill + decode

    def to_dict(self) -> dict[str, float]:
        return {"prefill_tokens": self.prefill_tokens, "prefill_s": round(self.prefill_s, 4),
                "prefill_tokens_per_s": round(self.prefill_tokens_per_s, 1),
                "decode_tokens": self.decode_tokens, "decode_s": round(self.decode_s, 4),
                "decode_tokens_per_s": round(self.decode_tokens_per_s, 1)}


def call_rows(turns: Sequence[TurnResult], tokens: TokenView,
              prefilled: Sequence[Sequence[Message]] = ()) -> list[list[dict[str, Any]]]:
    """Per turn, per call: tokens submitted, evaluated (llama.cpp's count), new (the ideal), generated, timings.

    `turns` must be in the order they ran: what counts as new depends on everything evaluated before, including the
    `prefilled` prompts (the system prompts prefilled at start-up).
    """
    seen = SeenTokens()
    for messages in prefilled:
        seen.add(tokens.prompt(messages, add_generation_prompt=False))
    out = []
    for turn in turns:
        rows = []
        for call in turn.calls:
            prompt = tokens.prompt(call.messages)
            usage = call.usage
            rows.append({
                "prompt_tokens": usage.prompt_tokens,
                "cached_tokens": usage.cached_tokens,
                "evaluated_tokens": usage.evaluated_tokens,
                "new_tokens": seen.new_tokens(prompt),
                "generated_tokens": usage.completion_tokens,
                "forced_decision": call.forced,
                "prompt_eval_s": usage.prompt_eval_s,
                "decode_s": usage.decode_s,
                "call_s": call.ended_at - call.started_at,
                "first_text_s": None if call.first_text_at is None else call.first_text_at - call.started_at,
            })
            seen.add(prompt + tokens.reply(call.text))
        out.append(rows)
    return out


def turn_row(turn: TurnResult, calls: list[dict[str, Any]], speeds: Speeds) -> dict[str, Any]:
    """One line of the per-turn table (and of the JSON)."""
    new = sum(c["new_tokens"] for c in calls)
    generated = sum(c["generated_tokens"] for c in calls)
    ideal_llm_s = speeds.seconds_for(new, generated)
    # How long the first answer token waited, after llama.cpp produced it, before the UI got it: the loop reads a
    # few tokens of the opening to tell prose from a tool call.
    answer_call = turn.calls[-1] if turn.calls else None
    held_s = None
    if turn.ttft_s is not None and answer_call is not None and answer_call.first_text_at is not None:
        held_s = max(turn.ttft_s - (answer_call.first_text_at - turn.started_at), 0.0)
    return {
        "conversation": turn.conversation,
        "turn": turn.turn + 1,
        "mode": turn.mode,
        "uses_tool": turn.uses_tool,
        "llm_calls": len(calls),
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "evaluated_tokens": sum(c["evaluated_tokens"] for c in calls),
        "new_tokens": new,
        "generated_tokens": generated,
        "prompt_eval_s": round(sum(c["prompt_eval_s"] for c in calls), 4),
        "decode_s": round(sum(c["decode_s"] for c in calls), 4),
        "ttft_s": None if turn.ttft_s is None else round(turn.ttft_s, 4),
        "first_token_held_s": None if held_s is None else round(held_s, 4),
        "turn_s": round(turn.turn_s, 4),
        "tool_s": round(turn.tool_s, 4),
        "ideal_llm_s": round(ideal_llm_s, 4),
        "ideal_s": round(ideal_llm_s + turn.tool_s, 4),
        "kv_saves": turn.kv_saves,
        "kv_restores": turn.kv_restores,
        "kv_swap_s": round(turn.kv_swap_s, 4),
        "tool_calls": [{k: v for k, v in c.items() if k != "result"} for c in turn.tool_calls],
        "answer": turn.answer,
        "calls": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items()} for c in calls],
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(list(values), q)), 4) if values else None


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sums over a strategy's turns."""
    keys = ("llm_calls", "prompt_tokens", "evaluated_tokens", "new_tokens", "generated_tokens", "prompt_eval_s",
            "decode_s", "turn_s", "tool_s", "ideal_llm_s", "ideal_s", "kv_saves", "kv_restores", "kv_swap_s")
    out: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 4)
    ttfts = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    out["turns"] = len(rows)
    out["ttft_p50_s"] = percentile(ttfts, 50)
    out["turn_p50_s"] = percentile([r["turn_s"] for r in rows], 50)
    return out


def summarize(agent_rows: Sequence[dict[str, Any]], baseline_rows: Sequence[dict[str, Any]], speeds: Speeds,
              concurrency: dict[str, Any] | None, startup: dict[str, Any] | None = None) -> dict[str, Any]:
    """The headline numbers and whether each target of the performance issue is met.

    `startup`: the system prompts prefilled before the first turn (tokens, seconds), counted apart from the turns.
    """
    agent = totals(agent_rows)
    startup_tokens = startup["tokens"] if startup else 0
    no_tool_calls = [r["llm_calls"] for r in agent_rows if not r["uses_tool"]]
    tool_calls = [r["llm_calls"] for r in agent_rows if r["uses_tool"]]
    held = [r["first_token_held_s"] for r in agent_rows if r["first_token_held_s"] is not None]
    llm_s = agent["turn_s"] - agent["tool_s"]
    summary: dict[str, Any] = {
        "max_llm_calls_no_tool_turn": max(no_tool_calls, default=0),
        "max_llm_calls_tool_turn": max(tool_calls, default=0),
        "prompt_tokens_submitted": agent["prompt_tokens"],
        "prompt_tokens_evaluated": agent["evaluated_tokens"],
        "prompt_tokens_evaluated_fraction": _ratio(agent["evaluated_tokens"], agent["prompt_tokens"]),
        "startup_prefill_tokens": startup_tokens,
        "startup_prefill_s": startup["seconds"] if startup else 0.0,
        "prompt_tokens_evaluated_fraction_incl_startup": _ratio(agent["evaluated_tokens"] + startup_tokens,
                                                                agent["prompt_tokens"]),
        "prompt_tokens_new": agent["new_tokens"],
        "prompt_tokens_new_fraction": _ratio(agent["new_tokens"], agent["prompt_tokens"]),
        "generated_tokens": agent["generated_tokens"],
        "prefill_tokens_per_s": round(speeds.prefill_tokens_per_s, 1),
        "decode_tokens_per_s": round(speeds.decode_tokens_per_s, 1),
        "total_s": agent["turn_s"],
        "tool_s": agent["tool_s"],
        "ideal_llm_s": agent["ideal_llm_s"],
        "time_vs_ideal": _ratio(llm_s, agent["ideal_llm_s"]),
        "time_vs_ideal_incl_tools": _ratio(agent["turn_s"], agent["ideal_s"]),
        "ttft_p50_s": agent["ttft_p50_s"],
        "first_token_held_mean_s": round(sum(held) / len(held), 4) if held else None,
        "kv_saves": agent["kv_saves"],
        "kv_restores": agent["kv_restores"],
        "kv_swap_s": agent["kv_swap_s"],
    }
    if baseline_rows:
        base = totals(baseline_rows)
        summary.update({
            "baseline_total_s": base["turn_s"],
            "baseline_llm_calls": base["llm_calls"],
            "baseline_prompt_tokens_evaluated": base["evaluated_tokens"],
            "baseline_generated_tokens": base["generated_tokens"],
            "baseline_ttft_p50_s": base["ttft_p50_s"],
            "speedup_vs_baseline": _ratio(base["turn_s"], agent["turn_s"]),
            "speedup_vs_baseline_llm_only": _ratio(base["turn_s"] - base["tool_s"], llm_s),
        })
    if concurrency:
        summary.update({
            "concurrent_users": concurrency["users"],
            "concurrent_turn_p50_s": concurrency["turn_p50_s"],
            "concurrent_turn_p95_s": concurrency["turn_p95_s"],
            "concurrent_no_leaks": concurrency["no_leaks"],
        })
    summary["targets"] = targets(summary)
    return summary


def targets(summary: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets on this machine, each True/False (None: not measured in this run)."""

    def check(key: str, ok) -> bool | None:
        value = summary.get(key)
        return None if value is None else bool(ok(value))

    return {
        "no_tool_turns_make_one_llm_call": check("max_llm_calls_no_tool_turn", lambda v: v == 1),
        "tool_turns_make_at_most_two_llm_calls": check("max_llm_calls_tool_turn", lambda v: v <= 2),
        "evaluated_prompt_tokens_at_most_10_percent": check("prompt_tokens_evaluated_fraction", lambda v: v <= 0.10),
        "time_at_most_1.2x_ideal": check("time_vs_ideal", lambda v: v <= 1.2),
        "at_least_2x_faster_than_baseline": check("speedup_vs_baseline", lambda v: v >= 2.0),
        "no_answer_leaks_between_users": check("concurrent_no_leaks", lambda v: v),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None
