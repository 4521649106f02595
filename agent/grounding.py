"""Is an answer grounded in the tool results it rests on? Checked after the answer is written, by the agent (which
shows the data under an answer that misses or misstates it) and by the evaluation (answer faithfulness).

- A weather answer must state one of the temperatures the tools returned, and every temperature it writes (a number
  with degrees) must be one of them, with its sign: "It's 3.2 °C in Oslo" when the tool said -3.2 misstates it, and
  so does a feels-like that is not the result's apparent temperature.
- An answer after a Wikipedia search must say something of the article's summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from agent.endings import _words, summary_of, texts
from agent.format import ToolCall

_NUMBER = r"(?<![\d.,])([-−]?\d+(?:[.,]\d+)?)"  # "-3.2", "−3,2"; the 7 of "5-7" is 7, not -7
_DEGREES = re.compile(_NUMBER + r"\s*(?:[°º](?:\s?[CF]\b)?|degrees?\b|deg\b)", re.IGNORECASE)
_FEELS_LIKE = re.compile(r"feels?\s+(?:more\s+)?like\s+(?:about\s+|around\s+)?" + _NUMBER, re.IGNORECASE)
_ANY_NUMBER = re.compile(_NUMBER)


def _value(text: str) -> float:
    return float(text.replace(",", ".").replace("−", "-"))


def _same(stated: float, value: float) -> bool:
    """As given, to one decimal, or rounded to a whole degree."""
    return abs(stated - value) < 0.051 or (stated.is_integer() and stated == round(value))


def temperatures_in(result: Any, kind: str = "temperature") -> set[float]:
    """Every temperature in a weather tool's result (current, feels-like, daily minima and maxima); with
    kind="apparent" only the feels-like ones."""
    found: set[float] = set()
    if isinstance(result, dict):
        for key, value in result.items():
            if kind in key and isinstance(value, (int, float)) and not isinstance(value, bool):
                found.add(float(value))
            else:
                found |= temperatures_in(value, kind)
    elif isinstance(result, list):
        for item in result:
            found |= temperatures_in(item, kind)
    return found


def states_temperature(answer: str, temperatures: set[float]) -> bool:
    """The answer names one of these temperatures (as given, to one decimal, or rounded to a whole degree)."""
    numbers = {_value(text) for text in _ANY_NUMBER.findall(answer)}
    return any(_same(n, t) for n in numbers for t in temperatures)


def misstated_temperatures(answer: str, results: Iterable[Any]) -> list[str]:
    """The temperatures the answer writes that the results do not hold: a number with degrees that is none of their
    temperatures, or a feels-like that is none of their apparent temperatures ("It's 3.2 °C ... feels like -3.2 °C"
    against -3.2 and -7.9: both)."""
    results = list(results)
    every = set().union(*(temperatures_in(r) for r in results))
    apparent = set().union(*(temperatures_in(r, "apparent") for r in results))
    wrong = [m.group(0) for m in _DEGREES.finditer(answer) if not any(_same(_value(m.group(1)), t) for t in every)]
    if apparent:
        wrong += [m.group(0) for m in _FEELS_LIKE.finditer(answer)
                  if not any(_same(_value(m.group(1)), t) for t in apparent) and m.group(0) not in wrong]
    return wrong


def grounding_note(answer: str, successes: Sequence[tuple[ToolCall, dict[str, Any]]]) -> str:
    """The tool's data in one line, for an answer that does not state any temperature a weather call returned, or
    misstates one, or says nothing of an article a search returned (a small model may answer "I have no live data"
    or "I couldn't find an article" right under the data); "" when the answer states them."""
    weather = [(call, result) for call, result in successes if temperatures_in(result)]
    notes = []
    if weather:
        results = [result for _, result in weather]
        if misstated_temperatures(answer, results):
            notes = [texts()["answers"]["misstated"]]
        if notes or not states_temperature(answer, set().union(*map(temperatures_in, results))):
            notes += [summary_of(call, result) for call, result in weather]
    # An article is pointed to, not repeated: its text is the page's, shown once, in the tool's own message.
    notes += [texts()["answers"]["article_found"].format(title=result.get("title", ""), url=result.get("url", ""))
              for _, result in successes
              if isinstance(result.get("summary"), str) and not states_article(answer, result)]
    return " ".join(dict.fromkeys(notes))


def states_article(answer: str, result: dict[str, Any], enough: int = 1) -> bool:
    """Does the answer say something of the article: at least `enough` of its summary's longer words (5 letters or
    more) that are not in its title? ("Ada Lovelace was a mathematician who worked on Babbage's engine": yes; "I
    couldn't find an article about Ada Lovelace": no.)"""
    title = _words(str(result.get("title", "")))
    content = {w for w in _words(result.get("summary", "")) if len(w) >= 5} - title
    return len(content) < enough or len(content & _words(answer)) >= enough
