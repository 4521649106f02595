"""Turns that call a tool, for the synthetic function-calling dataset: simulated tool results, answers, user turns.

A turn simulates what the project's tools return (plausible numbers for the place, season and date, turned into
result dicts by the very functions the tools use: `tools/weather_results.py` and `tools/wiki.py` `article_result`)
and writes the conversation the agent would record, answer included.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from urllib.parse import quote

from agent.format import ToolCall
from training.dataset import answers as A
from training.dataset.asks import Template
from training.dataset.builders import City, Ctx, Topic, Turn, capitalise, day_label, fill, first_sentences, fmt, to_f

_DATES = re.compile(r" \((?:born |died |c\. )?\d[^()]*\)")  # " (1815–1852)", " (551–479 BC)", " (died 415 AD)"

# ------------------------------------------------------------------------------------ simulated tool results

def _season_c(city: City, day: dt.date) -> float:
    """Climatological mean for the day: warmest around 19 July in the north, 17 January in the south."""
    peak = 17 if city.southern else 200
    return city.mean_c + city.amplitude_c * math.cos(2 * math.pi * (day.timetuple().tm_yday - peak) / 365.25)


def _weather_code(rng: random.Random, temp_c: float) -> int:
    if rng.random() < 0.62:
        return rng.choice([0, 0, 1, 1, 2, 2, 3, 3, 45])
    if temp_c <= 0.5:
        return rng.choice([71, 73, 75, 85, 71, 73])
    if temp_c <= 3:
        return rng.choice([71, 61, 51, 85, 63])
    return rng.choice([51, 53, 61, 61, 63, 65, 80, 81] + ([95] if temp_c > 15 else []))


def _is_wet(code: int) -> bool:
    return code >= 51


def _temp(celsius: float, unit: str) -> float:
    return to_f(celsius) if unit == "fahrenheit" else celsius


def current_result(rng: random.Random, city: City, today: dt.date, unit: str) -> dict:
    """What get_current_weather returns for this city on this date: simulated numbers, the tool's own formatter."""
    from tools.weather_results import CurrentValues, place_fields
    from tools.weather_results import current_result as tool_result

    hour, minute = rng.randint(6, 22), rng.choice([0, 15, 30, 45])
    temp_c = _season_c(city, today) + 3.5 * math.cos(2 * math.pi * (hour - 15) / 24) + rng.gauss(0, 2.5)
    code = _weather_code(rng, temp_c)
    wind = rng.uniform(0, 28) if rng.random() < 0.85 else rng.uniform(28, 60)
    humidity = rng.uniform(75, 98) if _is_wet(code) or code == 45 else rng.uniform(30, 85)
    if temp_c < 10:
        feels_c = temp_c - wind * 0.12 - rng.uniform(0, 1.5)
    elif temp_c > 25:
        feels_c = temp_c + (humidity - 40) * 0.06 + rng.uniform(0, 1)
    else:
        feels_c = temp_c + rng.gauss(0, 0.8)
    values = CurrentValues(
        time=f"{today.isoformat()}T{hour:02d}:{minute:02d}", timezone=city.timezone, weather_code=code,
        temperature=_temp(temp_c, unit), apparent_temperature=_temp(feels_c, unit), relative_humidity=humidity,
        wind_speed=wind, wind_direction=rng.uniform(0, 360),
        precipitation=rng.uniform(0.1, 4.0) if _is_wet(code) else 0.0)
    units = {"temperature": unit, "wind_speed": "kilometres_per_hour", "precipitation": "millimetre"}
    return tool_result(place_fields(city.label), values, units)


def forecast_result(rng: random.Random, city: City, today: dt.date, days: int, unit: str) -> dict:
    """What get_weather_forecast returns: simulated numbers, the tool's own formatter."""
    from tools.weather_results import DayValues, place_fields
    from tools.weather_results import forecast_result as tool_result

    entries, anomaly = [], rng.gauss(0, 2)
    for offset in range(days):
        day = today + dt.timedelta(days=offset)
        anomaly = 0.7 * anomaly + rng.gauss(0, 1.5)
        middle = _season_c(city, day) + anomaly
        high, low = middle + rng.uniform(2.5, 6), middle - rng.uniform(2.5, 6)
        code = _weather_code(rng, middle)
        wet = _is_wet(code)
        entries.append(DayValues(
            date=day.isoformat(), weather_code=code, temperature_min=_temp(low, unit),
            temperature_max=_temp(high, unit), precipitation_sum=rng.uniform(0.5, 15) if wet else 0.0,
            precipitation_probability=rng.randint(50, 100) if wet else rng.randint(0, 30),
            wind_speed_max=rng.uniform(6, 50)))
    units = {"temperature": unit, "precipitation_sum": "millimetre", "wind_speed_max": "kilometres_per_hour"}
    return tool_result(place_fields(city.label), city.timezone, entries, units)


