"""How a turn ends when the model's own reply would be wrong or missing: sentences the agent writes itself.

- After tool failures, the answer says plainly what failed ("I could not reach the weather service ...", "I don't
  know a place called ...") instead of leaving it to a 135M model that may invent a forecast.
- A call that fills a required value (a place, a search query, a name, a number) with something nobody said in the
  conversation is not run: the agent asks one short question; so is a call whose place the call grammar forced on the
  model (agent/places.py).
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
# Number words a user may write instead of digits ("a radius of five"); the value 0.05 also counts for "5%".
_NUMBER_WORDS = {word: float(value) for value, words in enumerate([
    "zero none", "one single once", "two both double twice pair couple", "three triple thrice", "four quadruple",
    "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve dozen", "thirteen", "fourteen", "fifteen",
    "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]) for word in words.split()}
_NUMBER_WORDS |= {"thirty": 30.0, "forty": 40.0, "fifty": 50.0, "hundred": 100.0, "thousand": 1000.0,
                  "million": 1e6, "billion": 1e9, "half": 0.5, "quarter": 0.25, "quarterly": 4.0, "week": 7.0,
                  "decade": 10.0, "century": 100.0}
# A number followed by one of these is also said at that scale: "213 million", "$1.2M", "5k".
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}

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

def plain_text(text: str) -> str:
    """Lower case without accents: "São Paulo" -> "sao paulo" (`agent.gazetteer` folds place names the same way)."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in plain if not unicodedata.combining(c))


def _word_list(text: str) -> list[str]:
    """Lower-case words without accents, in order: "São Paulo" and "sao paulo" match."""
    return re.findall(r"\w+", plain_text(text))


def _words(text: str) -> set[str]:
    return set(_word_list(text))


def _initials(words: Sequence[str]) -> set[str]:
    """Short forms of two or three words in a row: initials ("la" for "Los Angeles", "nyc" for "New York City") and
    codes that start with two letters of the first word ("usd" for "US dollars", "jpy" for "Japanese yen")."""
    runs = [words[i:i + n] for n in (2, 3) for i in range(len(words) - n + 1)]
    return ({"".join(w[0] for w in run) for run in runs}
            | {first[:2] + second[0] for first, second in zip(words, words[1:], strict=False) if len(first) >= 2})


def spelled_alike(word: str, said: set[str]) -> bool:
    """The word, or a spelling of it ("Windhuk" for "Windhoek", "Mumbay" for "Mumbai"), was said."""
    if word in said:
        return True
    if len(word) < 4:
        return False
    return any(len(other) >= 4 and (other in word or word in other or (
        abs(len(other) - len(word)) <= 3 and other[0] == word[0]
        and difflib.SequenceMatcher(None, word, other).ratio() >= 0.75)) for other in said)


def _said(conversation: Iterable[Message]) -> list[str]:
    """What the user and the tools said (the assistant's own words do not count)."""
    return [message.content for message in conversation if message.role in ("user", "ipython")]


def number_given(value: float, conversation: Iterable[Message]) -> bool:
    """Was the number said: in digits ("1,500", "-3.5", "213 million", "$1.2M"), as a word ("five", "a dozen"), or as a
    percentage (0.05 for "5%", 5 for "0.05")? Zero always counts ("from rest" is 0)."""
    said: set[float] = set()
    for text in _said(conversation):
        for number, unit in re.findall(r"(\d+(?:\.\d+)?(?:e-?\d+)?)\s*([a-z]*)", text.replace(",", "").casefold()):
            said |= {float(number), float(number) * _SCALES.get(unit, 1.0)}
        said |= {_NUMBER_WORDS[w] for w in _words(text) if w in _NUMBER_WORDS}
    target = abs(float(value))
    return target == 0 or any(math.isclose(target, n) or math.isclose(target * 100, n) or math.isclose(target, n * 100)
                              for n in said)


