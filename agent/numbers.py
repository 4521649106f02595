"""Grounded numbers: an answer that retells an article a tool found writes only numbers the user or the tools gave.

A small model answering from a Wikipedia summary adds dates it half remembers ("Freddie Mercury (1971–1990) was ...",
where the summary gives none). For the answer after such a result (`retells_text`) the agent lists the numbers the
user and the tools said, in digits or words (`given_numbers`), and the llama.cpp decoder keeps every number the reply
writes inside that list (`NumberGuard`): a digit may only extend the number being written towards one of them, and a
number may only end where it spells one ("1815" when the article says 1815; "18" then a space only if 18 was said).
Commas between digits are ignored ("1,500" spells 1500) and a number may end in a full stop; numbers the reply spells
in words are not checked. A refused number undoes the clause it was in and the model writes on without it (`Clause`,
agent/backends/decoding.py).

A weather answer is left free but for signs: a digit that begins only the tools' negative numbers ("3" and "7" for
Oslo at -3.2 °C, feeling like -7.9: `minus_first`) gets its minus sign written first where the reply begins a number
with it (the shipped adapter wrote "It's 3.2 °C in Oslo" on an AMX Xeon; agent/backends/decoding.py).

The guard needs a vocabulary whose digits are tokens of their own (SmolLM2's is); elsewhere it checks only the
single-digit tokens. Backends that cannot mask logits (an OpenAI-compatible server) ignore the list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agent.messages import Message

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")  # "1,500", "3.5", "2026" (of "2026-12-01")
_TRAILING = re.compile(r"\d[\d,]*(?:\.\d*)?$")  # the number a reply is in the middle of writing, if any
DIGITS = "0123456789"


def spellings(number: str) -> set[str]:
    """The ways a number of a text may be written: without commas, without leading zeros ("01" -> "1"), and a
    decimal without trailing zeros ("3.50" -> "3.5", "4.0" -> "4")."""
    plain = number.replace(",", "").rstrip(".")
    out = {plain}
    whole, _, fraction = plain.partition(".")
    short = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    out |= {short + ("." + fraction if fraction else ""), whole + ("." + fraction if fraction else "")}
    return out


def retells_text(successes: Sequence[tuple[object, dict]]) -> bool:
    """Did a tool call of this turn return a text to retell (an article's summary), not only data? The guard is for
    such answers: a weather answer reads its numbers off the result (and gets the data added when it states none of
    its temperatures or misstates one, agent/grounding.py), while constraining it made a small model drift ("over the
    next 3.2 hours"); it only gets its minus signs (`minus_first`)."""
    return any(isinstance(result.get("summary"), str) for _, result in successes)


def given_numbers(conversation: Iterable[Message]) -> tuple[str, ...]:
    """Every number the user and the tools said in `conversation`, in digits or words ("three", "a dozen": see
    `agent.endings.number_given`; the assistant's own words do not count), as the reply may write it."""
    from agent.endings import _NUMBER_WORDS

    said: set[str] = set()
    for message in conversation:
        if message.role in ("user", "ipython") and message.content:
            for number in _NUMBER.findall(message.content):
                said |= spellings(number)
            for word in re.findall(r"[a-z]+", message.content.casefold()):  # "three days" may be written "3 days"
                value = _NUMBER_WORDS.get(word)
                if value is not None:
                    said |= spellings(str(int(value)) if value.is_integer() else str(value))
    return tuple(sorted(said))


_NEGATIVE = re.compile(r"(?<![\w.])[-−](\d+(?:\.\d+)?)")  # "-3.2" of '"temperature": -3.2', not "-01" of "2025-01-15"


def minus_first(conversation: Iterable[Message]) -> tuple[str, ...]:
    """The digits that begin a negative number the tools returned and no other number the user or the tools said:
    for Oslo at -3.2 °C, feeling like -7.9, "3" and "7". A weather answer may write them first in a number only after
    a minus sign (`unsigned_next`): a small model wrote "It's 3.2 °C in Oslo" for -3.2."""
    negatives, others = set(), set()
    for message in conversation:
        if message.role in ("user", "ipython") and message.content:
            if message.role == "ipython":
                negatives |= {number[0] for number in _NEGATIVE.findall(message.content)}
            others |= {number[0] for number in _NUMBER.findall(_NEGATIVE.sub(" ", message.content))}
    return tuple(sorted(negatives - others))


def unsigned_next(reply: bytes) -> bool:
    """Would a digit written next begin a number with no minus sign before it?"""
    last = reply[-1:]
    return not (last.isdigit() or reply.endswith((b"-", "−".encode())) or (last in b".," and reply[-2:-1].isdigit()))


def number_rules(conversation: Sequence[Message], successes: Sequence[tuple[object, dict]]) -> dict:
    """The decoder's number rules for the answer after these tool results: an answer that retells an article writes
    only numbers somebody gave (`allowed_numbers`); any other (weather) writes a negative one with its minus
    (`minus_first`)."""
    if retells_text(successes):
        return {"allowed_numbers": given_numbers(conversation)}
    return {"minus_first": minus_first(conversation)}


@dataclass
class Clause:
    """The clause a reply is writing, as the decoder may undo it: where it began and what it has written so far."""

    start: int  # tokens evaluated before its first token
    size: int  # bytes of the reply before it
    first: int | None = None  # the token that opened it (None: none yet, or just undone)
    banned: list[int] = field(default_factory=list)  # tokens that opened it before and were undone
    held: list[bytes] = field(default_factory=list)  # its pieces, not yet shown


@dataclass(frozen=True)
class NumberTokens:
    """The tokens of a vocabulary the guard looks at, found in one pass over its pieces (once per model: the decoder's
    token table keeps them)."""

    digits: dict[str, int]  # "0".."9" -> the token that is that digit alone
    point: int | None  # the token "."
    comma: int | None  # the token ","
    minus: int | None  # the token "-"
    parens: np.ndarray  # the tokens that open a parenthesis ("(", " (", "(\""): where the decoder may undo a clause

    @classmethod
    def of(cls, pieces: Sequence[bytes]) -> NumberTokens:
        digits, point, comma, minus, parens = {}, None, None, None, []
        for i, piece in enumerate(pieces):
            if len(piece) == 1 and chr(piece[0]) in DIGITS:
                digits[chr(piece[0])] = i
            point = i if point is None and piece == b"." else point
            comma = i if comma is None and piece == b"," else comma
            minus = i if minus is None and piece == b"-" else minus
            if piece.rfind(b"(") > piece.rfind(b")"):
                parens.append(i)
        return cls(digits, point, comma, minus, np.asarray(parens, dtype=np.int32))

    def digit_ids(self, digits: Iterable[str]) -> frozenset[int]:
        """The tokens of these digits, where a minus sign can be written before them (else none)."""
        return frozenset(self.digits[d] for d in digits if d in self.digits) if self.minus is not None else frozenset()


class NumberGuard:
    """Which next tokens would make a reply write a number that is not one of `allowed`."""

    def __init__(self, allowed: Iterable[str], tokens: NumberTokens):
        self.allowed = frozenset(allowed)
        self.prefixes = {number[:end] for number in self.allowed for end in range(1, len(number) + 1)}
        self.tokens = tokens

    @property
    def parens(self):
        """The tokens that open a parenthesis (the decoder bans them where a clause was taken back)."""
        return self.tokens.parens

    def opens_clause(self, reply: bytes, piece: bytes) -> bool:
        """Does `piece` begin a clause the decoder may take back: a parenthesis, a comma, a colon, a semicolon, a
        full stop that is no decimal point?"""
        if any(mark in piece for mark in (b"(", b",", b":", b";")):
            return not (piece.startswith(b",") and reply[-1:].isdigit())  # "1,500" is one number
        return b"." in piece and not reply[-1:].isdigit()

    def _rule(self, reply: bytes) -> tuple[list[int], list[int] | None]:
        """(digit tokens banned, the only tokens allowed or None) after `reply`."""
        match = _TRAILING.search(reply[-64:].decode("utf-8", "ignore"))
        if match is None:  # not inside a number: a digit may start one only if some given number starts with it
            return [i for d, i in self.tokens.digits.items() if d not in self.prefixes], None
        written = match.group()
        run = written.replace(",", "")
        ban = [i for d, i in self.tokens.digits.items() if run + d not in self.prefixes]
        if run.rstrip(".") in self.allowed:  # a whole given number: any non-digit may end it
            return ban, None
        # Half a number: only what continues a given number may follow (a digit, its decimal point, a comma).
        keep = [i for d, i in self.tokens.digits.items() if run + d in self.prefixes]
        comma, point = self.tokens.comma, self.tokens.point
        if comma is not None and keep and "." not in run and not written.endswith(","):  # "1," of "1,500"
            keep.append(comma)
        if point is not None and "." not in run and run + "." in self.prefixes:
            keep.append(point)
        # No way on: a number this guard did not see begin (digits inside a longer token); leave it alone.
        return (ban, keep) if keep else ([], None)

    def allows(self, reply: bytes, token: int) -> bool:
        ban, keep = self._rule(reply)
        return token not in ban if keep is None else token in keep

    def apply(self, reply: bytes, logits: np.ndarray) -> None:
        """Ban, in place, the tokens that would make `reply` write a number that was not given."""
        ban, keep = self._rule(reply)
        if keep is None:
            if ban:
                logits[ban] = -math.inf
            return
        mask = np.full(logits.shape, -math.inf, dtype=logits.dtype)
        mask[keep] = 0.0
        logits += mask
