"""The categories of the function-calling dataset: one builder each, `CATEGORIES[name](ctx) -> Draft` (or a list).

weather_current, weather_forecast, wiki_lookup  a single call is the target
parallel_calls                                  two calls in one reply (two cities, or weather plus Wikipedia)
no_tool                                         plain text in any mode: chit-chat, writing, maths, coding, advice,
                                                questions that mention a city or a famous name, out-of-mode requests
missing_info                                    the question lacks a place or topic: ask for it, no call
answer                                          the answer after tool results, grounded in their numbers and text
answer_error                                    the answer after a failed or ambiguous tool result
follow_up                                       a second turn after a whole first turn (calls and plain answers):
                                                `follow_ups.py`
other_tools                                     invented functions listed as an API user would: call the one that
                                                fits, or say none does (`other_tools.py`; share set per recipe)
"""

from __future__ import annotations

from collections.abc import Callable

from agent.format import ToolCall
from training.dataset import answers as A
from training.dataset import asks as T
from training.dataset.builders import (
    ANY_MODE,
    WEATHER_MODES,
    WIKI_MODES,
    Ctx,
    Draft,
    NoChoice,
    Turn,
    answer_draft,
    call_draft,
    english,
    fill,
    first_sentences,
    fmt,
    pick_mode,
)
from training.dataset.follow_ups import follow_up
from training.dataset.other_tools import other_tools_draft
from training.dataset.tasks import no_tool_turn
from training.dataset.tool_turns import (
    city_text,
    current_result,
    days_argument,
    forecast_answer,
    forecast_result,
    streams_as_prose,
    weather_call,
    weather_turn,
    wiki_result,
    wiki_template,
    wiki_turn,
)


def weather_current(ctx: Ctx) -> Draft:
    turn = weather_turn(ctx, ctx.pick("current"))
    return call_draft("weather_current", pick_mode(ctx.rng, WEATHER_MODES), turn)


def weather_forecast(ctx: Ctx) -> Draft:
    turn = weather_turn(ctx, ctx.pick("forecast"))
    return call_draft("weather_forecast", pick_mode(ctx.rng, WEATHER_MODES), turn)


def wiki_lookup(ctx: Ctx) -> Draft:
    return call_draft("wiki_lookup", pick_mode(ctx.rng, WIKI_MODES), wiki_turn(ctx))


# ---------------------------------------------------------------------------------------------- two calls

def parallel_turn(ctx: Ctx, kind: str) -> Turn:
    """Two calls in one reply: two cities (current or forecast), or a city's weather plus a Wikipedia topic."""
    rng = ctx.rng
    if len(ctx.pools.cities) < 2:
        raise NoChoice("a parallel call needs two cities")
    a, b = rng.sample(ctx.pools.cities, 2)
    template = ctx.pick("parallel", lambda t: t.group in (f"par.{kind}", f"par.{kind}_more"))
    if kind == "mixed":
        people = [t for t in ctx.pools.topics if t.kind == "person"]
        topic = rng.choice(people if "{name}" in template.text else ctx.pools.topics)  # "who was {name}"
        user = fill(template.text, city=city_text(ctx, a, template), name=topic.name, mention=topic.mention)
        weather = ToolCall("get_current_weather", {"location": a.name})
        wiki = ToolCall("search_wikipedia", {"query": topic.query})
        current = current_result(rng, a, ctx.today, "celsius")
        article = wiki_result(topic, rng, ctx.options.undated_share)
        topic_at = min(template.text.find(slot) for slot in ("{mention}", "{name}") if slot in template.text)
        wiki_first = topic_at < template.text.index("{city}")  # call in the order the user asked
        calls, results = ([wiki, weather], [article, current]) if wiki_first else ([weather, wiki], [current, article])
        answer = fill(A.MIXED_ANSWER, city=a.name, temp=fmt(current["temperature"]), u="°C",
                      cond=current["conditions"], topic=topic.mention, title=topic.title,
                      text=first_sentences(article["summary"], 1))
        return Turn(user, answer, calls, results, [a.name, fmt(current["temperature"]), topic.title],
                    templates=[template.id], entities=[f"city:{a.name}", f"wiki:{topic.title}"])
    days, slots = days_argument(ctx, template, 2, 5)
    user = fill(template.text, city=city_text(ctx, a, template), city2=city_text(ctx, b, template), **slots)
    calls = [weather_call(c.name, template, days, None) for c in (a, b)]
    if kind == "current":
        ra, rb = (current_result(rng, c, ctx.today, "celsius") for c in (a, b))
        if abs(ra["temperature"] - rb["temperature"]) < 0.1:
            raise NoChoice("the two cities have the same temperature")
        warmer = a.name if ra["temperature"] > rb["temperature"] else b.name
        answer = fill(rng.choice(A.PARALLEL_ANSWERS), city=a.name, city2=b.name, u="°C",
                      temp=fmt(ra["temperature"]), cond=ra["conditions"], temp2=fmt(rb["temperature"]),
                      cond2=rb["conditions"], warmer=warmer, diff=fmt(abs(ra["temperature"] - rb["temperature"])))
        mention = [a.name, fmt(ra["temperature"]), b.name, fmt(rb["temperature"])]
        results = [ra, rb]
    else:
        results = [forecast_result(rng, c, ctx.today, days or 3, "celsius") for c in (a, b)]
        parts = [forecast_answer(rng, r, c.name, template, ctx.today) for r, c in zip(results, (a, b), strict=True)]
        answer = "\n\n".join(text for text, _ in parts)
        mention = [value for _, values in parts for value in values]
    return Turn(user, answer, calls, results, mention, templates=[template.id],
                entities=[f"city:{a.name}", f"city:{b.name}"])