def value_given(value: Any, conversation: Iterable[Message]) -> bool:
    """Does a call's argument appear in what the user (or a tool result) said? Text: words of three letters or more
    count, spelling variants too, and one is enough ("Paris, France" for a user who wrote "Paris"). Numbers: see
    `number_given`. Anything else (true/false, lists, objects) is not checked."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_given(value, conversation)
    if not isinstance(value, str):
        return True
    wanted = {w for w in _words(value) if len(w) >= 3 or w.isdigit()} or _words(value)
    if not wanted:
        return False
    said: set[str] = set()
    for text in _said(conversation):
        words = _word_list(text)
        said |= {*words, *_initials(words)}
    codes = {code.casefold() for code in re.findall(r"\b[A-Z]{3}\b", value)}  # "EUR" for "euros"
    return (any(spelled_alike(word, said) for word in wanted)
            or any(other.startswith(code) for code in codes for other in said))


def must_be_said(spec: Mapping[str, Any]) -> list[str]:
    """The parameters of a function whose value must come from the conversation: the required ones that offer no
    fixed choices (`enum`) and no default. Places and search queries of the app's tools are such; so is any name or
    number a user's question must supply ("the area of a triangle" with only `bmi(weight, height)` listed)."""
    params = spec.get("parameters") or {}
    properties = params.get("properties") or {}
    return [name for name in params.get("required") or []
            if not {"enum", "default"} & set(properties.get(name) or {})]


def missing_value(calls: Sequence[ToolCall], specs: dict[str, dict], conversation: Sequence[Message],
                  forced: Sequence[Collection[str]] = ()) -> str | None:
    """The first parameter that must be said (`must_be_said`: a place, a query, a name, a number) that a call fills
    with a value nobody said, else None.

    `forced[i]`: the parameters of call i whose value the call grammar forced on a model that wanted another
    (`agent.places.places_nobody_named`): the user's words, but not the place the model meant, and no city, so nobody
    named it either.
    """
    for index, call in enumerate(calls):
        spec = specs.get(call.name) or {}
        guessed = forced[index] if index < len(forced) else ()
        for parameter in must_be_said(spec):
            if parameter in guessed or (parameter in call.arguments
                                        and not value_given(call.arguments[parameter], conversation)):
                return parameter
    return None


def grounded_calls(calls: Sequence[ToolCall], specs: dict[str, dict], conversation: Sequence[Message],
                   forced: Sequence[Collection[str]] = ()) -> list[ToolCall]:
    """The calls whose values that must be said (places, queries, names, numbers) were all said: a reply that asks
    for Oslo and for a city nobody named runs Oslo's call only."""
    return [call for index, call in enumerate(calls)
            if missing_value([call], specs, conversation, forced[index:index + 1]) is None]


def one_call_per_request(calls: Sequence[ToolCall], specs: dict[str, dict],
                         conversation: Sequence[Message]) -> list[ToolCall]:
    """The calls less those that repeat an earlier one but for optional values nobody said or left at their default:
    for "What's the weather in Oslo?" a reply `[get_current_weather(location="Oslo"), get_current_weather(
    location="Oslo", unit="fahrenheit")]` runs the first call only (the shipped adapter wrote such pairs for 7 of 30
    weather questions, and in 3 answers read the two results as two cities: "in Copenhagen it's -7.9 °C"). Asked for
    both units, both run."""
    def request(call: ToolCall) -> str:
        params = (specs.get(call.name) or {}).get("parameters") or {}
        properties, required = params.get("properties") or {}, set(params.get("required") or ())
        return call_key(ToolCall(call.name, {name: value for name, value in call.arguments.items() if name in required
                                             or (value != (properties.get(name) or {}).get("default")
                                                 and value_given(value, conversation))}))

    if len(calls) < 2:
        return list(calls)
    requests = [request(call) for call in calls]
    return [call for index, call in enumerate(calls) if requests[index] not in requests[:index]]


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
        apparent = result.get("apparent_temperature")
        feels = answers["feels_like"].format(apparent=apparent, unit=unit) if apparent is not None else ""
        summary = answers["weather_summary"].format(location=result["location"], temperature=result["temperature"],
                                                    unit=unit, feels=feels, conditions=result["conditions"])
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
