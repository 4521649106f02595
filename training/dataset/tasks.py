"""No-tool tasks with computed answers: arithmetic, unit conversions, dates, and small jobs on names and lists.

They teach restraint with endless variety and answers that are right by construction. Many mention a city, a famous
name or a temperature unit, and still need no tool: the model must learn that a city name alone is no weather question.
"""

from __future__ import annotations

import datetime as dt

from training.dataset.answers import META_ANSWERS
from training.dataset.asks import Template, bank
from training.dataset.builders import Ctx, NoChoice, Turn, fill, fmt, long_date, plain, to_f

# ------------------------------------------------------------------- no-tool tasks with computed answers
# intent = which computation the builder runs; the entity slots ({word}, {city}, {cities}) take held-out names.
GENERATED = (
    bank("gen.arith", [
        ("What is {a} plus {b}?", {"intent": "add"}), ("What's {a} + {b}?", {"intent": "add"}),
        ("Can you add {a} and {b} for me?", {"intent": "add"}), ("Calculate {a} times {b}.", {"intent": "mul"}),
        ("what is {a}*{b}", {"intent": "mul"}), ("Multiply {a} by {b}.", {"intent": "mul"}),
        ("What is {a} minus {b}?", {"intent": "sub"}), ("How much is {a} divided by {b}?", {"intent": "div"}),
        ("{a} / {b} = ?", {"intent": "div"}), ("Subtract {b} from {a}.", {"intent": "sub"}),
    ])
    + bank("gen.percent", [("What is {p}% of {n}?", {"intent": "percent"}),
                           ("Calculate {p} percent of {n}.", {"intent": "percent"}),
                           ("How much is {p}% of {n}?", {"intent": "percent"}),
                           ("A bill is {n} euros. What's a {p}% tip?", {"intent": "percent"})])
    + bank("gen.temp", [
        ("Convert {x} °C to Fahrenheit.", {"intent": "c2f"}), ("What is {x} degrees Celsius in Fahrenheit?",
                                                               {"intent": "c2f"}),
        ("How much is {x} °F in Celsius?", {"intent": "f2c"}), ("If it's {x} °F, how many degrees Celsius is that?",
                                                               {"intent": "f2c"}),
        ("Is {x} °C warmer than {y} °F?", {"intent": "compare"}), ("{x}°C to °F?", {"intent": "c2f"}),
    ])
    + bank("gen.distance", [("How many miles is {x} km?", {"intent": "km2mi"}),
                            ("Convert {x} miles to kilometres.", {"intent": "mi2km"}),
                            ("How far is {x} km in miles?", {"intent": "km2mi"}),
                            ("{x} miles in km?", {"intent": "mi2km"})])
    + bank("gen.weekday", [("What day of the week was {date}?", {"intent": "weekday"}),
                           ("Which weekday was {date}?", {"intent": "weekday"}),
                           ("{date}: what day of the week was that?", {"intent": "weekday"})])
    + bank("gen.days", [("How many days are there between {date} and {date2}?", {"intent": "days_between"}),
                        ("How many days from {date} to {date2}?", {"intent": "days_between"}),
                        ("Count the days from {date} until {date2}.", {"intent": "days_between"})])
    + bank("gen.letters", [("How many letters are in '{word}'?", {"intent": "letters"}),
                           ("Count the letters in the name {word}.", {"intent": "letters"}),
                           ("How many letters does {word} have?", {"intent": "letters"})])
    + bank("gen.reverse", [("Spell '{word}' backwards.", {"intent": "reverse"}),
                           ("Write {word} in reverse.", {"intent": "reverse"}),
                           ("Reverse the letters of '{word}'.", {"intent": "reverse"})])
    + bank("gen.upper", [("Write '{word}' in capital letters.", {"intent": "upper"}),
                         ("Put {word} in all caps.", {"intent": "upper"}),
                         ("Uppercase this: {word}", {"intent": "upper"})])
    + bank("gen.sort", [("Sort these numbers from smallest to largest: {nums}.", {"intent": "sort_asc"}),
                        ("Put {nums} in descending order.", {"intent": "sort_desc"}),
                        ("Order these from low to high: {nums}", {"intent": "sort_asc"})])
    + bank("gen.average", [("What's the average of {nums}?", {"intent": "average"}),
                           ("Find the mean of {nums}.", {"intent": "average"}),
                           ("Average of {nums}?", {"intent": "average"})])
    + bank("gen.prime", [("Is {n} a prime number?", {"intent": "prime"}), ("Is {n} prime?", {"intent": "prime"}),
                         ("Can {n} be divided by anything other than 1 and itself?", {"intent": "prime"})])
    + bank("gen.alphabet", [("Put these cities in alphabetical order: {cities}.", {"intent": "alphabet"}),
                            ("Sort alphabetically: {cities}", {"intent": "alphabet"}),
                            ("Alphabetise this list of cities: {cities}.", {"intent": "alphabet"})])
    + bank("gen.translate", [("Translate '{phrase}' into {lang}.", {"intent": "translate"}),
                             ("How do you say '{phrase}' in {lang}?", {"intent": "translate"}),
                             ("What's \"{phrase}\" in {lang}?", {"intent": "translate"}),
                             ("Can you translate '{phrase}' to {lang} for me?", {"intent": "translate"}),
                             ("{lang} for '{phrase}'?", {"intent": "translate"}),
                             ("translate \"{phrase}\" to {lang} pls", {"intent": "translate", "lang": "casual"})])
    + bank("gen.country", [("Which country is {city} in?", {"intent": "country"}),
                           ("{city} is in which country?", {"intent": "country"}),
                           ("In what country is {city}?", {"intent": "country"})])
)


