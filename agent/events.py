"""Typed events the agent loop yields while a turn runs (the UI, the CLI and the benchmark all consume these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agent.backends.base import Usage
from agent.format import ToolCall
from agent.messages import Message


@dataclass
class TurnStats:
    """What one user turn cost."""

    llm_calls: int = 0
    tool_calls: int = 0  # calls run (a run call that returned an error counts here and in the next)
    tool_calls_failed: int = 0  # run, but the tool returned an error (unknown place, timeout, ...)
    tool_calls_refused: int = 0  # not run: invalid arguments, over the per-reply limit, or a repeat
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token_s: float | None = None  # first answer token shown to the user, from the start of the turn
    total_s: float = 0.0
    prompt_eval_s: float = 0.0
    decode_s: float = 0.0
    token_counts_known: bool = True  # False when a server reported no token usage for some call of the turn

    @property
    def evaluated_tokens(self) -> int:
        return max(self.prompt_tokens - self.cached_tokens, 0)

    def add(self, usage: Usage) -> None:
        self.llm_calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.cached_tokens += usage.cached_tokens
        self.completion_tokens += usage.completion_tokens
        self.prompt_eval_s += usage.prompt_eval_s
        self.decode_s += usage.decode_s
        self.token_counts_known = self.token_counts_known and usage.token_counts_known

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evaluated_tokens"] = self.evaluated_tokens
        return data

    def summary(self) -> str:
        ttft = "-" if self.time_to_first_token_s is None else f"{self.time_to_first_token_s:.2f}s"
        tokens = (f"prompt {self.prompt_tokens} tok ({self.evaluated_tokens} evaluated, {self.cached_tokens} cached) · "
                  f"{self.completion_tokens} generated" if self.token_counts_known
                  else "tokens unknown (the server reported no usage)")
        return (f"{self.llm_calls} LLM call{'s' if self.llm_calls != 1 else ''} · {tokens}"
                f" · first token {ttft} · total {self.total_s:.2f}s")


@dataclass
class Token:
    """A piece of the answer, streamed as soon as it is generated."""

    text: str
    type: str = field(default="token", init=False)


@dataclass
class ToolCallStarted:
    call: ToolCall
    index: int
    type: str = field(default="tool_call_started", init=False)


@dataclass
class ToolCallFinished:
    call: ToolCall
    index: int
    result: dict[str, Any]
    duration_s: float
    ok: bool
    type: str = field(default="tool_call_finished", init=False)


@dataclass
class LLMCallFinished:
    number: int  # 1-based within the turn
    text: str  # the raw reply
    usage: Usage
    type: str = field(default="llm_call_finished", init=False)


@dataclass
class Notice:
    """Something the user should know that is not an error (history trimmed to fit the context)."""

    text: str
    type: str = field(default="notice", init=False)


@dataclass
class AgentError:
    """Something went wrong; the turn goes on or ends with a clear message, never a traceback."""

    message: str
    type: str = field(default="error", init=False)


@dataclass
class FinalAnswer:
    text: str
    stats: TurnStats
    messages: list[Message]  # this turn's messages (user, tool calls, tool results, answer) to append to the history
    without_live_data: bool = False  # a tool mode answered without any successful tool call: say so to the user
    truncated: bool = False  # the answer was cut at the token limit
    # how the turn ended: "answer" (the model's), "grounded" (the model's, with the tool data it left out added),
    # "failure" (the agent said what failed), "composed" (written from the tool results), "asked" (a question for a
    # missing value), "budget" (no answer: calls spent), "error"
    ending: str = "answer"
    type: str = field(default="final_answer", init=False)


Event = Token | ToolCallStarted | ToolCallFinished | LLMCallFinished | Notice | AgentError | FinalAnswer


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready view of an event (what `python -m agent --json` prints)."""
    data: dict[str, Any] = {"type": event.type}
    if isinstance(event, Token):
        data["text"] = event.text
    elif isinstance(event, (ToolCallStarted, ToolCallFinished)):
        data.update(index=event.index, tool=event.call.name, arguments=event.call.arguments)
        if isinstance(event, ToolCallFinished):
            data.update(result=event.result, ok=event.ok, duration_s=round(event.duration_s, 4))
    elif isinstance(event, LLMCallFinished):
        data.update(number=event.number, text=event.text, usage=event.usage.to_dict())
    elif isinstance(event, (Notice, AgentError)):
        data["text" if isinstance(event, Notice) else "message"] = getattr(event, "text", None) or event.message
    elif isinstance(event, FinalAnswer):
        data.update(text=event.text, stats=event.stats.to_dict(), without_live_data=event.without_live_data,
                    truncated=event.truncated, ending=event.ending)
    return data
