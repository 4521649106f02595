"""N simultaneous users on one model: turn-time percentiles, and proof that no answer leaks between users.

Each user is a thread that runs its own conversation through its own `Agent` (as the app serves each browser
session), all sharing one loaded model (the backend's lock serialises the LLM calls; the KV-state cache swaps the
conversations in and out). Leaks are looked for four ways:
  1. what a user was streamed token by token is exactly the answer they got;
  2. every prompt sent to the model for a user holds only that user's own messages and tool results;
  3. every tool call made for a user is about that user's city;
  4. each answer equals the one the same conversation gets when it runs alone (greedy decoding; reported apart,
     since it also depends on llama.cpp computing the same logits from a restored and from a fresh KV cache).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from agent.messages import tool_result_message
from bench.metrics import percentile
from bench.scenario import Conversation
from bench.strategies import AgentStrategy, TurnResult


def run_users(strategy: AgentStrategy, conversations: Sequence[Conversation], simultaneous: bool
              ) -> tuple[dict[str, list[TurnResult]], float]:
    """Run each conversation to its end, all at once (threads) or one after another; returns results and wall time."""
    results: dict[str, list[TurnResult]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(conversations)) if simultaneous else None

    def user(conversation: Conversation) -> None:
        try:
            history: list = []
            if barrier is not None:
                barrier.wait()
            results[conversation.id] = [strategy.run_turn(conversation, i, history)
                                        for i in range(len(conversation.turns))]
        except BaseException as exc:  # re-raised in the main thread, so a failure is never silent
            errors.append(exc)

    start = time.perf_counter()
    if simultaneous:
        threads = [threading.Thread(target=user, args=(c,), name=f"bench-{c.id}") for c in conversations]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for conversation in conversations:
            user(conversation)
    wall_s = time.perf_counter() - start
    if errors:
        raise errors[0]
    return results, wall_s


def leak_problems(conversation: Conversation, turns: Sequence[TurnResult]) -> list[str]:
    """Checks 1-3 for one user; an empty list means nothing of anyone else's reached them."""
    problems = []
    own_users = {t.user for t in conversation.turns}
    own_results = {tool_result_message(c["result"]).content for turn in turns for c in turn.tool_calls}
    city = _city_of(conversation)
    for turn in turns:
        # Whitespace aside: a note the agent appends (the tool's data) follows the streamed reply's own trailing space.
        if turn.streamed is not None and turn.streamed.split() != turn.answer.split():
            problems.append(f"turn {turn.turn + 1}: the streamed tokens differ from the final answer")
        for call in turn.calls:
            for message in call.messages:
                if message.role == "user" and message.content not in own_users:
                    problems.append(f"turn {turn.turn + 1}: a prompt held another user's message "
                                    f"{message.content[:60]!r}")
                if message.role == "ipython" and message.content not in own_results:
                    problems.append(f"turn {turn.turn + 1}: a prompt held a tool result this user never got")
        for call in turn.tool_calls:
            location = str(call["arguments"].get("location", ""))
            got = json.dumps(call["result"], ensure_ascii=False)
            if city and (location != city or city not in got):
                problems.append(f"turn {turn.turn + 1}: a tool call for {location!r} (answer {got[:60]!r}) "
                                f"in the conversation about {city!r}")
    return problems


def _city_of(conversation: Conversation) -> str | None:
    name = conversation.id.split("-", 1)
    return name[1] if len(name) == 2 else None


def measure_concurrency(strategy: AgentStrategy, conversations: Sequence[Conversation]) -> dict[str, Any]:
    """Run the users alone (the reference), then all at once, each from a fresh start; percentiles and leak checks."""
    modes = sorted({c.mode for c in conversations})
    strategy.start_cold(modes)
    alone, alone_wall = run_users(strategy, conversations, simultaneous=False)
    strategy.start_cold(modes)
    together, wall = run_users(strategy, conversations, simultaneous=True)
    turn_times = [t.turn_s for c in conversations for t in together[c.id]]
    problems = {c.id: leak_problems(c, together[c.id]) for c in conversations}
    same = sum(a.answer == b.answer for c in conversations for a, b in zip(alone[c.id], together[c.id], strict=True))
    return {
        "users": len(conversations),
        "turns": len(turn_times),
        "wall_s": round(wall, 4),
        "turn_p50_s": percentile(turn_times, 50),
        "turn_p95_s": percentile(turn_times, 95),
        "turn_max_s": round(max(turn_times), 4) if turn_times else None,
        "sequential_wall_s": round(alone_wall, 4),
        "sequential_turn_p50_s": percentile([t.turn_s for c in conversations for t in alone[c.id]], 50),
        "no_leaks": not any(problems.values()),
        "leak_problems": {k: v for k, v in problems.items() if v},
        "answers_identical_to_alone": same,
        "answers_compared": len(turn_times),
        "per_user": [{"user": c.id, "turn_s": [round(t.turn_s, 4) for t in together[c.id]],
                      "answers": [t.answer for t in together[c.id]]} for c in conversations],
    }
