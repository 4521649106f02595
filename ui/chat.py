"""What the chat UI does, without Gradio: run a turn, switch the model, compare two models, answer the API.

Every handler is a generator of plain values (a `Conversation`, status text), so tests drive them directly with a
scripted model and the Gradio layer (`ui/gradio_app.py`) only wires them to components.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent.backends.base import GenerationParams
from agent.events import AgentError, FinalAnswer, Notice, Token, ToolCallFinished, ToolCallStarted, TurnStats
from agent.loop import Agent, AgentSettings, redact_secrets
from agent.messages import Message
from agent.prompts import MODES
from tools.base import Tool
from ui import render
from ui.model_manager import ModelLoadError, ModelManager

log = logging.getLogger(__name__)
EXAMPLES_PATH = Path(__file__).resolve().parent / "examples.toml"


@dataclass
class Conversation:
    """One browser session's chat: what is shown, what the model sees next turn, and the model in use."""

    model: str
    display: list[dict[str, Any]] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)
    last_answer: str = ""
    last_stats: TurnStats | None = None
    last_error: str = ""
    turns: int = 0

    def cleared(self) -> Conversation:
        """A new chat with the same model."""
        return Conversation(model=self.model)


def agent_settings(temperature: float = 0.2, max_new_tokens: int = 512, max_llm_calls: int = 2,
                   icl: bool = False) -> AgentSettings:
    """The Settings accordion's values as the agent's settings (clamped to sane ranges)."""
    params = GenerationParams(max_tokens=max(16, int(max_new_tokens)), temperature=max(0.0, float(temperature)))
    return AgentSettings(max_llm_calls=max(1, int(max_llm_calls)), icl=bool(icl), generation=params)


@lru_cache(maxsize=1)
def mode_examples() -> dict[str, list[str]]:
    """Example prompts per mode, from `ui/examples.toml`."""
    data = tomllib.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
    missing = set(MODES) - set(data)
    if missing:
        raise ValueError(f"{EXAMPLES_PATH}: no examples for modes {sorted(missing)}")
    return {mode: list(data[mode]["examples"]) for mode in MODES}


def run_turn(manager: ModelManager, tools: Sequence[Tool], conv: Conversation, message: str, mode: str,
             settings: AgentSettings) -> Iterator[Conversation]:
    """Run one user turn, yielding the conversation after every visible change (each token, each tool step)."""
    message = (message or "").strip()
    if not message:
        return
    conv.last_answer, conv.last_error = "", ""
    conv.display.append(render.user_message(message))
    yield conv
    llm = yield from _model_for_turn(manager, conv)
    if llm is None:
        return
    agent = Agent(llm, tools, mode, settings)
    turn_id = f"t{conv.turns}"
    conv.turns += 1
    answer_at: int | None = None
    answer = ""
    tool_at: dict[int, int] = {}
    events = agent.run(message, conv.history)
    try:
        for event in events:
            if isinstance(event, Token):
                answer += event.text
                if answer_at is None:
                    conv.display.append(render.assistant_message(answer))
                    answer_at = len(conv.display) - 1
                else:
                    conv.display[answer_at] = render.assistant_message(answer)
            elif isinstance(event, ToolCallStarted):
                conv.display.append(render.tool_pending_message(event, turn_id))
                tool_at[event.index] = len(conv.display) - 1
            elif isinstance(event, ToolCallFinished):
                done = render.tool_done_message(event, turn_id)
                if event.index in tool_at:
                    conv.display[tool_at[event.index]] = done
                else:
                    conv.display.append(done)
            elif isinstance(event, Notice):
                conv.display.append(render.notice_message(event))
            elif isinstance(event, AgentError):
                conv.display.append(render.error_message(event))
                conv.last_error = event.message
            elif isinstance(event, FinalAnswer):
                if answer_at is None and event.text:  # an answer the agent wrote itself (budget spent, model failed)
                    conv.display.append(render.assistant_message(event.text))
                conv.display.append(render.stats_message(event.stats, manager.label(conv.model)))
                conv.history.extend(event.messages)
                conv.last_answer, conv.last_stats = event.text, event.stats
            else:
                continue  # LLMCallFinished: nothing to show
            yield conv
    except Exception as exc:  # never a traceback in the chat: say what failed and keep the session usable
        log.exception("turn failed")
        conv.last_error = redact_secrets(f"The turn failed: {type(exc).__name__}: {exc}")
        conv.display.append(render.error_message(conv.last_error))
        conv.last_answer = ""
        yield conv
    finally:
        events.close()  # releases the model's lock at once if the user pressed Stop mid-stream


