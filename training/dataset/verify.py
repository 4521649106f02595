"""Checking samples and replies: the calls parse, validate against the prompt's tools and are the intended ones;
plain answers contain no call and state the values of the tool results they rest on.

`verify_sample` checks a generated sample before it is written; `grade_reply` applies the same checks to a model's
reply, so training data and evaluation share one scorer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from agent.format import ToolCall, ToolCallParseError, format_tool_calls, parse_tool_calls, validate_call
from agent.messages import Message
from agent.prompts import MODES
from training.dataset.builders import fmt


@cache
def mode_specs(mode: str) -> dict[str, dict]:
    """{name: spec} of the tools a mode offers, in the mode's order (as `Agent.specs`)."""
    from tools import ALL_TOOLS

    return {name: ALL_TOOLS[name].spec for name in MODES[mode].tool_names}


def sample_specs(sample: dict[str, Any]) -> dict[str, dict]:
    """{name: spec} of the tools a sample's prompt lists: its own `functions`, else its mode's."""
    if sample.get("functions") is not None:
        return {spec["name"]: spec for spec in sample["functions"]}
    return mode_specs(sample["mode"])


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_UNFILLED_SLOT = re.compile(r"\{[a-z_][a-z_0-9]*\}")


def mentions(text: str, value: str) -> bool:
    """Does the text state this value? Numbers match as written, to one decimal or rounded; words ignore case."""
    text = text.replace("\u2212", "-")
    if not _NUMBER.fullmatch(value):
        return value.casefold() in text.casefold()
    number = float(value)
    forms = {value, fmt(number), str(round(number))}
    before = r"(?<![\d.])" if number < 0 else r"(?<![\d.\-])"
    return any(re.search(before + re.escape(form) + r"(?!\d|\.\d)", text) for form in forms)


def calls_match(expected: Sequence[ToolCall], actual: Sequence[ToolCall], specs: dict[str, dict],
                strict: bool = False) -> bool:
    """Same calls? Strict: identical, in order. Lenient: the evaluation's scorer (`evaluation.ast_checker`, BFCL's
    rules) with the expected calls as the possible answer: defaults may be left out or given, strings compare
    normalised (case, spaces and punctuation ignored), order is free."""
    if strict:
        return list(expected) == list(actual)
    from evaluation.ast_checker import check_calls
    from evaluation.cases import possible_answer_of

    return check_calls(list(actual), possible_answer_of(expected, list(specs.values())), specs).valid


def grade_reply(sample: dict[str, Any], reply: str, expected_calls: Sequence[ToolCall] | None = None,
                strict: bool = False) -> list[str]:
    """What is wrong with `reply` as the answer to this sample's prompt ([] = correct). Used to verify the targets
    (strict) and to score a model's replies (lenient: defaults filled in, case and call order ignored)."""
    from agent.format import classify_opening

    specs = sample_specs(sample)
    if expected_calls is None:
        expected_calls = parse_tool_calls(sample["messages"][-1]["content"])
    try:
        calls = parse_tool_calls(reply)
    except ToolCallParseError as exc:
        return [f"malformed tool call: {exc.reason}"]
    if expected_calls:
        if not calls:
            return ["answered in plain text where a tool call was expected"]
        problems = [error.message for call in calls for error in validate_call(call, specs)]
        if not calls_match(expected_calls, calls, specs, strict):
            problems.append(f"calls {format_tool_calls(calls)} differ from the expected "
                            f"{format_tool_calls(expected_calls)}")
        if strict and reply != format_tool_calls(expected_calls):
            problems.append("target is not in the canonical call format")
        return problems
    if calls:
        return [f"called {format_tool_calls(calls)} where a plain-text answer was expected"]
    if not reply.strip():
        return ["empty answer"]
    problems = []
    if classify_opening(reply) != "prose":
        problems.append("opens like a tool call: the agent would not stream it as an answer")
    problems += [f"does not mention {value!r}" for value in sample.get("must_mention", [])
                 if not mentions(reply, value)]
    problems += [f"mentions {value!r}, which no tool result supports"
                 for value in sample.get("must_not_mention", []) if value in reply]
    return problems


def verify_sample(sample: dict[str, Any], expected_calls: Sequence[ToolCall]) -> list[str]:
    """APIGen-style checks of a generated sample: format, then execution-consistency, then the target itself."""
    messages = sample["messages"]
    problems = []
    if messages[0]["role"] != "system" or messages[-1]["role"] != "assistant" or len(messages) < 3:
        problems.append("a sample runs system, user ..., assistant target")
    if messages[-2]["role"] not in ("user", "ipython"):
        problems.append("the target must answer a user message or tool results")
    for index, message in enumerate(messages):
        Message.from_dict(message)  # a bad role raises here: that is a generator bug, not a sample to drop
        if not message["content"].strip():
            problems.append(f"message {index} is empty")
        if message["role"] in ("user", "assistant") and _UNFILLED_SLOT.search(message["content"]):
            problems.append(f"message {index} has an unfilled template slot")
        if message["role"] == "ipython" and not isinstance(json.loads(message["content"]), dict):
            problems.append(f"message {index}: a tool result is a JSON object")
    for index, message in enumerate(messages[1:-1], 1):  # the history must be one the agent could have recorded
        if message["role"] != "assistant":
            continue
        results = 0
        while index + 1 + results < len(messages) and messages[index + 1 + results]["role"] == "ipython":
            results += 1
        if results:  # a call the agent ran: valid, one result per call
            try:
                history_calls = parse_tool_calls(message["content"])
            except ToolCallParseError:
                history_calls = []
            if not history_calls or any(validate_call(c, sample_specs(sample)) for c in history_calls):
                problems.append(f"message {index} holds an invalid call")
            elif results != len(history_calls):
                problems.append(f"message {index}: {len(history_calls)} calls but {results} results")
        elif grade_reply({**sample, "must_mention": [], "must_not_mention": []}, message["content"], []):
            problems.append(f"message {index}: an earlier answer that is not plain prose")
    return problems + grade_reply(sample, messages[-1]["content"], expected_calls, strict=True)
