"""Scoring one reply of the first LLM call, and voting over several samples of the same prompt.

A reply is read exactly as the agent reads it (`agent.format.parse_tool_calls`): a list of calls, prose (`[]`), or a
malformed call. Per reply we record:

- format_valid: the reply is prose or well-formed calls (no parse error);
- called: at least one call parsed; relevance = called on a case that wants a call;
  restraint = nothing parsed on a case that wants none (BFCL's irrelevance rule: a malformed call counts as no call);
- name_correct: the multiset of called function names equals the expected one;
- ast_correct: `evaluation.ast_checker.check_calls` passes (BFCL's AST rules);
- correct: ast_correct on a call case, restraint on a no-call case (BFCL's per-category accuracy);
- buried_call: a prose reply that hides a well-formed call after some text (the agent would not run it), a sign that a
  model knows the call but not the format.
Several samples of one prompt are combined by majority vote over their decisions (`decision_key`), with the mean
sample accuracy and a consistency score (the share of samples that agree with the majority).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.format import ToolCall, ToolCallParseError, format_tool_calls, parse_tool_calls
from evaluation.ast_checker import check_calls
from evaluation.cases import MALFORMED, NO_CALL, EvalCase, decision_class

_EMBEDDED_CALL = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")


@dataclass
class SampleScore:
    """How one reply fares on one case."""

    reply: str
    decision: str  # "no call" | "weather" | "wiki" | "other" | "malformed"
    calls: str | None  # the parsed calls in pythonic syntax, None when there are none
    format_valid: bool
    called: bool
    correct: bool
    name_correct: bool | None = None  # only on cases that want a call
    ast_correct: bool | None = None
    error_type: str = ""
    error: str = ""
    buried_call: bool = False
    complete: bool = True  # False when generation stopped as soon as the reply read as prose
    latency_s: float = 0.0
    completion_tokens: int | None = None
    key: str = field(default="", repr=False)  # the decision key for majority voting

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decision_key(calls: Sequence[ToolCall] | None) -> str:
    """Replies that decide the same thing share a key: one per set of calls (any order), "no call", or "malformed"."""
    if calls is None:
        return MALFORMED
    if not calls:
        return NO_CALL
    items = sorted(json.dumps([c.name, c.arguments], sort_keys=True, default=str) for c in calls)
    return "|".join(items)


def find_buried_call(text: str) -> list[ToolCall]:
    """A well-formed `[f(...)]` list somewhere inside prose (robust extraction, for diagnosis only)."""
    for match in _EMBEDDED_CALL.finditer(text):
        if match.start() == 0:
            continue
        depth, end = 0, None
        for index in range(match.start(), len(text)):
            char = text[index]
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    end = index + 1
                    break
        if end is None:
            continue
        try:
            calls = parse_tool_calls(text[match.start():end])
        except ToolCallParseError:
            continue
        if calls:
            return calls
    return []


def score_reply(case: EvalCase, reply: str, complete: bool = True) -> SampleScore:
    """Score one reply to `case` (see the module docstring for each field)."""
    try:
        calls: list[ToolCall] | None = parse_tool_calls(reply)
        parse_error = None
    except ToolCallParseError as exc:
        calls, parse_error = None, exc.reason
    called = bool(calls)
    score = SampleScore(
        reply=reply,
        decision=decision_class(calls),
        calls=format_tool_calls(calls) if calls else None,
        format_valid=parse_error is None,
        called=called,
        correct=False,
        buried_call=complete and calls == [] and bool(find_buried_call(reply)),
        complete=complete,
        key=decision_key(calls),
    )
    if parse_error is not None:
        score.error_type, score.error = "malformed", parse_error
    if case.should_call:
        score.name_correct = called and sorted(c.name for c in calls) == case.expected_names
        if called:
            result = check_calls(calls, case.expected, case.specs)
            score.ast_correct = result.valid
            if not result.valid:
                score.error_type, score.error = result.error_type, result.message
        else:
            score.ast_correct = False
            if parse_error is None:
                score.error_type, score.error = "no_call", "the reply called no function"
        score.correct = bool(score.ast_correct)
    else:
        score.correct = not called
        if called:
            score.error_type, score.error = "unwanted_call", f"called {score.calls} where no call was wanted"
    return score


def backend_failure(case: EvalCase, message: str) -> SampleScore:
    """The model could not answer at all (for example the prompt does not fit its context): a failed reply."""
    return SampleScore(reply="", decision=MALFORMED, calls=None, format_valid=False, called=False, correct=False,
                       name_correct=False if case.should_call else None,
                       ast_correct=False if case.should_call else None,
                       error_type="backend_error", error=message, key=MALFORMED)


@dataclass
class CaseResult:
    """All samples of one case, and their majority vote."""

    case_id: str
    category: str
    source: str
    should_call: bool
    expected: str
    expected_class: str
    prompt: str  # the last user message, for reports
    samples: list[SampleScore]
    majority: SampleScore
    majority_share: float  # consistency: the share of samples that agree with the majority decision
    mean_sample_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for sample in data["samples"]:
            sample.pop("key", None)
        data["majority"].pop("key", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        data = dict(data)
        data["samples"] = [SampleScore(**s) for s in data["samples"]]
        data["majority"] = SampleScore(**data["majority"])
        return cls(**data)


def vote(case: EvalCase, samples: Sequence[SampleScore]) -> CaseResult:
    """Combine the samples of one case: the most common decision wins (ties: the one seen first)."""
    if not samples:
        raise ValueError(f"case {case.id}: no samples to vote on")
    counts = Counter(s.key for s in samples)
    best = max(counts.values())
    winner = next(s for s in samples if counts[s.key] == best)
    last_user = next((m.content for m in reversed(case.messages) if m.role == "user"), "")
    return CaseResult(
        case_id=case.id,
        category=case.category,
        source=case.source,
        should_call=case.should_call,
        expected=case.expected_text(),
        expected_class=expected_class(case),
        prompt=last_user,
        samples=list(samples),
        majority=winner,
        majority_share=best / len(samples),
        mean_sample_accuracy=sum(s.correct for s in samples) / len(samples),
    )


def expected_class(case: EvalCase) -> str:
    if not case.expected:
        return NO_CALL
    return decision_class([ToolCall(next(iter(p))) for p in case.expected])