def _model_for_turn(manager: ModelManager, conv: Conversation):
    """The conversation's model, loading it with a visible pending message if it is not loaded yet."""
    if manager.is_loaded(conv.model):
        return manager.get(conv.model)
    label = render.escape_text(manager.label(conv.model))
    conv.display.append({"role": "assistant", "content": "This happens once; later turns reuse it.",
                         "metadata": {"title": f"⏳ Loading {label}…", "status": "pending"}})
    at = len(conv.display) - 1
    yield conv
    try:
        llm = manager.get(conv.model)
    except ModelLoadError as exc:
        conv.last_error = redact_secrets(f"Could not load {manager.label(conv.model)}: {exc}")
        conv.display[at] = render.error_message(conv.last_error)
        conv.last_answer = ""
        yield conv
        return None
    seconds = manager.load_seconds.get(conv.model, 0.0)
    conv.display[at] = {"role": "assistant", "content": f"Loaded in {seconds:.1f} s.",
                        "metadata": {"title": f"✅ {label} loaded", "status": "done", "duration": round(seconds, 2)}}
    yield conv
    return llm


def switch_model(manager: ModelManager, conv: Conversation, name: str) -> Iterator[tuple[Conversation, str]]:
    """Load `name` for this conversation, yielding (conversation, status). A failure keeps the previous model."""
    label = manager.label(name)
    if manager.is_loaded(name):
        manager.get(name)  # mark it most recently used
        conv.model = name
        yield conv, f"✅ **{render.escape_text(label)}** is ready."
        return
    yield conv, f"⏳ Loading **{render.escape_text(label)}**…"
    try:
        manager.get(name)
    except ModelLoadError as exc:
        previous = manager.label(conv.model)
        reason = render.escape_text(redact_secrets(str(exc)))
        yield conv, (f"❌ Could not load **{render.escape_text(label)}**: {reason}  \n"
                     f"Still using **{render.escape_text(previous)}**.")
        return
    conv.model = name
    seconds = manager.load_seconds.get(name, 0.0)
    yield conv, f"✅ **{render.escape_text(label)}** loaded in {seconds:.1f} s."


def compare_turn(manager: ModelManager, tools: Sequence[Tool], message: str, mode: str, left_model: str,
                 right_model: str, settings: AgentSettings) -> Iterator[tuple[list[dict], list[dict]]]:
    """One prompt, two models: the left runs first, then the right (two models at once would share 2 CPU cores)."""
    left, right = Conversation(model=left_model), Conversation(model=right_model)
    for conv in run_turn(manager, tools, left, message, mode, settings):
        yield conv.display, right.display
    for conv in run_turn(manager, tools, right, message, mode, settings):
        yield left.display, conv.display


def answer_once(manager: ModelManager, tools: Sequence[Tool], message: str, mode: str = "all", model: str = "",
                settings: AgentSettings | None = None) -> str:
    """A single-turn answer as plain text (the `chat` API endpoint). Errors come back as text, not exceptions."""
    if mode not in MODES:
        return f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}."
    if not (message or "").strip():
        return "Please type a question."
    conv = Conversation(model=model or manager.default_name())
    for _ in run_turn(manager, tools, conv, message, mode, settings or AgentSettings()):
        pass
    return conv.last_answer or conv.last_error or "No answer."