def _word(ctx: Ctx) -> tuple[str, str]:
    """A held-out name to play with: (the name, its entity key)."""
    if ctx.rng.random() < 0.5:
        city = ctx.rng.choice(ctx.pools.cities)
        return city.name, f"city:{city.name}"
    topic = ctx.rng.choice([t for t in ctx.pools.topics if t.kind == "person"] or list(ctx.pools.topics))
    return topic.title, f"wiki:{topic.title}"


def _numbers(ctx: Ctx, count_low: int = 3, count_high: int = 6) -> list[int]:
    return ctx.rng.sample(range(1, 100), ctx.rng.randint(count_low, count_high))


def _listed(items: list) -> str:
    return ", ".join(str(i) for i in items)


def _arith(ctx: Ctx, t: Template) -> tuple[dict, str]:
    r = ctx.rng
    if t.intent == "add":
        a, b = r.randint(2, 999), r.randint(2, 999)
        return {"a": a, "b": b}, f"{a} + {b} = {a + b}."
    if t.intent == "sub":
        a, b = r.randint(20, 999), r.randint(1, 500)
        return {"a": a, "b": b}, f"{a} - {b} = {a - b}."
    if t.intent == "mul":
        a, b = r.randint(2, 99), r.randint(2, 99)
        return {"a": a, "b": b}, f"{a} × {b} = {a * b}."
    b, q = r.randint(2, 25), r.randint(2, 40)
    return {"a": b * q, "b": b}, f"{b * q} ÷ {b} = {q}."


def _percent(ctx: Ctx, t: Template) -> tuple[dict, str]:
    p = ctx.rng.choice([5, 10, 12, 15, 18, 20, 25, 30, 40, 50, 75])
    n = ctx.rng.choice([20, 40, 60, 80, 120, 150, 200, 250, 300, 480, 1000]) + ctx.rng.choice([0, 0, 5, 10])
    return {"p": p, "n": n}, f"{p}% of {n} is {fmt(p * n / 100)}."


def _temperature(ctx: Ctx, t: Template) -> tuple[dict, str]:
    r = ctx.rng
    if t.intent == "c2f":
        x = r.randint(-25, 42)
        return {"x": x}, f"{x} °C is {fmt(to_f(x))} °F (multiply by 9/5, then add 32)."
    if t.intent == "f2c":
        x = r.randint(-5, 110)
        c = (x - 32) * 5 / 9
        about = "" if round(c, 1) == c else "about "
        return {"x": x}, f"{x} °F is {about}{fmt(c)} °C (subtract 32, then multiply by 5/9)."
    x, y = r.randint(-10, 35), r.randint(20, 100)
    y_c = (y - 32) * 5 / 9
    if abs(x - y_c) < 0.5:
        raise NoChoice("the two temperatures are too close to compare")
    if x > y_c:
        return {"x": x, "y": y}, f"Yes: {y} °F is about {fmt(y_c)} °C, so {x} °C is warmer."
    return {"x": x, "y": y}, f"No: {y} °F is about {fmt(y_c)} °C, which is warmer than {x} °C."


