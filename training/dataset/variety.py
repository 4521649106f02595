"""Surface variety of the dataset: the dates of the system prompts, and noise in the user messages.

Dates: each split draws its "Today Date" from a few dates of its own (`date_pools`).

Noise, how people really type while the right reply stays the same: a seeded share of user messages gets one or
two of: all lower case, no final punctuation, a typo (two letters swapped or one dropped), a filler opening ("hey so
quick question, ..."). A typo never touches a word the reply depends on: the place or topic a call carries, an
entity's name, a word of the target reply, or anything in quotes (a phrase to translate or spell). Numbers are never
touched. The target is unchanged, so `grade_reply` still holds.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable, Sequence

from agent.format import ToolCallParseError, parse_tool_calls
from agent.messages import Message

FIRST_YEAR, LAST_YEAR = 2024, 2027  # the years a "Today Date" of the system prompts is drawn from
DATES_PER_SPLIT = 8
NOISE_SHARE = 0.25  # of user messages
KINDS = ("lower", "no_punct", "typo", "filler")
FILLERS = ["hey so quick question, ", "hi! ", "ok so ", "um, ", "hello, ", "quick one: ", "so ", "hey, ",
           "sorry to bother you, ", "random question but "]
_WORD = re.compile(r"[A-Za-z]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|‘[^’]*’|“[^”]*”")


def date_pools(seed: int, splits: Sequence[str]) -> dict[str, list[dt.date]]:
    """The "Today Date"s each split's system prompts may carry: 8 a split, disjoint across splits.

    A few dates, not one a sample: the system prompt (~630 tokens) is then shared by many samples, so the trainer can
    encode it once (with 4 modes, at most 32 distinct system prompts a split). The year is cut into 8 slots of about
    15 days per split, dealt to the splits in turn, so each split's dates spread over every season (the simulated
    weather follows them) and no date is in two splits.
    """
    rng = random.Random(f"{seed}/dates")
    slots = len(splits) * DATES_PER_SPLIT
    pools: dict[str, list[dt.date]] = {split: [] for split in splits}
    for slot in range(slots):
        start = dt.date(rng.randint(FIRST_YEAR, LAST_YEAR), 1, 1) + dt.timedelta(days=slot * 365 // slots)
        pools[splits[slot % len(splits)]].append(start + dt.timedelta(days=rng.randrange(365 // slots)))
    return pools


def protected_words(messages: Iterable[Message], extra: Iterable[str]) -> set[str]:
    """Words a typo must not touch: every word of the calls' string arguments and of `extra` (entities, values)."""
    texts = list(extra)
    for message in messages:
        if message.role != "assistant":
            continue
        try:
            calls = parse_tool_calls(message.content)
        except ToolCallParseError:
            continue
        texts += [v for call in calls for v in call.arguments.values() if isinstance(v, str)]
    return {w.casefold() for text in texts for w in _WORD.findall(text)}


def _is_protected(word: str, protected: set[str]) -> bool:
    """A protected word, or a form of one ("holes" for the query "hole", "Paris" for "Parisian")."""
    word = word.casefold()
    return any(word.startswith(p) or p.startswith(word) for p in protected if len(p) >= 3) or word in protected


def _typo(rng: random.Random, text: str, protected: set[str]) -> str | None:
    """One typo in a word of 4+ letters outside quotes and `protected`; None when no word qualifies."""
    quoted = [m.span() for m in _QUOTED.finditer(text)]
    candidates = [m for m in _WORD.finditer(text) if len(m.group()) >= 4 and not _is_protected(m.group(), protected)
                  and not any(a <= m.start() < b for a, b in quoted)]
    if not candidates:
        return None
    match = rng.choice(candidates)
    word, i = match.group(), rng.randrange(1, len(match.group()) - 2)
    if rng.random() < 0.5 and word[i] != word[i + 1]:
        changed = word[:i] + word[i + 1] + word[i] + word[i + 2:]  # two letters swapped
    else:
        changed = word[:i] + word[i + 1:]  # one letter dropped
    return text[:match.start()] + changed + text[match.end():]


def noisy(rng: random.Random, text: str, protected: set[str], filler: bool = True) -> tuple[str, list[str]]:
    """The text with one or two kinds of noise (a filler opening only if `filler`); returns (text, kinds applied)."""
    kinds = rng.sample(KINDS if filler else KINDS[:-1], rng.choice([1, 1, 2]))
    applied = []
    for kind in KINDS:  # a fixed order: the filler goes on last, so it is not lower-cased twice
        if kind not in kinds:
            continue
        if kind == "lower" and text != text.lower():
            text = text.lower()
        elif kind == "no_punct" and text.rstrip()[-1:] in (".", "?", "!") and not text.rstrip().endswith("..."):
            text = text.rstrip().rstrip("?.!").rstrip()
        elif kind == "typo" and (typoed := _typo(rng, text, protected)) is not None:
            text = typoed
        elif kind == "filler" and text.isascii() and len(text.split()) >= 3:
            opening = rng.choice(FILLERS)
            keep_case = text[:1].isupper() and (len(text) < 2 or text[1:2].isupper())  # "NASA", "I"
            text = opening + (text if keep_case or text.split()[0] == "I" else text[:1].lower() + text[1:])
        else:
            continue
        applied.append(kind)
    return text, applied


def add_noise(rng: random.Random, messages: list[Message], extra_protected: Iterable[str],
              share: float = NOISE_SHARE) -> tuple[list[Message], list[str]]:
    """Each user message gets noise with probability `share`; returns (the messages, the kinds applied)."""
    protected = protected_words(messages, extra_protected)
    out, applied = [], []
    for message in messages:
        if message.role == "user" and rng.random() < share:
            opening = not any(m.role == "user" for m in out)  # "hey so quick question" opens a chat, not a reply
            text, kinds = noisy(rng, message.content, protected, filler=opening)
            if kinds and text.strip():
                message, applied = Message("user", text), applied + kinds
        out.append(message)
    return out, applied
