"""What the chat UI does, without Gradio: run a turn, queue messages, switch the model, answer the API.

Every handler is a generator of plain values (a `Conversation`, status text), so tests drive them directly with a
scripted model and the Gradio layer (`ui/gradio_app.py`) only wires them to components. The compare view is
`ui/compare.py`.

A message sent while an answer streams goes to the conversation's inbox and is answered after it (`answer_inbox`);
New chat and Stop bump the conversation's epoch, and a turn that sees the epoch change stops showing anything.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent.backends.base import DEFAULT_GENERATION, GenerationParams
from agent.endings import eagerness_from_threshold, model_call_threshold
from agent.events import (
    AgentError,
    FinalAnswer,
    LLMCallFinished,
    Notice,
    Token,
    ToolCallFinished,
    ToolCallStarted,
    TurnStats,
)
from agent.loop import Agent, AgentSettings
from agent.messages import Message
from agent.prompts import MODES
from agent.redaction import redact as redact_secrets
from tools.base import Tool
from ui import render
from ui.model_manager import ModelLoadError, ModelManager

log = logging.getLogger(__name__)
EXAMPLES_PATH = Path(__file__).resolve().parent / "examples.toml"


@dataclass
class TurnOutcome:
    """What one finished turn did, for the stats line and the compare view's verdict."""

    model: str
    label: str
    tools: list[tuple[str, bool]] = field(default_factory=list)  # (tool name, ok) per call shown
    answered: bool = False  # the model's own answer reached the user (not an error or an empty reply)
    without_live_data: bool = False
    truncated: bool = False
    call_probability: float | None = None  # P(the first reply opens a tool call), read at its first token
    first_visible_s: float | None = None  # turn start -> first answer token or tool call on screen
    error: str = ""
    stats: TurnStats | None = None


@dataclass
class Conversation:
    """One browser session's chat: what is shown, what the model sees next turn, and the model in use."""

    model: str
    display: list[dict[str, Any]] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)
    last_answer: str = ""
    last_stats: TurnStats | None = None
    last_error: str = ""
    last_outcome: TurnOutcome | None = None
    turns: int = 0
    inbox: list[str] = field(default_factory=list)  # messages sent during an answer, answered in order
    activity: str = ""  # what the model is doing right now ("💭 … is thinking"); empty when idle
    epoch: int = 0  # bumped by New chat and Stop: a turn started in an older epoch shows nothing more
    answering: bool = False  # an `answer_inbox` loop is running for this conversation

    def __post_init__(self):
        # Not a field: Gradio turns the state into a dict (dataclasses.asdict) for its config, and a lock cannot be.
        self.lock = threading.Lock()

    def __deepcopy__(self, memo) -> Conversation:
        """Gradio deep-copies the initial state for each browser session; a lock cannot be copied, so it is new."""
        return Conversation(model=self.model, display=copy.deepcopy(self.display, memo),
                            history=copy.deepcopy(self.history, memo))

    def cleared(self) -> Conversation:
        """A new chat with the same model."""
        return Conversation(model=self.model)

    def view(self) -> list[dict[str, Any]]:
        """What the chatbot shows: the conversation, then the messages waiting for the answer being written."""
        waiting = render.queued_message if self.answering else render.user_message  # idle: answered right away
        return [*self.display, *(waiting(text) for text in self.inbox)]

    def busy_line(self) -> str:
        """The busy indicator's text: what the model is doing and how many messages wait; empty when idle."""
        waiting = len(self.inbox)
        queued = f" · {waiting} message{'s' if waiting != 1 else ''} queued" if waiting else ""
        if self.activity:
            return self.activity + (queued or " · messages you send now are queued")
        return f"⏳ Waiting for a free slot{queued}" if waiting else ""

    def reset(self) -> None:
        """New chat, also mid-answer: the running turn stops showing anything and nothing of it comes back.

        The lists are replaced, not emptied: a turn still running writes into the lists it started with.
        """
        with self.lock:
            self.epoch += 1
            self.answering = False
            self.display, self.history, self.inbox = [], [], []
            self.activity, self.last_answer, self.last_error = "", "", ""

    def stop(self) -> str:
        """Stop the answer being written; returns the queued messages' text (for the message box, never lost)."""
        with self.lock:
            was_busy = self.answering or bool(self.activity)
            self.epoch += 1
            self.answering = False
            queued, self.inbox = self.inbox, []
            self.display = [_settled(m) for m in self.display]  # a new list: the stopped turn's late writes go astray
            if was_busy:
                self.display.append({"role": "assistant", "content": "⏹️ _Stopped._"})
            self.activity = ""
        return "\n\n".join(queued)