def _distance(ctx: Ctx, t: Template) -> tuple[dict, str]:
    x = ctx.rng.choice([ctx.rng.randint(1, 50), ctx.rng.randint(50, 1000), 5, 10, 21, 42])
    if t.intent == "km2mi":
        return {"x": x}, f"{x} km is about {fmt(x * 0.621371)} miles."
    return {"x": x}, f"{x} miles is about {fmt(x * 1.609344)} km."


def _random_day(ctx: Ctx) -> dt.date:
    return dt.date(1900, 1, 1) + dt.timedelta(days=ctx.rng.randint(0, 43_000))  # up to 2017


def _weekday(ctx: Ctx, t: Template) -> tuple[dict, str]:
    day = _random_day(ctx)
    return {"date": long_date(day)}, f"{long_date(day)} was a {day:%A}."


def _days_between(ctx: Ctx, t: Template) -> tuple[dict, str]:
    start = _random_day(ctx)
    end = start + dt.timedelta(days=ctx.rng.randint(2, 400))
    gap = (end - start).days
    return ({"date": long_date(start), "date2": long_date(end)},
            f"There are {gap} days from {long_date(start)} to {long_date(end)}.")


def _name_task(ctx: Ctx, t: Template) -> tuple[dict, str, list[str]]:
    word, entity = _word(ctx)
    if t.intent == "letters":
        letters = sum(ch.isalpha() for ch in word)
        note = "" if word.isalpha() else " (not counting spaces or punctuation)"
        return {"word": word}, f"\"{word}\" has {letters} letters{note}.", [entity]
    if t.intent == "reverse":
        return {"word": word}, f"\"{word}\" backwards is \"{word.lower()[::-1]}\".", [entity]
    return {"word": word}, f"In capital letters: {word.upper()}", [entity]


def _sort(ctx: Ctx, t: Template) -> tuple[dict, str]:
    nums = _numbers(ctx)
    ordered = sorted(nums, reverse=t.intent == "sort_desc")
    way = "largest to smallest" if t.intent == "sort_desc" else "smallest to largest"
    return {"nums": _listed(nums)}, f"From {way}: {_listed(ordered)}."


def _average(ctx: Ctx, t: Template) -> tuple[dict, str]:
    nums = _numbers(ctx, 3, 5)
    mean = sum(nums) / len(nums)
    about = "" if round(mean, 1) == mean else "about "
    return ({"nums": _listed(nums)},
            f"The average is {about}{fmt(mean)}: the numbers add up to {sum(nums)}, divided by {len(nums)}.")


def _prime(ctx: Ctx, t: Template) -> tuple[dict, str]:
    n = ctx.rng.randint(2, 250)
    factor = next((d for d in range(2, int(n ** 0.5) + 1) if n % d == 0), None)
    if t.text.startswith("Can"):  # "Can n be divided by anything other than 1 and itself?" flips yes and no
        if factor is None:
            return {"n": n}, f"No. {n} is a prime number: only 1 and {n} divide it."
        return {"n": n}, f"Yes: {n} = {factor} × {n // factor}, so {n} is not prime."
    if factor is None:
        return {"n": n}, f"Yes, {n} is a prime number: only 1 and {n} divide it."
    return {"n": n}, f"No, {n} is not prime: {n} = {factor} × {n // factor}."


def _alphabet(ctx: Ctx, t: Template) -> tuple[dict, str, list[str]]:
    cities = ctx.rng.sample(ctx.pools.cities, min(len(ctx.pools.cities), ctx.rng.randint(3, 5)))
    names = [c.name for c in cities]
    ordered = sorted(names, key=plain)
    return {"cities": _listed(names)}, f"In alphabetical order: {_listed(ordered)}.", [f"city:{n}" for n in names]


def _country(ctx: Ctx, t: Template) -> tuple[dict, str, list[str]]:
    city = ctx.rng.choice(ctx.pools.cities)
    where = "Antarctica" if city.country == "Antarctica" else city.country
    return {"city": city.name}, f"{city.name} is in {where}.", [f"city:{city.name}"]


