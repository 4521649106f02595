"""The benchmark report as Markdown: summary against the targets, the per-turn table, the simultaneous users."""

from __future__ import annotations

from typing import Any


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_num(v) for v in row) + " |" for row in rows]
    return lines


TARGET_LABELS = {
    "no_tool_turns_make_one_llm_call": ("max LLM calls in a no-tool turn", "max_llm_calls_no_tool_turn", "= 1"),
    "tool_turns_make_at_most_two_llm_calls": ("max LLM calls in a tool turn", "max_llm_calls_tool_turn", "<= 2"),
    "evaluated_prompt_tokens_at_most_10_percent": ("prompt tokens evaluated / submitted",
                                                   "prompt_tokens_evaluated_fraction", "<= 0.10"),
    "time_at_most_1.2x_ideal": ("time / ideal (LLM time, tools excluded)", "time_vs_ideal", "<= 1.2"),
    "at_least_2x_faster_than_baseline": ("speed-up vs the original demo's strategy", "speedup_vs_baseline", ">= 2"),
    "no_answer_leaks_between_users": ("no answer leaks between simultaneous users", "concurrent_no_leaks", "yes"),
}


def _startup_line(report: dict[str, Any]) -> str:
    startup = report.get("startup")
    if not startup:
        return "No start-up prefill: each mode's system prompt is prefilled by its first turn."
    return (f"Start-up: the system prompts of {', '.join(startup['modes'])} ({startup['tokens']} tokens) were "
            f"prefilled in {startup['seconds']:.2f} s before the first turn (`LlamaCppLLM.prewarm`, at start-up); "
            "they are not in the turns' numbers (`--no-prewarm` puts them back).")


def markdown_report(report: dict[str, Any]) -> str:
    summary = report["summary"]
    speeds = report["speeds"]["all"]
    machine = report["machine"]
    lines = [
        f"# Benchmark: {report['model']}",
        "",
        f"`{report['command']}` — {report['started']}, {machine['cpus']} CPUs, {report['config']['threads'] or 'all'} "
        f"llama.cpp threads, load average {machine['load_before']} before / {machine['load_after']} after.",
        f"Decisions: {report['decisions']}. Tools: local fake Open-Meteo + Wikipedia server, "
        f"{report['config']['tool_latency_ms']:g} ms per HTTP request. Answers: greedy, at most "
        f"{report['config']['max_tokens']} tokens.",
        f"Speeds from llama.cpp's counters over the whole run: prefill {speeds['prefill_tokens_per_s']:.0f} tok/s, "
        f"decode {speeds['decode_tokens_per_s']:.0f} tok/s. "
        + ("The strategies ran turn by turn on two instances of the model."
           if report.get("interleaved") else "The strategies ran one after the other."),
        _startup_line(report),
        "",
        "## Targets",
        "",
    ]
    lines += _table(["target", "value", "goal", "met"],
                    [[label, summary.get(key), goal, summary["targets"].get(name)]
                     for name, (label, key, goal) in TARGET_LABELS.items()])
    agent, base = report["totals"]["agent"], report["totals"].get("baseline")
    lines += ["", "## Totals", ""]
    rows = [
        ["LLM calls", agent["llm_calls"], base and base["llm_calls"]],
        ["prompt tokens submitted", agent["prompt_tokens"], base and base["prompt_tokens"]],
        ["prompt tokens evaluated", agent["evaluated_tokens"], base and base["evaluated_tokens"]],
        ["prompt tokens new (ideal)", agent["new_tokens"], None],
        ["prompt tokens evaluated, start-up included", agent["evaluated_tokens"] + summary["startup_prefill_tokens"],
         None],
        ["generated tokens", agent["generated_tokens"], base and base["generated_tokens"]],
        ["prefill time (s)", agent["prompt_eval_s"], base and base["prompt_eval_s"]],
        ["decode time (s)", agent["decode_s"], base and base["decode_s"]],
        ["tool time (s)", agent["tool_s"], base and base["tool_s"]],
        ["total time (s)", agent["turn_s"], base and base["turn_s"]],
        ["ideal time (s), tools included", agent["ideal_s"], None],
        ["time to first token, median (s)", agent["ttft_p50_s"], base and base["ttft_p50_s"]],
        ["KV states saved / restored", f"{agent['kv_saves']} / {agent['kv_restores']} "
                                       f"({agent['kv_swap_s']:.3f} s)", None],
    ]
    lines += _table(["", "this agent", "original demo (baseline)"], rows)
    lines += ["", "## Per turn", "",
              "prompt = tokens submitted, eval = tokens llama.cpp evaluated, new = tokens no earlier call had "
              "evaluated (the ideal), gen = tokens generated; times in seconds.", ""]
    base_rows = report["turns"].get("baseline") or []
    header = ["#", "user", "mode", "tool", "calls", "prompt", "eval", "new", "gen", "TTFT", "turn", "tool s",
              "ideal"]
    if base_rows:
        header += ["base calls", "base eval", "base TTFT", "base turn"]
    table = []
    for n, row in enumerate(report["turns"]["agent"]):
        line = [n + 1, f"{row['conversation']} {row['turn']}", row["mode"], "yes" if row["uses_tool"] else "-",
                row["llm_calls"], row["prompt_tokens"], row["evaluated_tokens"], row["new_tokens"],
                row["generated_tokens"], row["ttft_s"], row["turn_s"], row["tool_s"], row["ideal_s"]]
        if base_rows:
            b = base_rows[n]
            line += [b["llm_calls"], b["evaluated_tokens"], b["ttft_s"], b["turn_s"]]
        table.append(line)
    lines += _table(header, table)
    concurrency = report.get("concurrency")
    if concurrency:
        identical = f"{concurrency['answers_identical_to_alone']}/{concurrency['answers_compared']}"
        lines += ["", "## Simultaneous users", ""]
        lines += _table(
            ["users", "turns", "turn p50 (s)", "turn p95 (s)", "turn max (s)", "wall (s)", "one after another (s)",
             "no leaks", "answers identical to running alone"],
            [[concurrency["users"], concurrency["turns"], concurrency["turn_p50_s"], concurrency["turn_p95_s"],
              concurrency["turn_max_s"], concurrency["wall_s"], concurrency["sequential_wall_s"],
              concurrency["no_leaks"], identical]])
    return "\n".join(lines) + "\n"
