"""The benchmark's fixed scripted set: conversations, the order their turns run in, and the simultaneous users.

Read from `bench/conversations.json`. A turn's `tool_call` is the model's scripted decision (the exact call text, or
null for a turn answered without a tool); `schedule` interleaves conversations turn by turn, so several users and
several modes (system prompts) take turns on one model, as on a shared Space.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from agent.format import parse_tool_calls
from agent.prompts import MODES

DEFAULT_CONVERSATIONS = Path(__file__).resolve().parent / "conversations.json"


@dataclass(frozen=True)
class ScriptedTurn:
    user: str
    tool_call: str | None = None  # what the model "decides" to call; None: it answers directly

    @property
    def uses_tool(self) -> bool:
        return self.tool_call is not None


@dataclass(frozen=True)
class Conversation:
    id: str
    mode: str
    turns: tuple[ScriptedTurn, ...]


@dataclass(frozen=True)
class Step:
    """One turn of the schedule: conversation `conversation.id`, its turn number `index` (0-based)."""

    conversation: Conversation
    index: int

    @property
    def turn(self) -> ScriptedTurn:
        return self.conversation.turns[self.index]


@dataclass(frozen=True)
class Scenario:
    conversations: dict[str, Conversation]
    schedule: tuple[str, ...]
    concurrent_mode: str = "all"
    concurrent_cities: tuple[str, ...] = ()
    concurrent_turns: tuple[ScriptedTurn, ...] = ()

    def steps(self) -> list[Step]:
        """The turns in schedule order."""
        seen: Counter[str] = Counter()
        steps = []
        for conversation_id in self.schedule:
            steps.append(Step(self.conversations[conversation_id], seen[conversation_id]))
            seen[conversation_id] += 1
        return steps

    def concurrent_conversations(self, users: int) -> list[Conversation]:
        """`users` conversations for the simultaneous-users run, each about its own city."""
        if not self.concurrent_cities or not self.concurrent_turns:
            raise ValueError("the scenario has no concurrent_users section")
        conversations = []
        for n in range(users):
            city = self.concurrent_cities[n % len(self.concurrent_cities)]
            turns = tuple(ScriptedTurn(t.user.replace("{city}", city),
                                       t.tool_call.replace("{city}", city) if t.tool_call else None)
                          for t in self.concurrent_turns)
            conversations.append(Conversation(f"user{n + 1}-{city}", self.concurrent_mode, turns))
        return conversations


def _turns(raw: list[dict], where: str) -> tuple[ScriptedTurn, ...]:
    turns = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item.get("user"), str) or not item["user"].strip():
            raise ValueError(f"{where}, turn {number}: needs a non-empty 'user' text")
        call = item.get("tool_call")
        if call is not None and not parse_tool_calls(call.replace("{city}", "X")):
            raise ValueError(f"{where}, turn {number}: tool_call {call!r} is not a function call")
        turns.append(ScriptedTurn(item["user"], call))
    return tuple(turns)


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and check a conversations file: every mode known, every call parseable, the schedule consistent."""
    path = Path(path or DEFAULT_CONVERSATIONS)
    data = json.loads(path.read_text(encoding="utf-8"))
    conversations: dict[str, Conversation] = {}
    for raw in data["conversations"]:
        if raw["mode"] not in MODES:
            raise ValueError(f"{path}: conversation {raw['id']!r} has unknown mode {raw['mode']!r}")
        conversations[raw["id"]] = Conversation(raw["id"], raw["mode"], _turns(raw["turns"], f"{path}: {raw['id']}"))
    schedule = tuple(data.get("schedule") or [c for c in conversations for _ in conversations[c].turns])
    counts = Counter(schedule)
    for conversation_id, count in counts.items():
        if conversation_id not in conversations:
            raise ValueError(f"{path}: the schedule names unknown conversation {conversation_id!r}")
        if count > len(conversations[conversation_id].turns):
            raise ValueError(f"{path}: the schedule runs {conversation_id!r} {count} times, but it has only "
                             f"{len(conversations[conversation_id].turns)} turns")
    concurrent = data.get("concurrent_users") or {}
    return Scenario(
        conversations=conversations,
        schedule=schedule,
        concurrent_mode=concurrent.get("mode", "all"),
        concurrent_cities=tuple(concurrent.get("cities", ())),
        concurrent_turns=_turns(concurrent.get("turns", []), f"{path}: concurrent_users"),
    )