def wiki_result(topic: Topic, rng: random.Random | None = None, undated_share: float = 0.0) -> dict:
    """What search_wikipedia returns for a found article (tools/wiki.py `article_result`, default summary size). With
    `rng`, a summary that dates its subject ("Ada Lovelace (1815–1852) was ...") loses the dates in `undated_share` of
    the draws (`--undated-share`; 0, the committed adapter's data, draws nothing), as many real summaries have none:
    an answer that copies the summary then has none either, so a model can learn to state the dates a summary gives
    instead of adding some to every person (the third adapter: "Freddie Mercury (1971–1990)" for a summary without
    dates)."""
    from tools.config import ToolsConfig
    from tools.wiki import article_result

    summary = topic.summary
    if rng is not None and undated_share > 0 and _DATES.search(summary) and rng.random() < undated_share:
        summary = _DATES.sub("", summary, count=1)
    url = "https://en.wikipedia.org/wiki/" + quote(topic.title.replace(" ", "_"), safe="()_,'")
    return article_result(topic.query, topic.title, url, summary, ToolsConfig.from_env({}).wiki_summary_chars)


# ------------------------------------------------------------------------------------------ answer writing

def current_answer(rng: random.Random, result: dict, city: str, intent: str) -> tuple[str, list[str]]:
    """An answer grounded in a current-weather result; returns (text, values it must mention)."""
    u = result["units"]["temperature"]
    cond, temp, feels = result["conditions"], result["temperature"], result["apparent_temperature"]
    slots = dict(city=city, temp=fmt(temp), feels=fmt(feels), u=u, cond=cond, wind=fmt(result["wind_speed"]),
                 hum=fmt(result["relative_humidity"]))
    wind = result["wind_speed"]
    slots["wind_word"] = ("calm" if wind < 6 else "light" if wind < 20 else "moderate" if wind < 39
                          else "strong")
    if intent in A.CURRENT_ANSWERS:
        text = rng.choice(A.CURRENT_ANSWERS[intent])
    elif intent in A.YES_NO_ANSWERS:
        wet = "rain" in cond or "drizzle" in cond or "thunder" in cond
        yes = {"rain": wet, "umbrella": wet, "snow": "snow" in cond,
               "sunny": cond in ("clear sky", "mainly clear")}[intent]
        text = A.YES_NO_ANSWERS[intent][0 if yes else 1]
    elif intent == "jacket":
        feels_c = (feels - 32) * 5 / 9 if u == "°F" else feels
        text = A.JACKET_ANSWERS["cold" if feels_c < 12 else "mild" if feels_c < 20 else "warm"]
    else:
        text = rng.choice(A.CURRENT_ANSWERS["general"])
    return capitalise(fill(text, **slots)), [city, fmt(temp)]


def forecast_answer(rng: random.Random, result: dict, city: str, template: Template,
                    today: dt.date) -> tuple[str, list[str]]:
    u, days = result["units"]["temperature"], result["days"]
    highs = [d["temperature_max"] for d in days]
    if template.focus is not None and template.focus < len(days):
        d = days[template.focus]
        label = day_label(today, template.focus)
        text = fill(rng.choice(A.FORECAST_FOCUS), day=label, day_lower=label if template.focus > 1 else label.lower(),
                    city=city, cond=d["conditions"], high=fmt(d["temperature_max"]), low=fmt(d["temperature_min"]),
                    u=u, pp=fmt(d["precipitation_probability"]))
        return text, [city, fmt(d["temperature_max"])]
    if template.intent == "rain":
        wet = [(i, d) for i, d in enumerate(days) if d["precipitation_probability"] >= 50]
        if wet:
            parts = [f"{day_label(today, i) if i > 1 else day_label(today, i).lower()} ({d['conditions']}, "
                     f"{fmt(d['precipitation_probability'])}%)" for i, d in wet]
            listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
            text = fill(A.FORECAST_RAIN_YES, city=city, wet_days=listed, min_high=fmt(min(highs)),
                        max_high=fmt(max(highs)), u=u)
            return text, [city, fmt(wet[0][1]["precipitation_probability"]), fmt(max(highs))]
        max_pp = max(d["precipitation_probability"] for d in days)
        text = fill(A.FORECAST_RAIN_NO, city=city, max_pp=fmt(max_pp), min_high=fmt(min(highs)),
                    max_high=fmt(max(highs)), u=u)
        return text, [city, fmt(max(highs))]
    lines = [fill(rng.choice(A.FORECAST_INTROS), city=city, n=len(days))]
    for i, d in enumerate(days):
        lines.append(fill(A.FORECAST_DAY, day=day_label(today, i), cond=d["conditions"], low=fmt(d["temperature_min"]),
                          high=fmt(d["temperature_max"]), u=u, pp=fmt(d["precipitation_probability"])))
    return "\n".join(lines), [city, fmt(highs[0]), fmt(highs[-1])]