def _settled(message: dict[str, Any]) -> dict[str, Any]:
    """A message whose spinner would otherwise turn forever after Stop."""
    metadata = message.get("metadata") or {}
    if metadata.get("status") != "pending":
        return message
    return {**message, "metadata": {**metadata, "status": "done", "title": metadata.get("title", "") + " (stopped)"}}


# The Settings accordion starts from the agent's own defaults (agent/backends/base.py DEFAULT_GENERATION).
DEFAULTS = AgentSettings(generation=DEFAULT_GENERATION)


def agent_settings(temperature: float = DEFAULTS.generation.temperature,
                   max_new_tokens: int = DEFAULTS.generation.max_tokens, max_llm_calls: int = DEFAULTS.max_llm_calls,
                   icl: bool = DEFAULTS.icl, tool_eagerness: float | None = None) -> AgentSettings:
    """The Settings accordion's values as the agent's settings (clamped to sane ranges); `tool_eagerness` None
    leaves the call decision to the model's fitted threshold (see `turn_eagerness`)."""
    params = GenerationParams(max_tokens=max(16, int(max_new_tokens)), temperature=max(0.0, float(temperature)))
    eagerness = None if tool_eagerness is None else min(max(float(tool_eagerness), 0.0), 1.0)
    return AgentSettings(max_llm_calls=max(1, int(max_llm_calls)), icl=bool(icl), generation=params,
                         tool_eagerness=eagerness)


def fitted_eagerness(model: str) -> float:
    """What the tool-eagerness slider shows for a model: its fitted call threshold as eagerness (two decimals, the
    slider's step); 0.5 for a model without one, where the model decides by itself (about P(call) >= 0.5)."""
    fitted = eagerness_from_threshold(model_call_threshold(model))
    return 0.5 if fitted is None else round(fitted, 2)


def turn_eagerness(model: str, slider: float | None) -> float | None:
    """The slider's value as the agent's `tool_eagerness`: None where it still shows the model's default, so the
    agent applies the exact fitted threshold (or lets an unfitted model decide), else the value the user set."""
    if slider is None or abs(float(slider) - fitted_eagerness(model)) < 0.005:
        return None
    return min(max(float(slider), 0.0), 1.0)


@lru_cache(maxsize=1)
def mode_examples() -> dict[str, list[str]]:
    """Example prompts per mode, from `ui/examples.toml`."""
    data = tomllib.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
    missing = set(MODES) - set(data)
    if missing:
        raise ValueError(f"{EXAMPLES_PATH}: no examples for modes {sorted(missing)}")
    return {mode: list(data[mode]["examples"]) for mode in MODES}


def queue_message(conv: Conversation, message: str) -> bool:
    """Put a typed message in the inbox (empty or blank text is ignored); `answer_inbox` answers it."""
    message = (message or "").strip()
    if not message:
        return False
    with conv.lock:
        conv.inbox.append(message)
    return True


