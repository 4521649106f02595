"""Building blocks of the synthetic function-calling dataset: entities, split pools, turns and drafts, small helpers.

A turn picks a phrasing template and entities from the split's own pools (`Ctx`); `tool_turns.py` builds the turns
that call a tool, `tasks.py` the ones that need none. `categories.py` cuts turns into drafts (the target last);
`generate.py` wraps drafts into samples, verifies them and writes the splits.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from agent.format import ToolCall, format_tool_calls
from agent.messages import Message, tool_result_message
from training.dataset.asks import Template

DATA_DIR = Path(__file__).resolve().parent / "data"


# ------------------------------------------------------------------------------------------------- entities

@dataclass(frozen=True)
class City:
    name: str
    country: str
    region: str
    timezone: str
    continent: str
    mean_c: float  # annual mean temperature
    amplitude_c: float  # half the gap between the warmest and the coldest month
    southern: bool
    spellings: tuple[str, ...]  # other ways users write it (misspellings, local names)

    @property
    def label(self) -> str:
        """How the weather tool names the place it found: "Paris, Île-de-France, France"."""
        from tools.weather_results import place_label

        return place_label(self.name, self.region, self.country)


@dataclass(frozen=True)
class Topic:
    title: str
    kind: str  # person | place | thing | event
    summary: str
    query: str  # what the search_wikipedia call asks for
    mention: str  # how a user names it inside a sentence

    @property
    def name(self) -> str:
        return self.title if self.kind == "person" else self.mention


@dataclass(frozen=True)
class QA:
    id: str
    kind: str
    question: str
    answer: str
    modes: tuple[str, ...]


@cache
def load_cities() -> tuple[City, ...]:
    cities = []
    for line in (DATA_DIR / "cities.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, country, region, tz, continent, mean, amplitude, hemisphere, spellings = line.split("\t")
        cities.append(City(name, country, region, tz, continent, float(mean), float(amplitude), hemisphere == "S",
                           tuple(s for s in spellings.split("|") if s)))
    return tuple(cities)


@cache
def load_topics() -> tuple[Topic, ...]:
    topics = []
    for line in (DATA_DIR / "wiki_topics.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            topics.append(Topic(row["title"], row["kind"], row["summary"], row.get("query", row["title"]),
                                row.get("mention", row["title"])))
    return tuple(topics)


@cache
def load_qa() -> tuple[QA, ...]:
    items = []
    for line in (DATA_DIR / "no_tool_qa.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            items.append(QA(f"qa.{row['kind']}.{row['id'].replace('.', '_')}", row["kind"], row["question"],
                            row["answer"], tuple(row.get("modes", ("weather", "wiki", "all", "chat")))))
    return tuple(items)


# ----------------------------------------------------------------------------------------------- the drafts

@dataclass
class Pools:
    """What one split may use: its own entities and phrasing templates."""

    cities: list[City]
    topics: list[Topic]
    qa: list[QA]
    fake_places: list[str]
    unknown_topics: list[tuple[str, str, bool]]
    ambiguous: list[str]
    templates: dict[str, list[Template]]  # bank name -> the split's templates of that bank
    other_tools: list[str] = field(default_factory=list)  # invented functions this split may ask about (names)


# Of the `no_tool` samples outside "all" mode, the share that asks for a tool the mode lacks (the committed mix).
OUT_OF_MODE_SHARE = 0.2


@dataclass(frozen=True)
class DrawOptions:
    """How a split is drawn beyond its size and seed: each off by default (the committed mix)."""

    out_of_mode_share: float = OUT_OF_MODE_SHARE
    undated_share: float = 0.0  # of the Wikipedia results for a dated summary, those that drop its dates (wiki_result)
    more_phrasings: bool = False  # also draw the "_more" template groups (asks.py) and more Fahrenheit follow-ups
    mode_twins: bool = False  # each out-of-mode request also as the call it is in a mode with that tool

    def __post_init__(self) -> None:
        for name in ("out_of_mode_share", "undated_share"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1], not {share}")


@dataclass
class Ctx:
    """What a builder draws from: the category's random generator, the conversation's date, the split's pools."""

    rng: random.Random
    today: dt.date
    pools: Pools
    options: DrawOptions = field(default_factory=DrawOptions)

    def pick(self, bank: str, where: Callable[[Template], bool] = lambda t: True) -> Template:
        choices = [t for t in self.pools.templates[bank]
                   if where(t) and (self.options.more_phrasings or not t.group.endswith("_more"))]
        if not choices:
            raise NoChoice(f"no {bank} template fits in this split")
        return self.rng.choice(choices)


