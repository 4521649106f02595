"""How a turn ends when the model's own reply would be wrong or missing: sentences the agent writes itself.

- After tool failures, the answer says plainly what failed ("I could not reach the weather service ...", "I don't
  know a place called ...") instead of leaving it to a 135M model that may invent a forecast.
- A call whose required place or search query never appears in the conversation is not run: the agent asks one short
  question; so is a call whose place the call grammar forced on the model (agent/places.py).
- When a backend ignores the ban on calls in a turn's last LLM call, the answer is composed from the results.
- Tool eagerness (the UI slider and `--tool-eagerness`) maps to the decoder's call threshold.

The sentences live in `prompts/turn_endings.toml`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from agent.events import ToolCallFinished
from agent.format import ToolCall
from agent.messages import Message
from agent.prompts import PROMPTS_DIR

# Parameters whose value only the user can supply (a place): a call must not invent them (and the call grammar
# copies them from the user's words, agent/places.py).
USER_SUPPLIED = ("location", "city", "place")
# Parameters whose value must come from the conversation: the places, and what to look up (a search query). A call
# that fills one with words nobody said ("Find me an article" -> query="Ada Lovelace") is not run: the agent asks.
MUST_BE_SAID = (*USER_SUPPLIED, "query")

_UNKNOWN_PLACE = re.compile(r'No place called "(?P<place>.+?)" was found')
_NO_ARTICLE = re.compile(r'No Wikipedia article matches "(?P<query>.+?)"')
# Failures of the call's arguments (the model's mistake, which another call may mend); any other failure is the
# service's (network, HTTP, bad data), which another call does not mend.
_ARGUMENT_FAILURE = re.compile(r"argument|must be|is empty|characters long|unknown function|too many tool calls|"
                               r"already made|no place name|could not be parsed", re.IGNORECASE)


@cache
def texts() -> dict[str, dict[str, str]]:
    return tomllib.loads((PROMPTS_DIR / "turn_endings.toml").read_text(encoding="utf-8"))


def service_name(tool: str) -> str:
    services = texts()["services"]
    return services.get(tool) or services["default"].format(tool=tool)


# ------------------------------------------------------------------------------------------------ tool eagerness

def threshold_from_eagerness(eagerness: float | None) -> float | None:
    """Eagerness 0..1 as the decoder's call threshold: a reply is a call when P(call) >= 1 - eagerness.

    1 calls always (threshold 0), 0 never (`math.inf`); None stays None (the model decides freely).
    """
    if eagerness is None:
        return None
    eagerness = min(max(float(eagerness), 0.0), 1.0)
    return math.inf if eagerness == 0 else round(1.0 - eagerness, 6)


def eagerness_from_threshold(threshold: float | None) -> float | None:
    """The inverse of `threshold_from_eagerness` (for showing a model's fitted threshold on the slider)."""
    if threshold is None:
        return None
    return 0.0 if threshold > 1 else round(1.0 - max(threshold, 0.0), 6)


# ---------------------------------------------------------------------------------------- asking for missing values

def _words(text: str) -> set[str]:
    """Lower-case words without accents: "São Paulo" and "sao paulo" match."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return set(re.findall(r"\w+", plain))


def spelled_alike(word: str, said: set[str]) -> bool:
    """The word, or a spelling of it ("Windhuk" for "Windhoek", "Mumbay" for "Mumbai"), was said."""
    if word in said:
        return True
    if len(word) < 4:
        return False
    return any(len(other) >= 4 and (other in word or word in other or (
        abs(len(other) - len(word)) <= 3 and other[0] == word[0]
        and difflib.SequenceMatcher(None, word, other).ratio() >= 0.75)) for other in said)


def value_given(value: Any, conversation: Iterable[Message]) -> bool:
    """Does a call's argument appear in what the user (or a tool result) said? Words of three letters or more count,
    spelling variants too; one is enough ("Paris, France" for a user who wrote "Paris")."""
    if not isinstance(value, str):
        return True
    wanted = {w for w in _words(value) if len(w) >= 3 or w.isdigit()} or _words(value)
    if not wanted:
        return False
    said: set[str] = set()
    for message in conversation:
        if message.role in ("user", "ipython"):
            said |= _words(message.content)
    return any(spelled_alike(word, said) for word in wanted)


def missing_value(calls: Sequence[ToolCall], specs: dict[str, dict], conversation: Sequence[Message],
                  forced: Sequence[Collection[str]] = ()) -> str | None:
    """The first parameter that must be said (`MUST_BE_SAID`: a place, a query) that a call fills with a value nobody
    said, else None.

    `forced[i]`: the parameters of call i whose value the call grammar forced on a model that wanted another
    (`agent.places.forced_places`): the user's words, but not the place the model meant, so nobody named it either.
    """
    for index, call in enumerate(calls):
        spec = specs.get(call.name) or {}
        required = (spec.get("parameters") or {}).get("required") or []
        guessed = forced[index] if index < len(forced) else ()
        for parameter in MUST_BE_SAID:
            if parameter in required and (parameter in guessed
                                          or not value_given(call.arguments.get(parameter), conversation)):
                return parameter
    return None


def grounded_calls(calls: Sequence[ToolCall], specs: dict[str, dict], conversation: Sequence[Message],
                   forced: Sequence[Collection[str]] = ()) -> list[ToolCall]:
    """The calls whose values that must be said (places, queries) were all said: a reply that asks for Oslo and for a
    city nobody named runs Oslo's call only."""
    return [call for index, call in enumerate(calls)
            if missing_value([call], specs, conversation, forced[index:index + 1]) is None]


def question_for(parameter: str) -> str:
    questions = texts()["questions"]
    return questions.get(parameter) or questions["default"].format(parameter=parameter.replace("_", " "))


# ------------------------------------------------------------------------------------------------ failure answers

def is_service_failure(error: str) -> bool:
    """A failure of the tool's service (network, HTTP, bad data, unknown place) rather than of the call's arguments."""
    return bool(error) and not _ARGUMENT_FAILURE.search(error)


def failure_sentence(call: ToolCall, result: dict[str, Any]) -> str:
    """One plain sentence saying what failed, composed from a tool's error result."""
    answers = texts()["answers"]
    error = str(result.get("error", "")).strip()
    if match := _UNKNOWN_PLACE.search(error):
        return answers["unknown_place"].format(place=match["place"])
    if match := _NO_ARTICLE.search(error):
        return answers["no_article"].format(query=match["query"])
    service = service_name(call.name)
    key = "service_failed" if is_service_failure(error) else "call_failed"
    return answers[key].format(service=service, error=error)


def failure_answer(failures: Sequence[tuple[ToolCall, dict[str, Any]]]) -> str:
    """The answer of a turn whose tool calls all failed: one sentence per distinct failure."""
    sentences = list(dict.fromkeys(failure_sentence(call, result) for call, result in failures))
    return " ".join(sentences) if sentences else texts()["answers"]["no_answer"]


def summary_of(call: ToolCall, result: dict[str, Any]) -> str:
    """A tool's successful result in one line (weather: place, temperature, conditions)."""
    answers = texts()["answers"]
    unit = (result.get("units") or {}).get("temperature") or "°C"
    if {"location", "temperature", "conditions"} <= set(result):
        summary = answers["weather_summary"].format(location=result["location"], temperature=result["temperature"],
                                                    unit=unit, conditions=result["conditions"])
    elif "location" in result and isinstance(result.get("days"), list) and result["days"]:
        days = [answers["forecast_day"].format(unit=unit, **{k: day.get(k, "?") for k in (
            "date", "temperature_min", "temperature_max", "conditions")}) for day in result["days"][:3]
            if isinstance(day, dict)]
        summary = f"{result['location']}: " + "; ".join(days)
    elif isinstance(result.get("summary"), str):
        summary = result["summary"][:400]
    else:
        flat = {k: v for k, v in result.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
        summary = ", ".join(f"{k}: {v}" for k, v in list(flat.items())[:8])
    return answers["from_results"].format(service=service_name(call.name), summary=summary)


def composed_answer(successes: Sequence[tuple[ToolCall, dict[str, Any]]],
                    failures: Sequence[tuple[ToolCall, dict[str, Any]]], malformed: bool = False) -> str:
    """An answer written from this turn's tool results alone (when the model's last reply was not an answer)."""
    parts = [summary_of(call, result) for call, result in successes]
    parts += [failure_sentence(call, result) for call, result in failures]
    parts = list(dict.fromkeys(parts))
    return " ".join(parts) if parts else texts()["answers"]["malformed" if malformed else "no_answer"]


def truncation_note(limit: int) -> str:
    return texts()["answers"]["truncated"].format(limit=limit)


# ------------------------------------------------------------------------------------------------ the turn so far

def call_key(call: ToolCall) -> str:
    return json.dumps([call.name, call.arguments], sort_keys=True, default=str)


def model_call_threshold(name: str) -> float | None:
    """The call threshold fitted for a catalogue model (`python -m evaluation sweep`), or None."""
    try:
        from models.catalogue import load_catalogue

        entry = load_catalogue().get(name)
    except (OSError, ValueError):
        return None
    return getattr(entry, "call_threshold", None) if entry else None


def grammar_for(specs: list[dict], max_calls: int = 4, choices: Mapping[str, Sequence[str]] | None = None
                ) -> str | None:
    """The GBNF grammar of calls to these tools (`agent.grammar`, cached there), or None without one. `choices`:
    argument name -> the only values it may take (the user's words for a place: `agent.places.copy_choices`)."""
    try:
        from agent import grammar
    except ImportError:
        return None
    build = getattr(grammar, "call_grammar", None)
    return build(specs, max_calls, choices) if build else None


@dataclass
class TurnState:
    """What happened in this turn's tool calls so far."""

    results: dict[str, dict] = field(default_factory=dict)  # every call run, by its key
    successes: list[tuple[ToolCall, dict]] = field(default_factory=list)
    failures: list[tuple[ToolCall, dict]] = field(default_factory=list)
    reply_failures: list[tuple[ToolCall, dict]] = field(default_factory=list)  # of the latest reply
    asked: bool = False
    truncated: bool = False
    ending: str = "answer"

    def finished(self, event: ToolCallFinished) -> None:
        pair = (event.call, event.result)
        if event.ok:
            self.successes.append(pair)
        elif "already made" not in str(event.result.get("error", "")):
            self.failures.append(pair)
            self.reply_failures.append(pair)

    def recorded(self, run_tools):
        """Pass the tool events of `run_tools` on, noting each result; returns the results."""
        while True:
            try:
                event = next(run_tools)
            except StopIteration as stop:
                return stop.value
            if isinstance(event, ToolCallFinished):
                self.finished(event)
            yield event

    def all_failed(self) -> bool:
        """No call succeeded, and the latest reply's failures are the services' (another call cannot mend them; a
        call with wrong arguments gets another LLM call, which may fix it or explain)."""
        if self.successes or not self.reply_failures:
            return False
        return all(is_service_failure(str(r.get("error", ""))) for _, r in self.reply_failures)


# ---------------------------------------------------------------------------------------------- grounding

def temperatures_in(result: Any) -> set[float]:
    """Every temperature in a weather tool's result (current, feels-like, daily minima and maxima)."""
    found: set[float] = set()
    if isinstance(result, dict):
        for key, value in result.items():
            if "temperature" in key and isinstance(value, (int, float)) and not isinstance(value, bool):
                found.add(float(value))
            else:
                found |= temperatures_in(value)
    elif isinstance(result, list):
        for item in result:
            found |= temperatures_in(item)
    return found


def states_temperature(answer: str, temperatures: set[float]) -> bool:
    """The answer names one of these temperatures (as given, to one decimal, or rounded to a whole degree)."""
    numbers = set()
    for text in re.findall(r"[-−]?\d+(?:[.,]\d+)?", answer):
        numbers.add(float(text.replace(",", ".").replace("−", "-")))
    return any(abs(n - t) < 0.051 or (n.is_integer() and n == round(t)) for n in numbers for t in temperatures)


def grounding_note(answer: str, successes: Sequence[tuple[ToolCall, dict[str, Any]]]) -> str:
    """The tool's data in one line, for an answer that does not state any temperature a weather call returned, or
    nothing of an article a search returned (a small model may answer "I have no live data" or "I couldn't find an
    article" right under the data); "" when the answer states them."""
    weather = [(call, result) for call, result in successes if temperatures_in(result)]
    notes = []
    if weather and not states_temperature(answer, set().union(*(temperatures_in(r) for _, r in weather))):
        notes = [summary_of(call, result) for call, result in weather]
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
