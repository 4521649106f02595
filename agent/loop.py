"""The agent loop: one user turn, at most `max_llm_calls` LLM calls, streamed as typed events.

The first LLM call is streamed. If its opening reads as prose, those tokens are the answer and the turn ends after one
call. If it opens like a tool call, the reply is buffered and parsed, each call is validated against the tool specs and
run, and the next call answers from the results. All calls of a turn share one prompt prefix (the same system
prompt, the history, the user message), so each later call only evaluates the new tokens.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from agent.backends.base import LLM, BackendError, GenerationParams, Usage
from agent.context import fit_context
from agent.endings import (
    TurnState,
    call_key,
    composed_answer,
    grammar_for,
    grounded_calls,
    missing_value,
    model_call_threshold,
    one_call_per_request,
    question_for,
    texts,
    threshold_from_eagerness,
    truncation_note,
)
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
from agent.format import (
    PYTHON_TAG,
    ToolCall,
    ToolCallParseError,
    classify_opening,
    format_tool_calls,
    parse_tool_calls,
    validate_call,
)
from agent.grounding import grounding_note
from agent.messages import Message, tool_result_message
from agent.numbers import number_rules
from agent.places import copy_choices, one_spelling, places_nobody_named
from agent.prompts import get_mode, mode_system_prompt
from agent.redaction import redact as redact_secrets
from tools.base import Tool, timed

MAX_USER_CHARS = 20_000
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL, but tab and newlines
_SPECIAL_TOKEN = re.compile(r"<\|(?=[\w.-]{1,64}\|>)")  # the opening of `<|im_end|>`, `<|eot_id|>`, `<|python_tag|>`


@dataclass
class AgentSettings:
    """How one turn may run."""

    max_llm_calls: int = field(default=2, metadata={"help": "LLM calls per user turn: 1 decision + answers."})
    max_tool_calls: int = field(default=4, metadata={"help": "Tool calls run from one model reply; more are refused."})
    icl: bool = field(default=False, metadata={"help": "Put few-shot tool-use examples in the system prompt."})
    tool_eagerness: float | None = field(default=None, metadata={
        "help": "0-1: how readily the model calls a tool: it calls when P(call) >= 1 - eagerness (1: always, 0: "
                "never). Default: the threshold fitted for the model in the catalogue, else the model decides."})
    calibrated_decision: bool = field(default=True, metadata={
        "help": "Use the call threshold; off, the model decides freely (the old behaviour)."})
    call_grammar: bool = field(default=True, metadata={"help": "Generate calls under the mode's GBNF grammar."})
    forbid_last_call: bool = field(default=True, metadata={
        "help": "The last LLM call of a turn cannot open a tool call, so every turn ends in an answer."})
    ask_for_missing: bool = field(default=True, metadata={
        "help": "Ask for a place the user never named instead of running a call with an invented one."})
    copy_places: bool = field(default=True, metadata={
        "help": "A place argument is one of the user's words (the call grammar's choices); a place the grammar forced "
                "on a model that wanted another is asked for (with ask_for_missing; backends that report it only)."})
    answer_failures: bool = field(default=True, metadata={
        "help": "When every tool call failed, the agent says plainly what failed instead of asking the model."})
    ground_answers: bool = field(default=True, metadata={
        "help": "An answer after a weather call that states none of its temperatures gets the data added."})
    ground_numbers: bool = field(default=True, metadata={
        "help": "An answer that retells an article a tool found writes only numbers the user or the tools gave "
                "(agent/numbers.py; the llama.cpp backend)."})
    generation: GenerationParams = field(default_factory=GenerationParams)


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

    def grammar_choices(self, conversation: Sequence[Message]) -> dict[str, list[str]]:
        """The call grammar's choices for place arguments (agent/places.py): only where a forced place can be told
        from a copied one (copy_places and ask_for_missing on, a backend that reports grammar overrides)."""
        settings = self.settings
        if not (settings.copy_places and settings.ask_for_missing and settings.call_grammar
                and getattr(self.llm, "reports_grammar_overrides", False)):
            return {}
        return copy_choices(self.specs.values(), conversation)

    def call_params(self, choices: dict[str, list[str]] | None = None) -> GenerationParams:
        """This agent's sampling settings with its call threshold (tool eagerness) and call grammar filled in."""
        params = self.settings.generation
        if not self.tools:
            return replace(params, call_threshold=None, call_grammar=None)
        threshold = params.call_threshold
        if not self.settings.calibrated_decision:
            threshold = None
        elif self.settings.tool_eagerness is not None:
            threshold = threshold_from_eagerness(self.settings.tool_eagerness)
        elif threshold is None:
            threshold = model_call_threshold(getattr(self.llm, "name", ""))
        grammar = params.call_grammar
        if grammar is None and self.settings.call_grammar:
            grammar = grammar_for(list(self.specs.values()), max(self.settings.max_tool_calls, 1), choices)
        return replace(params, call_threshold=threshold, call_grammar=grammar)

    def run(self, user_text: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        """Run one user turn, holding the model's `TurnGate` (agent/backends/turns.py) so that simultaneous users'
        turns run whole and in arrival order instead of interleaving their LLM calls."""
        gate = getattr(self.llm, "turn_gate", None)
        if gate is None:
            return (yield from self._run_turn(user_text, history))
        with gate.turn():
            return (yield from self._run_turn(user_text, history))

    def _run_turn(self, user_text: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        """One user turn. The last event is always a `FinalAnswer` whose `.messages` extend the history.

        Every turn ends in an answer: the last LLM call a turn may make cannot open a tool call (threshold inf), a
        reply that only repeats calls already run is answered by a call that cannot call again, and tool failures
        are answered in plain words by the agent itself.
        """
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
        choices = self.grammar_choices([*history, *new_messages])  # the user's words: the same for every call
        params = self.call_params(choices)
        turn = TurnState()
        answer, force_prose = "", False
        for number in range(1, self.settings.max_llm_calls + 1):
            last_call = number == self.settings.max_llm_calls
            history, new_messages, notices = fit_context(self.llm, system, history, new_messages, params)
            for notice in notices:
                yield Notice(notice)
            prompt = [system, *history, *new_messages]
            no_call = self.tools and (force_prose or (last_call and self.settings.forbid_last_call))
            this_call = replace(params, call_threshold=math.inf) if no_call else params
            if self.settings.ground_numbers and turn.successes:  # the numbers the tools gave (agent/numbers.py)
                this_call = replace(this_call, **number_rules(prompt, turn.successes))
            try:
                reply, usage, streamed = yield from self._call(prompt, this_call, stats, start)
            except BackendError as exc:
                message = redact_secrets(str(exc))
                yield AgentError(message)
                answer, turn.ending = f"Sorry, the model failed: {message}", "error"
                break
            stats.add(usage)
            yield LLMCallFinished(number, reply, usage)
            turn.truncated = usage.finish_reason == "length"
            if streamed:
                answer = reply
                note = grounding_note(answer, turn.successes) if self.settings.ground_answers else ""
                if note:  # the answer does not state the data it rests on: show the data with it
                    yield Token(f"\n\n{note}")
                    answer, turn.ending = f"{answer}\n\n{note}".strip(), "grounded"
                new_messages.append(Message("assistant", answer))
                buried = self._buried_calls(reply)
                if buried:
                    names = ", ".join(dict.fromkeys(call.name for call in buried))
                    yield Notice(f"The model wrote a call to {names} inside its answer instead of replying with the "
                                 "call alone, so it was not run. Ask again to get the tool's result.")
                break
            turn.truncated = False
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
            if parse_error is not None:
                yield AgentError(f"The model wrote a malformed tool call ({parse_error.reason}).")
                if last_call:
                    answer = yield from self._compose(turn, "composed", malformed=True)
                    break
                new_messages += [Message("assistant", reply), quoted_tool_result(
                    {"error": f"Your function call could not be parsed: {parse_error.reason}. Answer in plain text, "
                              "or call a function in the format [func_name(param=value)]."})]
                continue
            if all(call_key(call) in turn.results for call in calls) or last_call:
                # The model repeats a call it has the result of, or calls where it may not (a backend that cannot
                # forbid calls): never run it; answer with a call that cannot call, or from the results.
                if last_call and not self.settings.forbid_last_call:  # the old behaviour, kept for evaluation
                    yield AgentError(f"The model asked for tools again, but this turn's budget of "
                                     f"{self.settings.max_llm_calls} LLM calls is spent.")
                    answer, turn.ending = texts()["answers"]["no_answer"], "budget"
                    yield Token(answer)
                    break
                if last_call or force_prose:
                    answer = yield from self._compose(turn, "composed")
                    break
                yield Notice("The model asked for the same tool call again; it answers from the result it has.")
                force_prose = True
                continue
            written = len(calls)
            if self.settings.ask_for_missing:
                forced = places_nobody_named(reply, usage.grammar_overrides) if choices else []
                parameter = missing_value(calls, self.specs, [*history, *new_messages], forced)
                kept = grounded_calls(calls, self.specs, [*history, *new_messages], forced) if parameter else calls
                if not kept:
                    answer, turn.asked, turn.ending = question_for(parameter), True, "asked"
                    yield Token(answer)
                    break
                if len(kept) < len(calls):  # run what the user asked for; drop calls with values nobody gave
                    yield Notice(f"Not run: {len(calls) - len(kept)} call(s) with a place or value you did not give.")
                    calls = kept
            calls = one_call_per_request(one_spelling(calls), self.specs, [*history, *new_messages])
            if len(calls) < written:  # "Londn" beside "London" runs London's once; Oslo's weather once, not per unit
                reply = format_tool_calls(calls)  # the history keeps the calls that ran
            new_messages.append(Message("assistant", reply))
            turn.reply_failures = []
            for result in (yield from turn.recorded(self._run_tools(calls, stats, turn.results))):
                new_messages.append(quoted_tool_result(result))
            if self.settings.answer_failures and turn.all_failed():
                answer = yield from self._compose(turn, "failure")
                break
        else:
            answer, turn.ending = answer or texts()["answers"]["no_answer"], "budget"
        if turn.truncated:
            note = truncation_note(params.max_tokens)
            yield Token(f"\n\n{note}")
            answer = f"{answer}\n\n{note}"
        if not new_messages or new_messages[-1].role != "assistant":
            new_messages.append(Message("assistant", answer))
        stats.total_s = time.perf_counter() - start
        yield FinalAnswer(answer, stats, new_messages, without_live_data=bool(self.tools) and not turn.successes
                          and not turn.asked, truncated=turn.truncated, ending=turn.ending)

    def _compose(self, turn: TurnState, ending: str, malformed: bool = False):
        """End the turn with an answer written from its tool results (streamed as one token)."""
        answer, turn.ending = composed_answer(turn.successes, turn.failures, malformed), ending
        yield Token(answer)
        return answer

    def _call(self, prompt: list[Message], params: GenerationParams, stats: TurnStats, start: float):
        """Stream one LLM call. Prose is yielded token by token; a call is buffered. Returns (text, usage, streamed)."""
        buffer, decision, usage = "", "undecided", None
        touch = getattr(getattr(self.llm, "turn_gate", None), "touch", lambda: None)
        for chunk in self.llm.stream(prompt, params):
            touch()  # still working: the turn keeps the model (its lease only lapses when it goes quiet)
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

        The same call twice in one reply was already dropped (`one_call_per_request`). A call already run in an
        earlier reply of this turn is not run again: small models repeat a call instead of answering from its
        result, and would spend the budget on it.
        """
        results = []
        for index, call in enumerate(calls):
            key = call_key(call)
            yield ToolCallStarted(call, index)
            errors = validate_call(call, self.specs)
            if index >= self.settings.max_tool_calls:
                result, duration = {"error": f"too many tool calls in one reply (limit "
                                             f"{self.settings.max_tool_calls}); this one was not run"}, 0.0
                stats.tool_calls_refused += 1
            elif errors:
                result, duration = {"error": "; ".join(e.message for e in errors)}, 0.0
                stats.tool_calls_refused += 1
            elif key in turn_results:
                result, duration = {"error": "this exact call was already made in this turn and its result is "
                                             "above; answer the user from that result"}, 0.0
                stats.tool_calls_refused += 1
            else:
                result, duration = timed(self.tools[call.name], call.arguments)
                stats.tool_calls += 1
                stats.tool_calls_failed += int("error" in result)
                turn_results[key] = result
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


def parse_tool_calls_quiet(text: str) -> list[ToolCall]:
    try:
        return parse_tool_calls(text)
    except ToolCallParseError:
        return []


def with_settings(agent: Agent, **changes) -> Agent:
    """A copy of `agent` with some settings changed (the UI's per-request settings)."""
    return Agent(agent.llm, list(agent.tools.values()), agent.mode.name, replace(agent.settings, **changes),
                 agent.today)
