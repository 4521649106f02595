"""Fitting a turn's prompt into the model's context: the oldest history goes first, then long tool results and the
user's message are shortened, with a notice for each."""

from __future__ import annotations

from agent.backends.base import GenerationParams
from agent.messages import Message


def fit_context(llm, system: Message, history: list[Message], new: list[Message], params: GenerationParams):
    """Make the prompt plus room for the reply fit the context; returns (history, new messages, notices).

    First the oldest history goes, whole exchanges at a time. If this turn alone is still too long (a tool result
    of a whole web page, a very long message), this turn's tool results are shortened, longest first, and then
    the user's message: a note instead of a prompt the backend would refuse.
    """
    context = getattr(llm, "context_length", 0)
    if not context:
        return history, new, []
    budget = context - min(params.max_tokens, context // 2)  # a huge max_tokens must not leave no room at all
    notices, trimmed = [], 0
    tokens = llm.count_tokens([system, *history, *new])
    while history and tokens > budget:
        # Drop from the oldest message up to (not including) the next user message, so an exchange goes whole.
        cut = next((i for i in range(1, len(history)) if history[i].role == "user"), len(history))
        history, trimmed = history[cut:], trimmed + cut
        tokens = llm.count_tokens([system, *history, *new])
    if trimmed:
        notices.append(f"The conversation was too long for the model's context: the {trimmed} oldest "
                       f"message{'s were' if trimmed != 1 else ' was'} left out.")
    if tokens <= budget:
        return history, new, notices
    new = list(new)
    results = sorted((i for i, m in enumerate(new) if m.role == "ipython"), key=lambda i: -len(new[i].content))
    for i in [*results, 0]:
        if llm.count_tokens([system, *new]) <= budget:
            break
        new[i] = _shortened(llm, system, new, i, budget)
        if i == 0:
            notices.append(f"Your message was too long for the model's context: only its first "
                           f"{len(new[0].content)} characters were used.")
        else:
            notices.append("A tool result was too long for the model's context: it was shortened to fit.")
    return history, new, notices

def _shortened(llm, system: Message, new: list[Message], index: int, budget: int) -> Message:
    """`new[index]` cut to the longest start that lets the prompt fit (a binary search over its length)."""
    original = new[index]
    mark = "" if original.role == "user" else " …[cut to fit the model's context]"

    def cut(length: int) -> Message:
        return Message(original.role, original.content[:length].rstrip() + mark)

    low, high = 0, len(original.content)
    while low < high:
        middle = (low + high + 1) // 2
        trial = [*new[:index], cut(middle), *new[index + 1:]]
        if llm.count_tokens([system, *trial]) <= budget:
            low = middle
        else:
            high = middle - 1
    return cut(low)