class NoChoice(LookupError):
    """The split's pools hold nothing that fits this draft (counted, then another draft is tried)."""


@dataclass
class Turn:
    """One user turn as the agent records it: the question, the call and its results (if any), the answer."""

    user: str
    answer: str
    calls: list[ToolCall] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    must_mention: list[str] = field(default_factory=list)
    must_not_mention: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)

    def messages(self) -> list[Message]:
        out = [Message("user", self.user)]
        if self.calls:
            out.append(Message("assistant", format_tool_calls(self.calls)))
            out += [tool_result_message(r) for r in self.results]
        return out + [Message("assistant", self.answer)]


@dataclass
class Draft:
    """A sample before verification: everything after the system prompt, the target last."""

    category: str
    mode: str
    messages: list[Message]
    expected_calls: list[ToolCall]  # what the target calls; [] means it must be plain text
    must_mention: list[str] = field(default_factory=list)
    must_not_mention: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    functions: list[dict] | None = None  # the tools the prompt lists, when they are not a mode's (`other_tools.py`)


def call_draft(category: str, mode: str, turn: Turn, history: list[Message] = ()) -> Draft:
    """The turn cut after its call: the target is the call."""
    return Draft(category, mode, [*history, Message("user", turn.user),
                                  Message("assistant", format_tool_calls(turn.calls))],
                 list(turn.calls), templates=turn.templates, entities=turn.entities)


def answer_draft(category: str, mode: str, turn: Turn, history: list[Message] = ()) -> Draft:
    """The whole turn: the target is the final answer (after the tool results, if any)."""
    return Draft(category, mode, [*history, *turn.messages()], [], turn.must_mention, turn.must_not_mention,
                 turn.templates, turn.entities)


# ------------------------------------------------------------------------------------------- small helpers

def fmt(value: float) -> str:
    """A number as the answers write it: 3.0 -> "3", -1.25 -> "-1.2" (one decimal at most)."""
    value = round(float(value), 1)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def to_f(celsius: float) -> float:
    return celsius * 9 / 5 + 32


def fill(template: str, /, **slots) -> str:
    """str.format that fails loudly on a missing slot (a template bug must not reach the data)."""
    return template.format(**slots)


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def day_label(today: dt.date, offset: int) -> str:
    if offset == 0:
        return "Today"
    if offset == 1:
        return "Tomorrow"
    day = today + dt.timedelta(days=offset)
    return f"{day:%A} {day.day} {day:%B}"


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def first_sentences(text: str, count: int) -> str:
    """The first sentences of a summary (a period before a capital; "Jr. (" and "G. H." do not split)."""
    import re

    parts = re.split(r"(?<=[a-z0-9\)])\. (?=[A-Z])", text)
    picked = parts[:count]
    return ". ".join(picked) + ("" if picked[-1].endswith(".") else ".")


def plain(text: str) -> str:
    """Accents stripped, case folded: the key to sort names alphabetically."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


ENGLISH = ("en", "casual")


def english(template: Template) -> bool:
    """Is the template in English (casual English included)? Only those get answer turns."""
    return template.lang in ENGLISH


def pick_mode(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


WEATHER_MODES = {"weather": 0.55, "all": 0.45}
WIKI_MODES = {"wiki": 0.55, "all": 0.45}
# "all" is the app's default mode and the hardest place to hold back (every tool is offered): it gets the most.
ANY_MODE = {"weather": 0.31, "wiki": 0.12, "all": 0.52, "chat": 0.05}
