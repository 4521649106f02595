"""Whole agent turns against the local fake Open-Meteo and Wikipedia servers: does every turn end in an answer, and
is the answer faithful to the tool?

Prompts are the generated test split's weather questions (current and forecast) with their city swapped for one the
fake server knows (Oslo, Paris, London, ...), so a call can succeed; its missing-information questions (no city
named); and its Wikipedia questions with their topic swapped for an article the fake server holds (Ada Lovelace, the
Eiffel Tower, ...), asked in Wikipedia mode. Each runs as a full turn (`agent.loop.Agent`) twice: with the servers up,
and with them down (nothing listening).

- ends in an answer: the turn ended in the model's answer, a plain failure sentence, an answer composed from the tool
  results, or a question for a missing place; not in a spent budget or an error;
- faithful: after a successful weather call the answer states one of the tool's temperatures and writes none it
  did not return (`agent.grounding.misstated_temperatures`: "3.2 °C" for -3.2 is wrong); after a successful
  search it says something of the article's summary (`agent.grounding.states_article`); after the calls failed it says
  so; an answer without any call that reads like a weather report (a temperature) counts as invented.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from agent.backends.base import LLM, GenerationParams
from agent.events import FinalAnswer, ToolCallFinished
from agent.grounding import misstated_temperatures, states_article, states_temperature, temperatures_in
from agent.loop import Agent, AgentSettings
from evaluation.cases import read_jsonl

ANSWERED = ("answer", "grounded", "failure", "composed", "asked")
SERVER_PLACES = ("Oslo", "Paris", "London", "Tokyo", "New York", "Sydney", "Cairo")
SERVER_TOPICS = ("Ada Lovelace", "Eiffel Tower", "Freddie Mercury", "Oslo")  # articles of fakes/wikipedia.py
WEATHER = ("weather_current", "weather_forecast")
_FAILED = re.compile(r"could not|couldn't|can't|cannot|unable|fail|not reach|unavailable|not available|down|error|"
                     r"don't know a place|no place|sorry", re.IGNORECASE)
# The answer asks which place (the agent's question or the model's own): "Which city should I check?"
_ASKS_FOR_PLACE = re.compile(r"\b(?:which|what|where)\b[^?.!]*\?|\b(?:city|place|location)\b[^.!]*\?", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_TEMPERATURE_CLAIM = re.compile(r"-?\d+(?:[.,]\d+)?\s*(?:°|degrees?|ºC|C\b)", re.IGNORECASE)

SETTINGS_ON = {}
SETTINGS_OFF = {"call_grammar": False, "forbid_last_call": False, "ask_for_missing": False, "answer_failures": False,
                "ground_answers": False, "calibrated_decision": False, "ground_numbers": False}


@dataclass
class TurnPrompt:
    id: str
    category: str
    text: str
    place: str | None  # the server place (or article) the prompt names, None for a missing-information prompt
    mode: str = "weather"


@dataclass
class TurnRecord:
    prompt_id: str
    category: str
    variant: str
    server: str  # "up" | "down"
    text: str
    answer: str
    ending: str
    calls: list[str]
    ok_calls: int
    failed_calls: int
    without_live_data: bool
    truncated: bool
    ended_in_answer: bool
    faithful: bool | None  # None when no weather call ran and no report was invented
    llm_calls: int
    seconds: float
    mode: str = "weather"  # records from before Wikipedia turns were weather turns


def turn_prompts(split_file: str, limit: int | None = None) -> list[TurnPrompt]:
    """Weather questions of the test split with the city swapped for a server place, missing-city questions, and
    Wikipedia questions with the topic swapped for a server article."""
    prompts: list[TurnPrompt] = []
    counts: dict[str, int] = {}
    for sample in read_jsonl(split_file):
        if sample.get("split", "test") != "test":
            continue
        category, messages = sample["category"], sample["messages"]
        if category not in (*WEATHER, "missing_info", "wiki_lookup") or len(messages) != 3:
            continue
        if limit and counts.get(category, 0) >= limit:
            continue
        text, place = messages[1]["content"], None
        if category != "missing_info":
            kind, names = ("wiki", SERVER_TOPICS) if category == "wiki_lookup" else ("city", SERVER_PLACES)
            named = [e.split(":", 1)[1] for e in sample.get("entities", []) if e.startswith(kind + ":")]
            if len(named) != 1 or named[0].lower() not in text.lower():
                continue
            # (weather places cycle over the weather-mode prompts, as before Wikipedia turns were added)
            index = counts.get(category, 0) if kind == "wiki" else sum(p.mode == "weather" for p in prompts)
            place = names[index % len(names)]
            text = re.sub(re.escape(named[0]), place, text, flags=re.IGNORECASE)
        counts[category] = counts.get(category, 0) + 1
        prompts.append(TurnPrompt(str(sample["id"]), category, text, place,
                                  "wiki" if category == "wiki_lookup" else "weather"))
    return prompts


def judge(final: FinalAnswer, finished: Sequence[ToolCallFinished]) -> bool | None:
    ok = [e for e in finished if e.ok]
    articles = [e.result for e in ok if e.call.name == "search_wikipedia"]
    if articles:
        return any(states_article(final.text, result) for result in articles)
    if ok:
        results = [e.result for e in ok]
        return (states_temperature(final.text, set().union(*map(temperatures_in, results)))
                and not misstated_temperatures(final.text, results))
    if finished:
        return bool(_FAILED.search(final.text))
    if final.ending == "asked":
        return True
    return False if _TEMPERATURE_CLAIM.search(final.text) else None


def run_turn(agent: Agent, prompt: TurnPrompt, variant: str, server: str) -> TurnRecord:
    import time

    start = time.perf_counter()
    events = list(agent.run(prompt.text))
    final = events[-1]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    return TurnRecord(prompt.id, prompt.category, variant, server, prompt.text, final.text, final.ending,
                      [e.call.to_python() for e in finished], sum(e.ok for e in finished),
                      sum(not e.ok for e in finished), final.without_live_data, final.truncated,
                      final.ending in ANSWERED, judge(final, finished), final.stats.llm_calls,
                      round(time.perf_counter() - start, 3), prompt.mode)


@contextmanager
def tool_service(up: bool) -> Iterator[None]:
    """The tools pointed at the local fake server (up), or at a port where nothing listens (down)."""
    from fakes.services import ToolServer

    saved = {k: os.environ.get(k) for k in ("OPEN_METEO_FORECAST_URL", "OPEN_METEO_GEOCODING_URL",
                                              "WIKIPEDIA_API_URL", "TOOLS_RETRIES", "TOOLS_TIMEOUT_S")}
    with ToolServer() as server:
        env = server.env()
        if not up:
            env = {k: "http://127.0.0.1:9" + v.split(server.url, 1)[1] for k, v in env.items()}
        os.environ.update({**env, "TOOLS_RETRIES": "0", "TOOLS_TIMEOUT_S": "2"})
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run_turns(llm: LLM, prompts: Sequence[TurnPrompt], variants: dict[str, dict[str, Any]],
              servers: Sequence[str] = ("up", "down"), max_tokens: int = 128, show_progress: bool = True
              ) -> list[TurnRecord]:
    from tqdm import tqdm

    from tools import get_tools

    tools = get_tools()
    records = []
    bar = tqdm(total=len(prompts) * len(variants) * len(servers), desc=f"turns {getattr(llm, 'name', '')}",
               disable=not show_progress)
    for server in servers:
        with tool_service(server == "up"):
            for name, changes in variants.items():
                generation = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0,
                                              repetition_guard=name != "off")
                settings = AgentSettings(generation=generation, **changes)
                agents = {mode: Agent(llm, tools, mode=mode, settings=settings) for mode in {p.mode for p in prompts}}
                for prompt in prompts:
                    records.append(run_turn(agents[prompt.mode], prompt, name, server))
                    bar.update(1)
    bar.close()
    return records


def numbers_in(text: str) -> set[str]:
    """The numbers of a text as digits: "720,000" -> "720000", "1815–1852" -> {"1815", "1852"}, "3.5" kept."""
    return {re.sub(r"(?<=\d),(?=\d{3}\b)", "", n).rstrip(".,") for n in _NUMBER.findall(text)}


def article_text(call: str) -> str:
    """The text of the article the fake Wikipedia (fakes/wikipedia.py) serves for a recorded search call, or ""."""
    from agent.format import ToolCallParseError, parse_tool_calls
    from fakes.wikipedia import find_article, search_titles

    try:
        parsed = parse_tool_calls(call)
    except ToolCallParseError:
        return ""
    texts = []
    for one in parsed:
        query = str(one.arguments.get("query", "")) if one.name == "search_wikipedia" else ""
        for title in search_titles(query, 1) if query else ():
            article = find_article(title)
            texts += [article.title, article.extract] if article else []
    return " ".join(texts)


def adds_numbers(record: TurnRecord) -> bool:
    """Does a Wikipedia answer state a number (a year, a date, a figure) neither the user nor the articles it found
    gave? ("Ada Lovelace (1770–1852) was ..." where the article gives no dates: yes.)"""
    given = numbers_in(record.text) | numbers_in(" ".join(article_text(call) for call in record.calls))
    return bool(numbers_in(record.answer) - given)


def turn_metrics(records: Sequence[TurnRecord]) -> dict[str, Any]:
    from evaluation.decisions import wilson

    judged = [r for r in records if r.faithful is not None]
    weather = [r for r in records if r.category in WEATHER]
    missing = [r for r in records if r.category == "missing_info"]
    searched = [r for r in judged if r.mode == "wiki" and r.ok_calls]
    return {
        "n": len(records),
        "ended_in_answer": wilson(sum(r.ended_in_answer for r in records), len(records)),
        "faithful": wilson(sum(bool(r.faithful) for r in judged), len(judged)),
        "faithful_after_success": wilson(sum(bool(r.faithful) for r in judged if r.ok_calls and r.mode != "wiki"),
                                         sum(1 for r in judged if r.ok_calls and r.mode != "wiki")),
        "states_article": wilson(sum(bool(r.faithful) for r in searched), len(searched)),
        "states_article_only": wilson(sum(bool(r.faithful) and not adds_numbers(r) for r in searched), len(searched)),
        "wiki_called": wilson(sum(bool(r.calls) for r in records if r.mode == "wiki"),
                              sum(1 for r in records if r.mode == "wiki")),
        "faithful_after_failure": wilson(sum(bool(r.faithful) for r in judged if r.failed_calls and not r.ok_calls),
                                         sum(1 for r in judged if r.failed_calls and not r.ok_calls)),
        "invented_without_call": wilson(sum(r.faithful is False and not r.calls for r in records),
                                        sum(1 for r in records if not r.calls and r.ending != "asked")),
        "asked_on_missing": wilson(sum(asks_for_place(r) for r in missing), len(missing)),
        "asked_wrongly": wilson(sum(asks_for_place(r) for r in weather), len(weather)),
        "without_live_data": wilson(sum(r.without_live_data for r in records), len(records)),
        "truncated": wilson(sum(r.truncated for r in records), len(records)),
        "endings": {e: sum(r.ending == e for r in records) for e in dict.fromkeys(r.ending for r in records)},
    }


def asks_for_place(record: TurnRecord) -> bool:
    """The turn ends by asking which place: the agent's question, or the model's own when it called nothing."""
    return record.ending == "asked" or (not record.calls and bool(_ASKS_FOR_PLACE.search(record.answer)))


def dump(records: Sequence[TurnRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]


def load(rows: Sequence[dict[str, Any]]) -> list[TurnRecord]:
    return [TurnRecord(**row) for row in rows]


def to_json(records: Sequence[TurnRecord]) -> str:
    return json.dumps(dump(records), ensure_ascii=False, indent=1)
