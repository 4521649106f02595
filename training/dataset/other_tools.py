"""The `other_tools` category: functions the app does not have, listed the way an API user lists their own.

A small model fine-tuned only on the weather and Wikipedia tools learns "a task-like question -> a call" and calls
whatever is listed (the triangle-area question answered with a BMI function). These samples list 1-3 invented
functions (`data/other_tools.jsonl`, Meta's prompt with no persona, as the evaluation's BFCL cases render it) and ask
one of three things:

call      a question the listed function answers: the target calls it with the values the user wrote
other     a question for a function that is NOT listed (often a near miss from the same domain): plain text that
          says none of the listed functions fits, naming what they do instead
missing   a question for a listed function that omits required values: ask for them, no call

Which questions a split may use is fixed by the asked function (a hash of its name, like every entity here), so the
validation and test functions are never asked about in training; listed functions that are not asked may come
from any split.
"""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any

from agent.format import ToolCall, format_tool_calls
from agent.messages import Message
from training.dataset.builders import DATA_DIR, Ctx, Draft, NoChoice, fill

KIND_WEIGHTS = {"call": 0.45, "other": 0.40, "missing": 0.15}
LISTED_COUNTS = (1, 1, 2, 2, 3)  # how many functions a prompt lists
NEAR_MISS = 0.6  # share of prompts that list a function of the asked one's domain

NOT_LISTED = (
    "None of the functions I have can do that: I only have {desc}. So I won't call {it}.",
    "I can't help with that using the functions available here. The only {function_s} I have {is_are} {desc}.",
    "That isn't something my functions cover. I have {desc}, which {is_are} for something else.",
    "Sorry, none of the given functions fits this request: {desc} can't answer it.",
)
ASK_MISSING = (
    "To use {name} I need {lacks}. Could you give me {it}?",
    "I can do that with {name}, but I need {lacks} first. What {is_are} {it}?",
    "Happy to help. Please give me {lacks}, and I'll run {name}.",
)


@cache
def load_other_tools() -> tuple[dict[str, Any], ...]:
    """The invented functions, one JSON object a line: name, group, description, parameters, slots, asks, missing."""
    path = DATA_DIR / "other_tools.jsonl"
    if not path.exists():
        return ()
    return tuple(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def spec_of(function: dict[str, Any]) -> dict[str, Any]:
    """The function as a tool spec (what the system prompt lists)."""
    return {"name": function["name"], "description": function["description"], "parameters": function["parameters"]}


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe_listed(listed: list[dict[str, Any]]) -> dict[str, str]:
    """Slots for the "not listed" answers: each listed function with its description quoted."""
    one = len(listed) == 1
    desc = _joined([f'{f["name"]} ("{f["description"].strip()}")' for f in listed])
    return {"desc": desc, "it": "it" if one else "them", "is_are": "is" if one else "are",
            "function_s": "function" if one else "functions"}


def _listed_with(rng: random.Random, asked: dict[str, Any], everything: tuple[dict[str, Any], ...],
                 include_asked: bool) -> list[dict[str, Any]]:
    """The functions a prompt lists: the asked one or not, a same-domain near miss often, the rest at random."""
    count = rng.choice(LISTED_COUNTS)
    others = [f for f in everything if f["name"] != asked["name"]]
    same = [f for f in others if f["group"] == asked["group"]]
    listed = [asked] if include_asked else []
    if same and (not include_asked or count > 1) and rng.random() < NEAR_MISS:
        listed.append(rng.choice(same))
    pool = [f for f in others if f not in listed]
    listed += rng.sample(pool, max(0, count - len(listed)))
    rng.shuffle(listed)
    return listed


def _filled_ask(rng: random.Random, function: dict[str, Any], ask: dict[str, Any]) -> tuple[str, ToolCall, list[str]]:
    """The question with slot values drawn, the call it wants (arguments in the spec's order), the values' words."""
    drawn = {slot: rng.choice(function["slots"][slot]) for slot in ask["call"].values()}
    text = fill(ask["text"], **{slot: value[0] for slot, value in drawn.items()})
    order = list(function["parameters"]["properties"])
    arguments = {param: drawn[slot][1] for param, slot in sorted(ask["call"].items(), key=lambda p: order.index(p[0]))}
    return text, ToolCall(function["name"], arguments), [value[0] for value in drawn.values()]


def other_tools_draft(ctx: Ctx) -> Draft:
    everything = load_other_tools()
    asked_pool = [f for f in everything if f["name"] in ctx.pools.other_tools]
    if not asked_pool:
        raise NoChoice("no invented function belongs to this split")
    rng = ctx.rng
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    asked = rng.choice(asked_pool)
    if kind == "missing" and not asked.get("missing"):
        kind = "call"
    listed = _listed_with(rng, asked, everything, include_asked=kind != "other")
    templates, entities, keep = [], [f"function:{asked['name']}"], []
    if kind == "missing":
        question = rng.choice(asked["missing"])
        lacks = [p.replace("_", " ") for p in question["lacks"]]
        answer = fill(rng.choice(ASK_MISSING), name=asked["name"], lacks=_joined([f"the {p}" for p in lacks]),
                      it="it" if len(lacks) == 1 else "them", is_are="is" if len(lacks) == 1 else "are")
        messages, calls, templates = [Message("user", question["text"]), Message("assistant", answer)], [], [
            question["id"]]
    else:
        ask = rng.choice(asked["asks"])
        user, call, words = _filled_ask(rng, asked, ask)
        templates = [ask["id"]]
        if kind == "call":  # the values' words kept out of the surface noise (a typo would change the argument)
            messages, calls = [Message("user", user), Message("assistant", format_tool_calls([call]))], [call]
            keep = words
        else:
            answer = fill(rng.choice(NOT_LISTED), **describe_listed(listed))
            messages, calls = [Message("user", user), Message("assistant", answer)], []
    return Draft("other_tools", "custom", messages, calls, must_mention=keep, templates=templates, entities=entities,
                 functions=[spec_of(f) for f in listed])