def parallel_calls(ctx: Ctx) -> Draft:
    kind = ctx.rng.choices(["current", "forecast", "mixed"], weights=[0.45, 0.3, 0.25])[0]
    mode = "all" if kind == "mixed" else pick_mode(ctx.rng, WEATHER_MODES)
    return call_draft("parallel_calls", mode, parallel_turn(ctx, kind))


# ------------------------------------------------------------------------------------------------ no tool

def out_of_mode_turn(ctx: Ctx, mode: str) -> tuple[Turn, Draft]:
    """A request for a tool this mode lacks: weather in wiki/chat mode (say so), facts in weather/chat (answer); and
    its twin, the same words as a call in the mode that has the tool."""
    rng = ctx.rng
    if mode in ("wiki", "chat"):
        template = ctx.pick(rng.choice(["current", "forecast"]), lambda t: english(t) and t.unit is None)
        city = rng.choice(ctx.pools.cities)
        days, slots = days_argument(ctx, template)
        answer = fill(rng.choice(A.NO_WEATHER_TOOL), city=city.name)
        turn = Turn(fill(template.text, city=city_text(ctx, city, template), **slots), answer,
                    must_mention=[city.name], must_not_mention=["°"], templates=[template.id],
                    entities=[f"city:{city.name}"])
        twin = Turn(turn.user, "", [weather_call(city.name, template, days, None)], templates=turn.templates,
                    entities=turn.entities)
        return turn, call_draft("weather_forecast" if template.forecast else "weather_current", "weather", twin)
    topic = rng.choice(ctx.pools.topics)
    template = wiki_template(ctx, topic, english_only=True)
    user = fill(template.text, name=topic.name, mention=topic.mention, query=topic.query)
    known = first_sentences(topic.summary, 1)
    if "wiki" in template.text.lower():
        known = f"I can't search Wikipedia in this mode, but here is what I know: {known}"
    elif not streams_as_prose(known) or rng.random() < 0.3:
        known = f"{rng.choice(A.FROM_MEMORY)} {known}"
    turn = Turn(user[:1].upper() + user[1:], known, templates=[template.id], entities=[f"wiki:{topic.title}"])
    twin = Turn(turn.user, "", [ToolCall("search_wikipedia", {"query": topic.query})], templates=turn.templates,
                entities=turn.entities)
    return turn, call_draft("wiki_lookup", "wiki", twin)