def streams_as_prose(text: str) -> bool:
    """Would the agent stream this reply as an answer? ("Confucius (551–479 BC) was..." opens like a call.)"""
    from agent.format import classify_opening

    return classify_opening(text) == "prose"


def wiki_answer(rng: random.Random, result: dict) -> tuple[str, list[str]]:
    text = result["summary"] if rng.random() < 0.6 else first_sentences(result["summary"], 1)
    answer = fill(rng.choice(A.WIKI_ANSWERS), title=result["title"], text=text)
    if not streams_as_prose(answer):  # the summary opens like a call: lead with the article's name instead
        answer = fill(A.WIKI_ANSWERS[0], title=result["title"], text=text)
    return answer, [result["title"]]


# ------------------------------------------------------------------------------------------------ user turns

def city_text(ctx: Ctx, city: City, template: Template) -> str:
    """How the user writes the city: usually its name, sometimes a misspelling or local name, lower case if casual."""
    text = city.name
    if template.lang in ("en", "casual") and city.spellings and ctx.rng.random() < 0.15:
        text = ctx.rng.choice(city.spellings)
    if template.lang == "casual" and ctx.rng.random() < 0.5:
        text = text.lower()
    return text


def days_argument(ctx: Ctx, template: Template, low: int = 2, high: int = 7) -> tuple[int | None, dict]:
    """(days argument or None for the tool default, the {n} slot) of a forecast template."""
    assert ("{n}" in template.text) == (template.days == "n"), f"template {template.id}: {{n}} slot and days disagree"
    if template.days == "n":
        n = ctx.rng.randint(low, high)
        return n, {"n": n}
    return template.days, {}


def weather_call(city: str, template: Template, days: int | None, unit: str | None) -> ToolCall:
    arguments: dict = {"location": city}
    if template.forecast and days is not None:
        arguments["days"] = days
    if unit is not None:
        arguments["unit"] = unit
    return ToolCall("get_weather_forecast" if template.forecast else "get_current_weather", arguments)


def weather_turn(ctx: Ctx, template: Template, city: City | None = None, unit: str | None = None) -> Turn:
    """A weather question, its call, the simulated result and a grounded answer."""
    city = city or ctx.rng.choice(ctx.pools.cities)
    days, slots = days_argument(ctx, template)
    unit = template.unit or unit
    user = fill(template.text, city=city_text(ctx, city, template), **slots)
    call = weather_call(city.name, template, days, unit)
    if template.forecast:
        result = forecast_result(ctx.rng, city, ctx.today, days or 3, unit or "celsius")
        answer, mention = forecast_answer(ctx.rng, result, city.name, template, ctx.today)
    else:
        result = current_result(ctx.rng, city, ctx.today, unit or "celsius")
        answer, mention = current_answer(ctx.rng, result, city.name, template.intent)
    return Turn(user, answer, [call], [result], mention, templates=[template.id], entities=[f"city:{city.name}"])


def _topic_slots(topic: Topic) -> dict:
    return {"name": topic.name, "mention": topic.mention, "query": topic.query}


def wiki_template(ctx: Ctx, topic: Topic, english_only: bool = False) -> Template:
    langs = ("en", "casual") if english_only else ("en", "casual", "fr", "es", "de", "sv", "it")
    if topic.kind == "person":
        banks = ["wiki_person", "wiki_other", "wiki_casual"] + ([] if english_only else ["wiki_foreign"])
    else:
        banks = ["wiki_other", "wiki_casual"]
    bank = ctx.rng.choices(banks, weights=[5, 2, 1, 1][:len(banks)])[0]
    return ctx.pick(bank, lambda t: t.lang in langs and (t.intent != "person" or topic.kind == "person"))


def wiki_turn(ctx: Ctx, topic: Topic | None = None, template: Template | None = None,
              english_only: bool = False) -> Turn:
    topic = topic or ctx.rng.choice(ctx.pools.topics)
    template = template or wiki_template(ctx, topic, english_only)
    user = capitalise(fill(template.text, **_topic_slots(topic)))
    result = wiki_result(topic, ctx.rng, ctx.options.undated_share)
    answer, mention = wiki_answer(ctx.rng, result)
    return Turn(user, answer, [ToolCall("search_wikipedia", {"query": topic.query})], [result], mention,
                templates=[template.id], entities=[f"wiki:{topic.title}"])
