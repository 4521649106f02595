"""The agent loop: one user turn, at most `max_llm_calls` LLM calls, streamed as typed events.

The first LLM call is streamed. If its opening reads as prose, those tokens are the answer and the turn ends after one
call. If it opens like a tool call, the reply is buffered and parsed, each call is validated against the tool specs and
run, and the next call answers from the results. All calls of a turn share one prompt prefix (the same system
prompt, the history, the user message), so each later call only evaluates the new tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from agent.backends.base import LLM, BackendError, GenerationParams, Usage
from agent.events import (
    AgentError,
    Event,
    FinalAnswer,
    LLMCallFinished,
    Notice,
    Token,
    ToolCallFinished,
    ToolCallStarted,
    TurnStats,
)
from agent.format import PYTHON_TAG, ToolCall, ToolCallParseError, parse_tool_calls, validate_call
from agent.messages import Message, tool_result_message
from agent.prompts import get_mode, mode_system_prompt
from tools.base import Tool, timed

MAX_USER_CHARS = 20_000
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL, but tab and newlines
_SPECIAL_TOKEN = re.compile(r"<\|(?=[\w.-]{1,64}\|>)")  # the opening of `<|im_end|>`, `<|eot_id|>`, `<|python_tag|>`
_SECRET_NAME = re.compile(r"TOKEN|API_KEY|APIKEY|SECRET|PASSWORD", re.IGNORECASE)


@dataclass
class AgentSettings:
    """How one turn may run."""

    max_llm_calls: int = field(default=2, metadata={"help": "LLM calls per user turn: 1 decision + answers."})
    max_tool_calls: int = field(default=4, metadata={"help": "Tool calls run from one model reply; more are refused."})
    icl: bool = field(default=False, metadata={"help": "Put few-shot tool-use examples in the system prompt."})
    generation: GenerationParams = field(default_factory=GenerationParams)


# ------------------------------------------------------------------------------------------- reading the opening

_IDENT_SO_FAR = re.compile(r"[A-Za-z_][\w.]*(?:\(\s*(?:[A-Za-z_]\w*)?\s*)?")  # `get_weather(cit` could go either way
_IDENT_CALL = re.compile(r"[A-Za-z_][\w.]*\((?:\s*[A-Za-z_]\w*\s*=|\s*\))")  # a bare call: `f(a=...` or `f()`
_LIST_CALL = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_LIST_UNDECIDED = re.compile(r"\[\s*(?:[A-Za-z_][\w.]*\s*)?")
_JSON_CALL = re.compile(r"\[?\s*\{\s*[\"']name[\"']")
_JSON_UNDECIDED = re.compile(r"\[?\s*\{\s*(?:[\"'][a-z]{0,4})?")


def classify_opening(text: str) -> str:
    """Read the start of a reply: "call", "prose", or "undecided" (need more tokens)."""
    body = text.lstrip()
    if body.startswith(PYTHON_TAG):
        return "call"
    if not body or PYTHON_TAG.startswith(body):
        return "undecided"
    if body.startswith("`"):
        if "\n" not in body:
            return "undecided" if re.fullmatch(r"`{1,3}[\w-]*", body) else "prose"
        if not body.startswith("```"):
            return "prose"
        body = body.split("\n", 1)[1].lstrip()
        if not body:
            return "undecided"
    if _LIST_CALL.match(body) or _JSON_CALL.match(body) or _IDENT_CALL.match(body):
        return "call"
    if _LIST_UNDECIDED.fullmatch(body) or _JSON_UNDECIDED.fullmatch(body) or _IDENT_SO_FAR.fullmatch(body):
        return "undecided"
    return "prose"


# ------------------------------------------------------------------------------------- text from outside

def clean_user_text(text: str) -> str:
    """The user's message as the model gets it: valid UTF-8, no control characters, no chat-template special tokens.

    Backends tokenize the rendered prompt with special tokens parsed (llama.cpp's `special=True`), so `<|im_end|>`
    typed or pasted into a message would really end the turn and could forge a system or tool turn after it. A
    zero-width non-joiner after `<` keeps the text as it reads and makes it ordinary text.
    """
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\r\n", "\n")  # lone surrogates become "?"
    text = _CONTROL_CHARS.sub("", text)
    return _SPECIAL_TOKEN.sub("<\u200c|", text)


def quoted_tool_result(result: dict) -> Message:
    """A tool result as the model reads it: JSON, so whatever a web page says arrives as quoted data.

    `<|` inside a JSON string is written `\\u003c|`: the same data once decoded, but no longer a special token that
    could close the tool turn and open a forged one.
    """
    content = tool_result_message(result).content.encode("utf-8", "replace").decode("utf-8")
    return Message("ipython", _SPECIAL_TOKEN.sub(lambda _: "\\u003c|", content))


def redact_secrets(text: str) -> str:
    """`text` with the value of every secret-looking environment variable (HF_TOKEN, JUDGE_API_KEY, ...) hidden.

    Error messages from a server can echo the request back (an Authorization header in a 401 page); they are shown to
    the user and logged, so they pass through here first.
    """
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "[redacted]")
    return text


class Agent:
    """A tool-calling agent over any `LLM`, in one of the modes (weather, wiki, chat, all)."""

    def __init__(self, llm: LLM, tools: Sequence[Tool], mode: str = "all", settings: AgentSettings | None = None,
                 today: dt.date | None = None):
        self.llm = llm
        self.mode = get_mode(mode)
        available = {t.name: t for t in tools}
        self.tools = {name: available[name] for name in self.mode.tool_names if name in available}
        self.settings = settings or AgentSettings()
        self.today = today

    @property
    def specs(self) -> dict[str, dict]:
        return {name: t.spec for name, t in self.tools.items()}

    def system_message(self) -> Message:
        specs = [t.spec for t in self.tools.values()]
        return Message("system", mode_system_prompt(self.mode, specs, today=self.today, icl=self.settings.icl))

    def run(self, user_text: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        """Run one user turn. The last event is always a `FinalAnswer` whose `.messages` extend the history."""
        start = time.perf_counter()
        stats = TurnStats()
        user_text = clean_user_text((user_text or "").strip()).strip()
        if not any(c.isprintable() and not c.isspace() for c in user_text):  # empty, or only invisible characters
            yield AgentError("Empty message: type a question first.")
            yield FinalAnswer("Please type a question.", stats, [])
            return
        if len(user_text) > MAX_USER_CHARS:
            yield Notice(f"Your message was {len(user_text)} characters; only the first {MAX_USER_CHARS} were used.")
            user_text = user_text[:MAX_USER_CHARS]
        new_messages = [Message("user", user_text)]
        history = list(history)
        system = self.system_message()
        params = self.settings.generation
        answer = ""
        turn_results: dict[str, dict] = {}  # every call run this turn, so a repeat is answered without running again
        for number in range(1, self.settings.max_llm_calls + 1):
            history, new_messages, notices = self._fit_context(system, history, new_messages, params)
            for notice in notices:
                yield Notice(notice)
            prompt = [system, *history, *new_messages]
            try:
                reply, usage, streamed = yield from self._call(prompt, params, stats, start)
            except BackendError as exc:
                message = redact_secrets(str(exc))
                yield AgentError(message)
                answer = f"Sorry, the model failed: {message}"
                break
            stats.add(usage)
            yield LLMCallFinished(number, reply, usage)
            if streamed:
                answer = reply
                new_messages.append(Message("assistant", reply))
                buried = self._buried_calls(reply)
                if buried:
                    names = ", ".join(dict.fromkeys(call.name for call in buried))
                    yield Notice(f"The model wrote a call to {names} inside its answer instead of replying with the "
                                 "call alone, so it was not run. Ask again to get the tool's result.")
                break
            try:
                calls = parse_tool_calls(reply)
            except ToolCallParseError as exc:
                calls, parse_error = None, exc
            else:
                parse_error = None
            if calls == []:  # it opened like a call but is prose after all: show it as the answer
                answer = reply.strip().removeprefix(PYTHON_TAG).strip()
                yield Token(answer)
                new_messages.append(Message("assistant", reply))
                break
            last_call = number == self.settings.max_llm_calls
            if parse_error is not None:
                yield AgentError(f"The model wrote a malformed tool call ({parse_error.reason}).")
                if last_call:
                    answer = "Sorry, I could not form a valid tool call for that. Please rephrase your question."
                    break
                new_messages += [Message("assistant", reply), quoted_tool_result(
                    {"error": f"Your function call could not be parsed: {parse_error.reason}. Answer in plain text, "
                              "or call a function in the format [func_name(param=value)]."})]
                continue
            if last_call:
                yield AgentError(f"The model asked for tools again, but this turn's budget of "
                                 f"{self.settings.max_llm_calls} LLM calls is spent.")
                answer = ("Sorry, I ran out of steps before I could answer (the limit is "
                          f"{self.settings.max_llm_calls} model calls per turn).")
                break
            new_messages.append(Message("assistant", reply))
            for result in (yield from self._run_tools(calls, stats, turn_results)):
                new_messages.append(quoted_tool_result(result))
        if not new_messages or new_messages[-1].role != "assistant":
            new_messages.append(Message("assistant", answer))
        stats.total_s = time.perf_counter() - start
        yield FinalAnswer(answer, stats, new_messages)

    def _call(self, prompt: list[Message], params: GenerationParams, stats: TurnStats, start: float):
        """Stream one LLM call. Prose is yielded token by token; a call is buffered. Returns (text, usage, streamed)."""
        buffer, decision, usage = "", "undecided", None
        for chunk in self.llm.stream(prompt, params):
            if isinstance(chunk, Usage):
                usage = chunk
                continue
            buffer += chunk
            if decision == "undecided":
                decision = classify_opening(buffer)
                if decision == "prose":
                    stats.time_to_first_token_s = time.perf_counter() - start
                    yield Token(buffer.lstrip())
            elif decision == "prose":
                yield Token(chunk)
        if decision == "undecided":  # the reply ended before it could be read either way
            decision = "call" if buffer.strip() and parse_tool_calls_quiet(buffer) else "prose"
            if decision == "prose" and buffer.strip():
                stats.time_to_first_token_s = time.perf_counter() - start
                yield Token(buffer.lstrip())
        if usage is None:
            raise BackendError(f"{getattr(self.llm, 'name', 'the model')} ended its reply without token usage")
        if decision == "prose":
            return buffer.strip(), usage, True
        return buffer, usage, False

    def _run_tools(self, calls: list[ToolCall], stats: TurnStats, turn_results: dict[str, dict]):
        """Validate and run the calls of one reply (never an unvalidated one); returns their results in order.

        The same call twice in one reply runs once. A call already run in an earlier reply of this turn is not run
        again: small models repeat a call instead of answering from its result, and would spend the budget on it.
        """
        results, seen = [], set()
        for index, call in enumerate(calls):
            key = json.dumps([call.name, call.arguments], sort_keys=True, default=str)
            if key in seen:
                continue
            yield ToolCallStarted(call, index)
            errors = validate_call(call, self.specs)
            if index >= self.settings.max_tool_calls:
                result, duration = {"error": f"too many tool calls in one reply (limit "
                                             f"{self.settings.max_tool_calls}); this one was not run"}, 0.0
            elif errors:
                result, duration = {"error": "; ".join(e.message for e in errors)}, 0.0
            elif key in turn_results:
                result, duration = {"error": "this exact call was already made in this turn and its result is "
                                             "above; answer the user from that result"}, 0.0
            else:
                result, duration = timed(self.tools[call.name], call.arguments)
                stats.tool_calls += 1
                turn_results[key] = result
            seen.add(key)
            results.append(result)
            yield ToolCallFinished(call, index, result, duration, ok="error" not in result)
        return results

    def _buried_calls(self, text: str) -> list[ToolCall]:
        """Calls to this agent's tools written inside prose. They are not run (a call must be the whole reply), but
        the user should know why nothing happened."""
        if not self.tools or not any(name in text for name in self.tools):
            return []
        names = "|".join(re.escape(name) for name in self.tools)
        found: list[ToolCall] = []
        for match in list(re.finditer(rf"\[?\s*\b(?:{names})\s*\(", text))[:5]:
            ends = [i for i, c in enumerate(text[match.end():], match.end()) if c in ")]"][:10]
            for end in ends:
                calls = parse_tool_calls_quiet(text[match.start():end + 1])
                if calls:
                    found += [call for call in calls if call.name in self.tools]
                    break
        return found

    def _fit_context(self, system: Message, history: list[Message], new: list[Message], params: GenerationParams):
        """Make the prompt plus room for the reply fit the context; returns (history, new messages, notices).

        First the oldest history goes, whole exchanges at a time. If this turn alone is still too long (a tool result
        of a whole web page, a very long message), this turn's tool results are shortened, longest first, and then
        the user's message: a note instead of a prompt the backend would refuse.
        """
        context = getattr(self.llm, "context_length", 0)
        if not context:
            return history, new, []
        budget = context - min(params.max_tokens, context // 2)  # a huge max_tokens must not leave no room at all
        notices, trimmed = [], 0
        tokens = self.llm.count_tokens([system, *history, *new])
        while history and tokens > budget:
            # Drop from the oldest message up to (not including) the next user message, so an exchange goes whole.
            cut = next((i for i in range(1, len(history)) if history[i].role == "user"), len(history))
            history, trimmed = history[cut:], trimmed + cut
            tokens = self.llm.count_tokens([system, *history, *new])
        if trimmed:
            notices.append(f"The conversation was too long for the model's context: the {trimmed} oldest "
                           f"message{'s were' if trimmed != 1 else ' was'} left out.")
        if tokens <= budget:
            return history, new, notices
        new = list(new)
        results = sorted((i for i, m in enumerate(new) if m.role == "ipython"), key=lambda i: -len(new[i].content))
        for i in [*results, 0]:
            if self.llm.count_tokens([system, *new]) <= budget:
                break
            new[i] = self._shortened(system, new, i, budget)
            if i == 0:
                notices.append(f"Your message was too long for the model's context: only its first "
                               f"{len(new[0].content)} characters were used.")
            else:
                notices.append("A tool result was too long for the model's context: it was shortened to fit.")
        return history, new, notices

    def _shortened(self, system: Message, new: list[Message], index: int, budget: int) -> Message:
        """`new[index]` cut to the longest start that lets the prompt fit (a binary search over its length)."""
        original = new[index]
        mark = "" if original.role == "user" else " …[cut to fit the model's context]"

        def cut(length: int) -> Message:
            return Message(original.role, original.content[:length].rstrip() + mark)

        low, high = 0, len(original.content)
        while low < high:
            middle = (low + high + 1) // 2
            trial = [*new[:index], cut(middle), *new[index + 1:]]
            if self.llm.count_tokens([system, *trial]) <= budget:
                low = middle
            else:
                high = middle - 1
        return cut(low)


def parse_tool_calls_quiet(text: str) -> list[ToolCall]:
    try:
        return parse_tool_calls(text)
    except ToolCallParseError:
        return []


def with_settings(agent: Agent, **changes) -> Agent:
    """A copy of `agent` with some settings changed (the UI's per-request settings)."""
    return Agent(agent.llm, list(agent.tools.values()), agent.mode.name, replace(agent.settings, **changes),
                 agent.today)