def answer_inbox(manager: ModelManager, tools: Sequence[Tool], conv: Conversation, mode: str,
                 settings: AgentSettings) -> Iterator[Conversation]:
    """Answer the queued messages in order, one turn each, yielding after every visible change.

    Only one loop runs per conversation: a second call while one runs returns at once, and the running loop answers
    the new message when its current turn ends. New chat or Stop (a new epoch) ends the loop without another yield.
    """
    with conv.lock:
        if conv.answering:
            return
        conv.answering, epoch = True, conv.epoch
    try:
        while True:
            with conv.lock:
                if conv.epoch != epoch or not conv.inbox:
                    return
                message = conv.inbox.pop(0)
            turn = run_turn(manager, tools, conv, message, mode, settings)
            try:
                for state in turn:
                    if conv.epoch != epoch:
                        return
                    yield state
            finally:
                turn.close()
    finally:
        with conv.lock:
            if conv.epoch == epoch:
                conv.answering, conv.activity = False, ""


def run_turn(manager: ModelManager, tools: Sequence[Tool], conv: Conversation, message: str, mode: str,
             settings: AgentSettings) -> Iterator[Conversation]:
    """Run one user turn, yielding the conversation after every visible change (each token, each tool step)."""
    message = (message or "").strip()
    if not message:
        return
    display, history = conv.display, conv.history  # New chat replaces them: a stopped turn writes to the old ones
    conv.last_answer, conv.last_error = "", ""
    model = conv.model
    label = manager.label(model)
    outcome = TurnOutcome(model=model, label=label)
    conv.last_outcome = outcome
    display.append(render.user_message(message))
    conv.activity = f"⏳ Loading {label}…" if not manager.is_loaded(model) else f"💭 {label} is thinking…"
    yield conv
    llm = yield from _model_for_turn(manager, conv, display, model, label)
    if llm is None:
        outcome.error = conv.last_error
        conv.activity = ""
        return
    agent = Agent(llm, tools, mode, settings)
    turn_id = f"t{conv.turns}"
    conv.turns += 1
    conv.activity = f"💭 {label} is thinking…"
    yield conv
    answer_at: int | None = None
    answer = ""
    tool_at: dict[int, int] = {}
    start = time.perf_counter()
    events = agent.run(message, history)

    def seen_now() -> None:
        if outcome.first_visible_s is None:
            outcome.first_visible_s = time.perf_counter() - start

    try:
        for event in events:
            if isinstance(event, Token):
                seen_now()
                answer += event.text
                conv.activity = f"✍️ {label} is writing…"
                if answer_at is None:
                    display.append(render.assistant_message(answer))
                    answer_at = len(display) - 1
                else:
                    display[answer_at] = render.assistant_message(answer)
            elif isinstance(event, ToolCallStarted):
                seen_now()
                conv.activity = f"🔧 {label} is calling {render.escape_text(event.call.name)}…"
                display.append(render.tool_pending_message(event, turn_id))
                tool_at[event.index] = len(display) - 1
            elif isinstance(event, ToolCallFinished):
                outcome.tools.append((event.call.name, event.ok))
                conv.activity = f"💭 {label} is reading the result…"
                done = render.tool_done_message(event, turn_id)
                if event.index in tool_at:
                    display[tool_at[event.index]] = done
                else:
                    display.append(done)
            elif isinstance(event, Notice):
                display.append(render.notice_message(event))
            elif isinstance(event, AgentError):
                seen_now()
                display.append(render.error_message(event))
                conv.last_error = outcome.error = event.message
            elif isinstance(event, FinalAnswer):
                _finish(conv, display, history, outcome, event, answer_at is None, settings)
            elif isinstance(event, LLMCallFinished):
                if event.number == 1:
                    outcome.call_probability = getattr(event.usage, "call_probability", None)
                continue  # nothing to show
            else:
                continue
            yield conv
    except Exception as exc:  # never a traceback in the chat: say what failed and keep the session usable
        log.exception("turn failed")
        conv.last_error = outcome.error = redact_secrets(f"The turn failed: {type(exc).__name__}: {exc}")
        display.append(render.error_message(conv.last_error))
        conv.last_answer = ""
        yield conv
    finally:
        conv.activity = ""
        events.close()  # releases the model's lock at once if the user pressed Stop mid-stream