def no_tool(ctx: Ctx) -> Draft | list[Draft]:
    """Plain text in any mode; an out-of-mode request with `mode_twins` also brings its twin, the call in the mode
    that has the tool (the same words, so only the system prompt's tools tell the two apart)."""
    mode = pick_mode(ctx.rng, ANY_MODE)
    if ctx.rng.random() < ctx.options.out_of_mode_share and mode != "all":
        turn, twin = out_of_mode_turn(ctx, mode)
        draft = answer_draft("no_tool", mode, turn)
        return [draft, twin] if ctx.options.mode_twins else draft
    return answer_draft("no_tool", mode, no_tool_turn(ctx, mode))


def missing_info(ctx: Ctx) -> Draft:
    if ctx.rng.random() < 0.65:
        template, ask, mode = ctx.pick("missing_weather"), ctx.rng.choice(A.ASK_CITY), pick_mode(ctx.rng,
                                                                                                  WEATHER_MODES)
    else:
        template, ask, mode = ctx.pick("missing_wiki"), ctx.rng.choice(A.ASK_TOPIC), pick_mode(ctx.rng, WIKI_MODES)
    return answer_draft("missing_info", mode, Turn(template.text, ask, must_mention=["?"], templates=[template.id]))


# ------------------------------------------------------------------------------------------ answer turns

def answer(ctx: Ctx) -> Draft:
    kind = ctx.rng.choices(["current", "forecast", "wiki", "parallel", "mixed"], weights=[33, 22, 25, 12, 8])[0]
    if kind in ("current", "forecast"):
        return answer_draft("answer", pick_mode(ctx.rng, WEATHER_MODES), weather_turn(ctx, ctx.pick(kind, english)))
    if kind == "wiki":
        return answer_draft("answer", pick_mode(ctx.rng, WIKI_MODES), wiki_turn(ctx, english_only=True))
    if kind == "parallel":
        turn = parallel_turn(ctx, ctx.rng.choice(["current", "forecast"]))
        return answer_draft("answer", pick_mode(ctx.rng, WEATHER_MODES), turn)
    return answer_draft("answer", "all", parallel_turn(ctx, "mixed"))


def _transport_failures(service: str) -> list[str]:
    """The sentences the tools' own `describe_http_failure` writes for a timeout, a refusal, an unreachable host and
    retries that ran out (the exceptions are the ones requests raises)."""
    import requests
    import urllib3.exceptions as u3

    from tools.config import describe_http_failure

    failures = [requests.exceptions.ReadTimeout("Read timed out."),
                requests.exceptions.ConnectionError(u3.NewConnectionError(None, "[Errno 111] Connection refused")),
                requests.exceptions.ConnectionError(u3.NewConnectionError(None, "[Errno 113] No route to host")),
                requests.exceptions.RetryError("Max retries exceeded (too many 502 error responses)")]
    return [describe_http_failure(exc, service, 10.0) for exc in failures]


def _weather_failure(ctx: Ctx) -> dict:
    """A failed weather call's result, as the tool writes it (its own error constructors and classes)."""
    from tools.weather_results import FORECAST, GEOCODING, WeatherError, http_status_error

    sentences = _transport_failures(FORECAST) + _transport_failures(GEOCODING)[1:2]
    return ctx.rng.choice([WeatherError(s) for s in sentences] + [
        http_status_error(FORECAST, 503), http_status_error(FORECAST, 429),
        http_status_error(FORECAST, 429, retry_after_s=30)]).as_result()


def _wiki_failure(ctx: Ctx) -> dict:
    from tools.wiki import WIKIPEDIA, WikiError, status_error

    sentences = _transport_failures(WIKIPEDIA)
    return ctx.rng.choice([WikiError(s) for s in sentences] + [status_error(500), status_error(429)]).as_result()


