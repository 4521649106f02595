"""Run the scripted set with both strategies (and the simultaneous users) on one loaded model; build the report dict.

Nothing here loads a model or starts a server: `run_benchmark(llm, tools, scenario, config)` takes them, so the tests
drive it with a scripted fake model and the real tools against the local test server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.backends.base import GenerationParams
from agent.messages import Message
from bench.concurrency import measure_concurrency
from bench.llm import BenchLLM, TokenView
from bench.metrics import Speeds, call_rows, summarize, totals, turn_row
from bench.scenario import Scenario
from bench.strategies import AgentStrategy, BaselineStrategy, TurnResult
from tools.base import Tool


@dataclass
class BenchConfig:
    """Settings of `python -m bench` (each field is a flag: --max-tokens 96, --no-baseline, ...)."""

    model: str | None = field(default=None, metadata={"help": "Catalogue model to benchmark (default: the embedded "
                                                               "model; see python -m agent --list-models)."})
    conversations: str | None = field(default=None, metadata={"help": "Scripted set (default: "
                                                                       "bench/conversations.json)."})
    output_dir: str = field(default_factory=lambda: os.environ.get("BENCH_OUTPUT_DIR", "runs/bench"), metadata={
        "help": "Where the JSON and Markdown reports go (env BENCH_OUTPUT_DIR)."})
    decisions: Literal["scripted", "model"] = field(default="scripted", metadata={
        "help": "scripted: tool decisions forced through the real model from the script (the base model never calls "
                "tools); model: the model decides (a fine-tuned adapter)."})
    max_tokens: int = field(default=96, metadata={"help": "Most tokens per answer (both strategies)."})
    temperature: float = field(default=0.0, metadata={"help": "Sampling temperature; 0 is greedy (reproducible)."})
    tool_latency_ms: float = field(default=100.0, metadata={
        "help": "Fixed delay of the local tool server per HTTP request (a weather call makes 2, Wikipedia 3)."})
    users: int = field(default=4, metadata={"help": "Simultaneous users in the concurrency run (0: skip it)."})
    baseline: bool = field(default=True, metadata={"help": "Also run the original demo's strategy."})
    prewarm: bool = field(default=True, metadata={
        "help": "Prefill each mode's system prompt once at start-up, before the first turn (LlamaCppLLM.prewarm, "
                "which the app should call after loading a model); its cost is reported apart, as start-up."})
    baseline_decision_tokens: int = field(default=16, metadata={
        "help": "Tokens the baseline's decision call may write on a turn without a tool (it is thrown away)."})
    today: str = field(default="2025-01-15", metadata={"help": "Date in the system prompts (fixed: same prompts on "
                                                                 "every run)."})
    n_ctx: int | None = field(default=None, metadata={"help": "Context length (default: the catalogue's)."})
    threads: int | None = field(default=None, metadata={"help": "llama.cpp threads (default: all CPUs)."})
    ram_cache_mb: int = field(default=256, metadata={"help": "Bound of the saved KV states (MB)."})


def run_schedule(strategies: Sequence[AgentStrategy | BaselineStrategy], scenario: Scenario,
                 progress: Callable[[str], None] | None = None) -> list[list[TurnResult]]:
    """The scripted set in schedule order, each strategy turn after turn (each conversation with its own history).

    Every model starts cold. Running the strategies turn by turn (on separate model instances) means both meet the
    same machine load at about the same time, which keeps their comparison fair on a busy machine.
    """
    modes = sorted({c.mode for c in scenario.conversations.values()})
    for strategy in strategies:
        strategy.start_cold(modes)
    histories: list[dict[str, list[Message]]] = [{} for _ in strategies]
    results: list[list[TurnResult]] = [[] for _ in strategies]
    for step in scenario.steps():
        for strategy, history, out in zip(strategies, histories, results, strict=True):
            result = strategy.run_turn(step.conversation, step.index,
                                       history.setdefault(step.conversation.id, strategy.new_history()))
            out.append(result)
            if progress:
                progress(f"{strategy.name:>8} {result.conversation} {result.turn + 1}: {len(result.calls)} LLM "
                         f"call(s), {sum(c.usage.evaluated_tokens for c in result.calls)}/"
                         f"{sum(c.usage.prompt_tokens for c in result.calls)} prompt tokens evaluated, "
                         f"{result.turn_s:.2f} s")
    return results


def run_benchmark(llm: Any, tools: Sequence[Tool], scenario: Scenario, config: BenchConfig,
                  command: str = "python -m bench", progress: Callable[[str], None] | None = None,
                  baseline_llm: Any = None) -> dict[str, Any]:
    """Run everything and return the report (JSON-ready).

    `baseline_llm`: a second instance of the same model for the baseline, so the strategies can run turn by turn
    (the baseline empties its KV cache before every call, which must not touch the agent's). Without it the baseline
    runs on `llm` after the agent has finished.
    """
    params = GenerationParams(max_tokens=config.max_tokens, temperature=config.temperature, seed=0)
    today = dt.date.fromisoformat(config.today)
    force = config.decisions == "scripted"
    started = dt.datetime.now().isoformat(timespec="seconds")
    load_before = _load_average()

    agent = AgentStrategy(BenchLLM(llm), tools, params, today, force, prewarm=config.prewarm)
    baseline_turns: list[TurnResult] = []
    if not config.baseline:
        (agent_turns,) = run_schedule([agent], scenario, progress)
    else:
        baseline = BaselineStrategy(BenchLLM(baseline_llm or llm, forget_cache=True), tools, params, today, force,
                                    decision_tokens=config.baseline_decision_tokens)
        if baseline_llm is not None:
            agent_turns, baseline_turns = run_schedule([agent, baseline], scenario, progress)
        else:
            (agent_turns,) = run_schedule([agent], scenario, progress)
            (baseline_turns,) = run_schedule([baseline], scenario, progress)
    concurrency = None
    if config.users > 0:
        if progress:
            progress(f"{config.users} simultaneous users (and each alone, for reference)")
        concurrency = measure_concurrency(agent, scenario.concurrent_conversations(config.users))

    view = TokenView(llm)
    agent_calls = call_rows(agent_turns, view, agent.prewarmed[0] if agent.prewarmed else ())
    baseline_calls = call_rows(baseline_turns, view)
    per_strategy = {"agent": Speeds().add_calls([c for t in agent_calls for c in t]),
                    "baseline": Speeds().add_calls([c for t in baseline_calls for c in t])}
    speeds = Speeds().add_calls([c for t in agent_calls + baseline_calls for c in t])
    agent_rows = [turn_row(t, c, speeds) for t, c in zip(agent_turns, agent_calls, strict=True)]
    baseline_rows = [turn_row(t, c, speeds) for t, c in zip(baseline_turns, baseline_calls, strict=True)]
    report = {
        "model": getattr(llm, "name", "model"),
        "command": command,
        "started": started,
        "decisions": ("scripted: each tool turn's call text forced token by token through the real model"
                      if force else "the model's own"),
        "config": dataclasses.asdict(config),
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": _load_average(),
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")},
        "interleaved": bool(config.baseline and baseline_llm is not None),
        "speeds": {"all": speeds.to_dict(), **{k: v.to_dict() for k, v in per_strategy.items()}},
        "startup": agent.startups[0] if agent.startups else None,
        "summary": summarize(agent_rows, baseline_rows, speeds, concurrency,
                             agent.startups[0] if agent.startups else None),
        "totals": {"agent": totals(agent_rows), **({"baseline": totals(baseline_rows)} if baseline_rows else {})},
        "turns": {"agent": agent_rows, **({"baseline": baseline_rows} if baseline_rows else {})},
        "concurrency": concurrency,
    }
    return report


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "-"
