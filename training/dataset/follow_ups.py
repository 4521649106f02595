"""The follow_up category of the function-calling dataset: a second user turn after a whole first turn.

Another city, tomorrow, Fahrenheit or an umbrella question after a weather turn; the place or topic the assistant
asked for; another Wikipedia topic; thanks or small talk before or after a tool turn. The target is the last message
(a call, or a plain answer).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.format import ToolCall
from agent.messages import Message
from training.dataset import answers as A
from training.dataset.builders import (
    WEATHER_MODES,
    WIKI_MODES,
    Ctx,
    Draft,
    Turn,
    answer_draft,
    call_draft,
    english,
    fill,
    pick_mode,
)
from training.dataset.tasks import no_tool_turn
from training.dataset.tool_turns import city_text, current_answer, days_argument, weather_call, weather_turn, wiki_turn


def _history_weather(ctx: Ctx, forecast: bool | None = None, unit_ok: Callable = lambda u: True) -> Turn:
    bank = ctx.rng.choice(["current", "forecast"]) if forecast is None else ("forecast" if forecast else "current")
    return weather_turn(ctx, ctx.pick(bank, lambda t: english(t) and unit_ok(t.unit)))


def _merge(new: Turn, old: Turn) -> tuple[list[str], list[str]]:
    return new.templates + old.templates, list(dict.fromkeys(new.entities + old.entities))


def _continuing(draft: Draft, new: Turn, old: Turn) -> Draft:
    """`draft` (the new turn after the old one) with the templates and entities of both turns."""
    draft.templates, draft.entities = _merge(new, old)
    return draft


def _follow_weather(ctx: Ctx, kind: str) -> Draft:
    """After a weather turn: another city, tomorrow, Fahrenheit (a new call), or an umbrella question (an answer)."""
    rng = ctx.rng
    mode = pick_mode(rng, WEATHER_MODES)
    old = _history_weather(ctx, forecast=False if kind in ("tomorrow", "umbrella") else None,
                           unit_ok=(lambda u: u != "fahrenheit") if kind == "unit" else (lambda u: True))
    call = old.calls[0]
    if kind == "umbrella":
        template = ctx.pick("fu_umbrella")
        city = old.entities[0].split(":", 1)[1]
        text, mention = current_answer(rng, old.results[0], city, template.intent)
        new = Turn(template.text, text, must_mention=mention, templates=[template.id])
        templates, entities = _merge(new, old)
        return Draft("follow_up", mode, [*old.messages(), Message("user", new.user), Message("assistant", text)],
                     [], mention, [], templates, entities)
    if kind == "city":
        template = ctx.pick("fu_city")
        others = [c for c in ctx.pools.cities if f"city:{c.name}" not in old.entities]
        city2 = rng.choice(others)
        user = fill(template.text, city2=city_text(ctx, city2, template))
        new_call = ToolCall(call.name, {**call.arguments, "location": city2.name})
        entities = [f"city:{city2.name}"]
    elif kind == "tomorrow":
        template = ctx.pick("fu_tomorrow")
        days, slots = days_argument(ctx, template)
        user = fill(template.text, **slots)
        arguments = {"location": call.arguments["location"], **({"days": days} if days else {}),
                     **({"unit": call.arguments["unit"]} if "unit" in call.arguments else {})}
        new_call, entities = ToolCall("get_weather_forecast", arguments), []
    else:
        template = ctx.pick("fu_unit")
        user = template.text
        new_call, entities = ToolCall(call.name, {**call.arguments, "unit": "fahrenheit"}), []
    new = Turn(user, "", [new_call], templates=[template.id], entities=entities)
    return _continuing(call_draft("follow_up", mode, new, old.messages()), new, old)


def _follow_place(ctx: Ctx) -> Draft:
    """The assistant asked which city; the user names one; the call follows."""
    rng = ctx.rng
    template = ctx.pick("missing_weather")
    old = Turn(template.text, rng.choice(A.ASK_CITY), templates=[template.id])
    reply = ctx.pick("fu_clarify")
    city = rng.choice(ctx.pools.cities)
    days = template.days if template.forecast else None
    new = Turn(fill(reply.text, city=city_text(ctx, city, reply)), "",
               [weather_call(city.name, template, days, template.unit)], templates=[reply.id],
               entities=[f"city:{city.name}"])
    draft = call_draft("follow_up", pick_mode(rng, WEATHER_MODES), new, old.messages())
    return _continuing(draft, new, old)


def _follow_topic(ctx: Ctx) -> Draft:
    """The assistant asked which topic; the user names one; the lookup follows."""
    rng = ctx.rng
    template = ctx.pick("missing_wiki")
    kinds = {"person": ("person",), "place": ("place",), "thing": ("thing", "event")}.get(template.intent)
    topic = rng.choice([t for t in ctx.pools.topics if kinds is None or t.kind in kinds])
    old = Turn(template.text, rng.choice(A.ASK_TOPIC), templates=[template.id])
    reply = ctx.pick("fu_topic")
    user = fill(reply.text, name=topic.name, mention=topic.mention)
    new = Turn(user[:1].upper() + user[1:], "", [ToolCall("search_wikipedia", {"query": topic.query})],
               templates=[reply.id], entities=[f"wiki:{topic.title}"])
    draft = call_draft("follow_up", pick_mode(rng, WIKI_MODES), new, old.messages())
    return _continuing(draft, new, old)


def _follow_wiki(ctx: Ctx) -> Draft:
    """After a Wikipedia turn, another topic to look up."""
    rng = ctx.rng
    old = wiki_turn(ctx, english_only=True)
    template = ctx.pick("fu_wiki")
    topic = rng.choice([t for t in ctx.pools.topics if f"wiki:{t.title}" not in old.entities])
    user = fill(template.text, name2=topic.name, mention2=topic.mention)
    new = Turn(user[:1].upper() + user[1:], "", [ToolCall("search_wikipedia", {"query": topic.query})],
               templates=[template.id], entities=[f"wiki:{topic.title}"])
    draft = call_draft("follow_up", pick_mode(rng, WIKI_MODES), new, old.messages())
    return _continuing(draft, new, old)


def _follow_chat(ctx: Ctx, kind: str) -> Draft:
    """A tool turn and a no-tool turn (thanks, or another question), in either order."""
    rng = ctx.rng
    weather_first = rng.random() < 0.6
    mode = pick_mode(rng, WEATHER_MODES if weather_first else WIKI_MODES)
    tool_turn = _history_weather(ctx) if weather_first else wiki_turn(ctx, english_only=True)
    if kind == "thanks":
        template = ctx.pick("fu_thanks")
        chat = Turn(template.text, rng.choice(A.THANKS_ANSWERS), templates=[template.id])
    else:
        chat = no_tool_turn(ctx, mode)
    if kind == "after_chat":  # small talk first, then a question that needs the tool
        return _continuing(call_draft("follow_up", mode, tool_turn, chat.messages()), tool_turn, chat)
    return _continuing(answer_draft("follow_up", mode, chat, tool_turn.messages()), chat, tool_turn)


def follow_up(ctx: Ctx) -> Draft:
    """The category's builder: the kind of follow-up drawn by weight, then its turns."""
    unit, thanks = (12, 12) if ctx.options.more_phrasings else (6, 15)  # more Fahrenheit follow-ups with more phrasings
    kind = ctx.rng.choices(["city", "tomorrow", "unit", "thanks", "umbrella", "clarify", "topic", "wiki", "no_tool",
                            "after_chat"], weights=[15, 12, unit, thanks, 10, 12, 5, 10, 12, 8])[0]
    if kind in ("city", "tomorrow", "unit", "umbrella"):
        return _follow_weather(ctx, kind)
    if kind == "clarify":
        return _follow_place(ctx)
    if kind == "topic":
        return _follow_topic(ctx)
    if kind == "wiki":
        return _follow_wiki(ctx)
    return _follow_chat(ctx, kind)
