"""The Compare tab without Gradio: one prompt, two models, both panes streaming at once, a verdict line per side.

Both turns run in the handler's thread, interleaved step by step (a token, a tool call): each side streams as it is
written and the pair costs the same CPU time as one after the other, with no second set of llama.cpp threads
fighting for the cores. The same model on both sides cannot interleave (it holds its lock while it writes), so the
right side then waits its turn and says so.

    for view in compare_turn(manager, tools, "Weather in Oslo?", "weather", "smollm2-135m",
                             "smollm2-135m-funccall", settings):
        view.left, view.right, view.left_verdict, view.right_verdict, view.summary
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.loop import AgentSettings
from tools.base import Tool
from ui import render
from ui.chat import Conversation, run_turn
from ui.model_manager import ModelManager


@dataclass
class Side:
    """One pane: its conversation, and how long its own steps took (not the other side's)."""

    conv: Conversation
    name: str  # "left" or "right"
    state: str = "waiting"  # waiting | running | done
    own_s: float = 0.0
    wait_note: str = ""


@dataclass
class CompareView:
    left: list[dict[str, Any]]
    right: list[dict[str, Any]]
    left_verdict: str
    right_verdict: str
    summary: str
    done: bool = False
    sides: list[Side] = field(default_factory=list, repr=False)


def short_label(label: str) -> str:
    """ "SmolLM2-135M-Instruct Q4_1 (embedded, base)" -> "base"; a label without such a tag stays whole."""
    match = re.search(r"\(([^()]*)\)\s*$", label)
    if match:
        tag = match.group(1).split(",")[-1].strip()
        if tag in ("base", "fine-tuned"):
            return tag
    return label


def verdict(side: Side, label: str) -> str:
    """One line per side: called a tool or not, answered or not, its time, and P(call) when the backend read it."""
    head = f"**{render.escape_text(label)}** · "
    conv = side.conv
    if side.state == "waiting":
        return head + (side.wait_note or "⏳ waiting to start…")
    if side.state == "running":
        return head + (conv.activity or "💭 working…") + f" · {side.own_s:.1f} s"
    outcome = conv.last_outcome
    if outcome is None or outcome.stats is None:
        reason = render.escape_text(conv.last_error or "no answer")
        return head + f"⚠️ no answer: {reason[:120]} · {side.own_s:.1f} s"
    if outcome.tools:
        names = ", ".join(dict.fromkeys(name for name, _ in outcome.tools))
        failed = sum(not ok for _, ok in outcome.tools)
        tool = f"🔧 called {names}" + (f" (❌ {failed} failed)" if failed else "")
    else:
        tool = "💬 no tool call"
    if not outcome.answered:
        answer = "⚠️ no answer"
    elif outcome.without_live_data:
        answer = "🚫 answered without live data"
    else:
        answer = "✅ answered"
    parts = [tool, answer, f"{side.own_s:.1f} s"]
    if outcome.call_probability is not None:
        parts.append(f"calls a tool: {render.percent(outcome.call_probability)}")
    return head + " · ".join(parts)


def summary_line(sides: Sequence[Side], labels: Sequence[str]) -> str:
    """The fine-tune as one number per model: "calls a tool: base 2% · fine-tuned 97%" (once both are read)."""
    read = [(short_label(label), side.conv.last_outcome.call_probability) for side, label in zip(sides, labels,
                                                                                                   strict=True)
            if side.conv.last_outcome is not None and side.conv.last_outcome.call_probability is not None]
    if not read:
        return ""
    numbers = " · ".join(f"{render.escape_text(name)} **{render.percent(p)}**" for name, p in read)
    return f"**Calls a tool** (probability of opening with a tool call, read at the first token): {numbers}"


def compare_turn(manager: ModelManager, tools: Sequence[Tool], message: str, mode: str, left_model: str,
                 right_model: str, settings: AgentSettings) -> Iterator[CompareView]:
    """Run `message` on both models, yielding a `CompareView` after every step of either side."""
    sides = [Side(Conversation(model=left_model), "left"), Side(Conversation(model=right_model), "right")]
    labels = [manager.label(left_model), manager.label(right_model)]
    turns = [run_turn(manager, tools, side.conv, message, mode, settings) for side in sides]
    if left_model == right_model:
        sides[1].wait_note = "⏳ waits its turn: the same model answers the left side first"
        rounds = [[0], [1]]
    else:
        rounds = [[0, 1]]

    def view(done: bool = False) -> CompareView:
        return CompareView(list(sides[0].conv.display), list(sides[1].conv.display), verdict(sides[0], labels[0]),
                           verdict(sides[1], labels[1]), summary_line(sides, labels), done, sides)

    try:
        yield view()
        for active in rounds:
            while active:
                for i in list(active):
                    sides[i].state = "running"
                    start = time.perf_counter()
                    try:
                        next(turns[i])
                    except StopIteration:
                        active.remove(i)
                        sides[i].state = "done"
                    sides[i].own_s += time.perf_counter() - start
                    yield view()
        yield view(done=True)
    finally:
        for turn in turns:
            turn.close()