def error_turn(ctx: Ctx, kind: str) -> Turn:
    """A call whose result is an error (or a disambiguation), and the honest answer to it."""
    from tools.weather_results import MAX_FORECAST_DAYS, days_out_of_range, place_not_found
    from tools.wiki import ambiguous_result, no_article_error

    rng = ctx.rng
    if kind in ("unknown_place", "service_down", "too_many_days"):
        if kind == "too_many_days":
            template = ctx.pick("forecast", lambda t: english(t) and t.days == "n")
        else:
            template = ctx.pick(rng.choice(["current", "forecast"]), english)
        days, slots = days_argument(ctx, template, *((MAX_FORECAST_DAYS + 1, 30) if kind == "too_many_days"
                                                      else (2, 7)))
        if kind == "unknown_place":
            place, entity = rng.choice(ctx.pools.fake_places), None
            entity = f"fake:{place}"
            user = fill(template.text, city=place, **slots)
        else:
            city = rng.choice(ctx.pools.cities)
            place, entity = city.name, f"city:{city.name}"
            user = fill(template.text, city=city_text(ctx, city, template), **slots)
        call = weather_call(place, template, days, template.unit)
        if kind == "unknown_place":
            error = place_not_found(place).as_result()
        elif kind == "service_down":
            error = _weather_failure(ctx)
        else:
            error = days_out_of_range(days).as_result()
        # the tool adds the arguments it was called with (`days` defaults to 3), as tools/weather.py `_as_value` does
        context = {"location": place, **({"days": days or 3} if template.forecast else {})}
        text = fill(rng.choice(A.ERROR_ANSWERS[kind]), place=place, days=days, max_days=MAX_FORECAST_DAYS)
        mention = [place] + ([str(MAX_FORECAST_DAYS)] if kind == "too_many_days" else [])
        return Turn(user, text, [call], [{**error, **context}], mention, ["°"], [template.id], [entity])
    if kind == "wiki_not_found":
        query, mentioned, person = rng.choice(ctx.pools.unknown_topics)
        template = ctx.pick("wiki_person" if person else "wiki_other", english)
        user = fill(template.text, name=mentioned, mention=mentioned, query=query)
        result = {**no_article_error(query).as_result(), "query": query}
        entity = f"unknown:{query}"
    elif kind == "wiki_ambiguous":
        query = rng.choice(ctx.pools.ambiguous)
        template = ctx.pick("wiki_other", english)
        user = fill(template.text, name=query, mention=query, query=query)
        result = ambiguous_result(query, query, T.AMBIGUOUS[query])
        entity = f"ambiguous:{query}"
    else:
        topic = rng.choice(ctx.pools.topics)
        template = wiki_template(ctx, topic, english_only=True)
        query, entity = topic.query, f"wiki:{topic.title}"
        user = fill(template.text, name=topic.name, mention=topic.mention, query=query)
        result = {**_wiki_failure(ctx), "query": query}
    options = T.AMBIGUOUS.get(query, [])
    listed = ", ".join(options[:-1]) + " or " + options[-1] if options else ""
    text = fill(rng.choice(A.ERROR_ANSWERS[kind]), query=query, options=listed)
    mention = [query] + options[:1]
    return Turn(user[:1].upper() + user[1:], text, [ToolCall("search_wikipedia", {"query": query})], [result],
                mention, [], [template.id], [entity])


def answer_error(ctx: Ctx) -> Draft:
    kind = ctx.rng.choices(["unknown_place", "service_down", "too_many_days", "wiki_not_found", "wiki_ambiguous",
                            "wiki_down"], weights=[30, 20, 8, 17, 15, 10])[0]
    modes = WIKI_MODES if kind.startswith("wiki") else WEATHER_MODES
    return answer_draft("answer_error", pick_mode(ctx.rng, modes), error_turn(ctx, kind))


CATEGORIES: dict[str, Callable[[Ctx], Draft | list[Draft]]] = {
    "weather_current": weather_current,
    "weather_forecast": weather_forecast,
    "wiki_lookup": wiki_lookup,
    "parallel_calls": parallel_calls,
    "no_tool": no_tool,
    "missing_info": missing_info,
    "answer": answer,
    "answer_error": answer_error,
    "other_tools": other_tools_draft,
    "follow_up": follow_up,
}
TEXT_CATEGORIES = ("no_tool", "missing_info", "answer", "answer_error")  # targets that are always plain text