def _finish(conv: Conversation, display: list, history: list, outcome: TurnOutcome, event: FinalAnswer,
            nothing_streamed: bool, settings: AgentSettings) -> None:
    """The end of a turn: the answer if the agent wrote it itself, what to know about it, and the stats."""
    if nothing_streamed and event.text:  # an answer the agent wrote itself (budget spent, model failed)
        if outcome.first_visible_s is None:
            outcome.first_visible_s = event.stats.total_s
        display.append(render.assistant_message(event.text))
    outcome.answered = bool(event.text.strip()) and not outcome.error
    outcome.without_live_data = bool(getattr(event, "without_live_data", False))
    outcome.truncated = bool(getattr(event, "truncated", False))
    outcome.stats = event.stats
    if outcome.without_live_data:
        display.append(render.no_live_data_message())
    if outcome.truncated:
        display.append(render.truncated_message(settings.generation.max_tokens))
    display.append(render.stats_message(event.stats, outcome.label, outcome.first_visible_s,
                                        outcome.call_probability))
    history.extend(event.messages)
    conv.last_answer, conv.last_stats = event.text, event.stats


def _model_for_turn(manager: ModelManager, conv: Conversation, display: list, model: str, label: str):
    """The turn's model, loading it with a visible pending message if it is not loaded yet."""
    if manager.is_loaded(model):
        return manager.get(model)
    shown = render.escape_text(label)
    display.append({"role": "assistant", "content": "This happens once; later turns reuse it.",
                    "metadata": {"title": f"⏳ Loading {shown}…", "status": "pending"}})
    at = len(display) - 1
    yield conv
    try:
        llm = manager.get(model)
    except ModelLoadError as exc:
        conv.last_error = redact_secrets(f"Could not load {label}: {exc}")
        display[at] = render.error_message(conv.last_error)
        conv.last_answer = ""
        yield conv
        return None
    seconds = manager.load_seconds.get(model, 0.0)
    display[at] = {"role": "assistant", "content": f"Loaded in {seconds:.1f} s.",
                   "metadata": {"title": f"✅ {shown} loaded", "status": "done", "duration": round(seconds, 2)}}
    yield conv
    return llm


def switch_model(manager: ModelManager, conv: Conversation, name: str) -> Iterator[tuple[Conversation, str]]:
    """Load `name` for this conversation, yielding (conversation, status). A failure keeps the previous model.

    A switch in a conversation that has messages is marked in the chat, and the new model starts a fresh context:
    it does not continue from text another model wrote.
    """
    label = manager.label(name)
    if not manager.is_loaded(name):
        yield conv, f"⏳ Loading **{render.escape_text(label)}**…"
        try:
            manager.get(name)
        except ModelLoadError as exc:
            previous = manager.label(conv.model)
            reason = render.escape_text(redact_secrets(str(exc)))
            yield conv, (f"❌ Could not load **{render.escape_text(label)}**: {reason}  \n"
                         f"Still using **{render.escape_text(previous)}**.")
            return
        done = f"✅ **{render.escape_text(label)}** loaded in {manager.load_seconds.get(name, 0.0):.1f} s."
    else:
        manager.get(name)  # mark it most recently used
        done = f"✅ **{render.escape_text(label)}** is ready."
    if name != conv.model and conv.display:
        with conv.lock:
            conv.display.append(render.switch_message(label))
            conv.history = []
    conv.model = name
    yield conv, done + model_note(manager, name)


def model_note(manager: ModelManager, name: str) -> str:
    """A warning for a base model whose fine-tuned sibling (`<name>-funccall`) is offered: it rarely calls tools."""
    names = {option.name for option in manager.options()}
    if f"{name}-funccall" in names:
        return (f"  \nℹ️ This is the base model: it rarely calls tools, so its weather and facts are guesses. "
                f"**{render.escape_text(manager.label(name + '-funccall'))}** is its fine-tune for tool calling.")
    return ""


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