# Short phrases and their translations (French, Spanish, German, Italian). Many are about the weather: a request to
# translate "it is raining" is a writing task, not a weather question.
TRANSLATIONS = {
    "good morning": ("bonjour", "buenos días", "guten Morgen", "buongiorno"),
    "thank you": ("merci", "gracias", "danke", "grazie"),
    "good night": ("bonne nuit", "buenas noches", "gute Nacht", "buona notte"),
    "see you tomorrow": ("à demain", "hasta mañana", "bis morgen", "a domani"),
    "how are you?": ("Comment ça va ?", "¿Cómo estás?", "Wie geht es dir?", "Come stai?"),
    "where is the train station?": ("Où est la gare ?", "¿Dónde está la estación de tren?", "Wo ist der Bahnhof?",
                                    "Dov'è la stazione?"),
    "it is cold today": ("Il fait froid aujourd'hui.", "Hoy hace frío.", "Heute ist es kalt.", "Oggi fa freddo."),
    "it is raining": ("Il pleut.", "Está lloviendo.", "Es regnet.", "Sta piovendo."),
    "the weather is nice": ("Il fait beau.", "Hace buen tiempo.", "Das Wetter ist schön.", "Il tempo è bello."),
    "what will the weather be like tomorrow?": ("Quel temps fera-t-il demain ?", "¿Qué tiempo hará mañana?",
                                                "Wie wird das Wetter morgen?", "Che tempo farà domani?"),
    "umbrella": ("parapluie", "paraguas", "Regenschirm", "ombrello"),
    "snow": ("neige", "nieve", "Schnee", "neve"),
    "sunny": ("ensoleillé", "soleado", "sonnig", "soleggiato"),
    "I love you": ("Je t'aime.", "Te quiero.", "Ich liebe dich.", "Ti amo."),
}
LANGUAGES = ("French", "Spanish", "German", "Italian")


def _translate(ctx: Ctx, t: Template) -> tuple[dict, str]:
    phrase = ctx.rng.choice(sorted(TRANSLATIONS))
    index = ctx.rng.randrange(len(LANGUAGES))
    lang, translation = LANGUAGES[index], TRANSLATIONS[phrase][index]
    end = "" if translation[-1] in ".?!" else "."
    return {"phrase": phrase, "lang": lang}, f"In {lang}, \"{phrase}\" is \"{translation}\"{end}"


TASKS = {
    "add": _arith, "sub": _arith, "mul": _arith, "div": _arith, "percent": _percent,
    "c2f": _temperature, "f2c": _temperature, "compare": _temperature, "km2mi": _distance, "mi2km": _distance,
    "weekday": _weekday, "days_between": _days_between, "letters": _name_task, "reverse": _name_task,
    "upper": _name_task, "sort_asc": _sort, "sort_desc": _sort, "average": _average, "prime": _prime,
    "alphabet": _alphabet, "country": _country, "translate": _translate,
}
FACT_INTENTS = {"country"}  # facts about a place: in wiki mode those are lookups, so only other modes get them


def generated_turn(ctx: Ctx, mode: str) -> Turn:
    template = ctx.pick("generated", lambda t: mode in ("weather", "chat") or t.intent not in FACT_INTENTS)
    out = TASKS[template.intent](ctx, template)
    slots, answer, entities = out if len(out) == 3 else (*out, [])
    question = fill(template.text, **slots)
    if template.text.startswith("{"):  # "{city} is in which country?" -> "Oslo is in ..."; casual ones stay lower
        question = question[:1].upper() + question[1:]
    return Turn(question, answer, templates=[template.id], entities=entities)


def no_tool_turn(ctx: Ctx, mode: str) -> Turn:
    """A question that needs no tool in this mode: the answer is plain text."""
    kind = ctx.rng.choices(["qa", "generated", "meta"], weights=[0.5, 0.43, 0.07])[0]
    if kind == "qa":
        item = ctx.rng.choice([q for q in ctx.pools.qa if mode in q.modes])
        return Turn(item.question, item.answer, templates=[item.id])
    if kind == "meta":
        template = ctx.pick("meta")
        return Turn(template.text, META_ANSWERS[mode], templates=[template.id])
    return generated_turn(ctx, mode)
