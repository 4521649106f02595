"""Phrasing banks of the synthetic function-calling dataset, the user's side: how users ask.

Every user phrasing is a `Template` with a stable id. Templates (like cities and Wikipedia topics) are held out per
split by id, so the test set asks in words the model never saw in training. Entities live in `training/dataset/data/`;
the no-tool task questions in `tasks.py`; the assistant's side (shared by all splits: targets, not inputs) in
`answers.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """One way a user asks for something. `text` has slots like {city}, {n}, {name}, {mention}."""

    id: str
    text: str
    intent: str = "general"  # what the question is about: general, temperature, rain, wind, tomorrow, ...
    days: int | str | None = None  # forecast `days` argument: a number, "n" (the {n} slot), or None (tool default)
    focus: int | None = None  # which forecast day the question is about (1 = tomorrow)
    unit: str | None = None  # the unit argument the question asks for
    lang: str = "en"  # only English questions get answer turns (the answers are written in English)
    forecast: bool = False  # a weather question that needs get_weather_forecast (else get_current_weather)

    @property
    def group(self) -> str:
        """Templates are held out per group (`cur.rain`, `fc.en`, ...), so every split gets some of each kind."""
        return self.id.rsplit(".", 1)[0]


def bank(prefix: str, rows: list, **common) -> list[Template]:
    """[text or (text, {attrs}), ...] -> Templates with ids prefix.01, prefix.02, ... (`common` attrs for all)."""
    out = []
    for number, row in enumerate(rows, 1):
        text, attrs = (row, {}) if isinstance(row, str) else row
        out.append(Template(f"{prefix}.{number:02d}", text, **{**common, **attrs}))
    return out


F = {"unit": "fahrenheit"}
C = {"unit": "celsius"}

# ------------------------------------------------------------------------------------------- current weather
CURRENT = (
    bank("cur.general", [
        "What's the weather like in {city}?", "How's the weather in {city} right now?", "Weather in {city}?",
        "What is the current weather in {city}?", "Can you check the weather in {city} for me?",
        "Tell me the weather in {city}.", "What are the conditions in {city} at the moment?",
        "I'm heading out in {city}. What's it like outside?", "Give me the current weather for {city}.",
        "Could you look up the weather in {city}?", "What's it like in {city} today?",
        "Check {city} weather please", "How's it looking in {city} weather-wise?",
        "I'm about to call my sister in {city}. What's the weather there?",
        "Current conditions in {city}, please.", "What's happening with the weather in {city}?",
    ])
    + bank("cur.temperature", [
        ("How warm is it in {city}?", {"intent": "temperature"}),
        ("What's the temperature in {city} right now?", {"intent": "temperature"}),
        ("How cold is it in {city}?", {"intent": "temperature"}),
        ("Is it hot in {city} today?", {"intent": "temperature"}),
        ("What temperature is it in {city}?", {"intent": "temperature"}),
        ("How many degrees is it in {city} now?", {"intent": "temperature"}),
        ("Is it freezing in {city}?", {"intent": "temperature"}),
        ("Temperature in {city}?", {"intent": "temperature"}),
    ])
    + bank("cur.rain", [
        ("Is it raining in {city}?", {"intent": "rain"}),
        ("Is it raining in {city} right now?", {"intent": "rain"}),
        ("Is it wet in {city} at the moment?", {"intent": "rain"}),
        ("Any rain in {city} right now?", {"intent": "rain"}),
        ("Is it dry in {city} today?", {"intent": "rain"}),
        ("Are there showers in {city} right now?", {"intent": "rain"}),
    ])
    + bank("cur.snow", [
        ("Is it snowing in {city}?", {"intent": "snow"}),
        ("Is there snow falling in {city} right now?", {"intent": "snow"}),
        ("Any snow in {city} at the moment?", {"intent": "snow"}),
    ])
    + bank("cur.wind", [
        ("How windy is it in {city}?", {"intent": "wind"}),
        ("What's the wind like in {city} right now?", {"intent": "wind"}),
        ("Is it windy in {city} today?", {"intent": "wind"}),
        ("How strong is the wind in {city}?", {"intent": "wind"}),
    ])
    + bank("cur.umbrella", [
        ("Do I need an umbrella in {city} today?", {"intent": "umbrella"}),
        ("Should I take an umbrella in {city}?", {"intent": "umbrella"}),
        ("Will I need a raincoat in {city} right now?", {"intent": "umbrella"}),
        ("Should I bring an umbrella when I go out in {city}?", {"intent": "umbrella"}),
    ])
    + bank("cur.jacket", [
        ("Do I need a jacket in {city}?", {"intent": "jacket"}),
        ("Should I wear a coat in {city} today?", {"intent": "jacket"}),
        ("Is it T-shirt weather in {city}?", {"intent": "jacket"}),
        ("What should I wear in {city} right now?", {"intent": "jacket"}),
    ])
    + bank("cur.sunny", [
        ("Is it sunny in {city}?", {"intent": "sunny"}),
        ("Is the sun out in {city} right now?", {"intent": "sunny"}),
        ("Is it cloudy in {city}?", {"intent": "sunny"}),
    ])
    + bank("cur.unit", [
        ("What's the weather in {city} in Fahrenheit?", F),
        ("How hot is it in {city}, in °F?", {"intent": "temperature", **F}),
        ("Temperature in {city} in degrees Fahrenheit please", {"intent": "temperature", **F}),
        ("What's the weather like in {city}? Use Fahrenheit.", F),
        ("Give me the current temperature in {city} in Celsius.", {"intent": "temperature", **C}),
        ("How warm is it in {city} in °C?", {"intent": "temperature", **C}),
        ("Current weather in {city}, fahrenheit please.", F),
        ("I'm American, so in Fahrenheit please: what's it like in {city} now?", F),
    ])
    + bank("cur.casual", [
        ("whats the wether in {city}", {"lang": "casual"}),
        ("weather {city}", {"lang": "casual"}),
        ("hows the weather in {city} rn", {"lang": "casual"}),
        ("temprature in {city}??", {"intent": "temperature", "lang": "casual"}),
        ("is it raning in {city}", {"intent": "rain", "lang": "casual"}),
        ("wheather {city} now pls", {"lang": "casual"}),
        ("{city} weather", {"lang": "casual"}),
        ("how cold is it in {city} atm", {"intent": "temperature", "lang": "casual"}),
    ])
)

# ---------------------------------------------------------------------------------------------- forecast
FORECAST = (
    bank("fc.general", [
        ("What's the forecast for {city}?", {}),
        ("What will the weather be like in {city} over the next few days?", {}),
        ("Give me the weather forecast for {city}.", {}),
        ("How's the weather looking in {city} for the coming days?", {}),
        ("Can you get me the forecast for {city}?", {}),
        ("What's the outlook for {city}?", {}),
        ("I'm travelling to {city} soon. What will the weather be like?", {}),
    ], forecast=True)
    + bank("fc.days", [
        ("What's the {n}-day forecast for {city}?", {"days": "n"}),
        ("Give me the weather in {city} for the next {n} days.", {"days": "n"}),
        ("Forecast for {city}, {n} days please.", {"days": "n"}),
        ("What will the weather be in {city} over the next {n} days?", {"days": "n"}),
        ("Show me {n} days of forecast for {city}.", {"days": "n"}),
        ("I'll be in {city} for {n} days starting today. What's the forecast?", {"days": "n"}),
        ("How will the weather develop in {city} over the next {n} days?", {"days": "n"}),
    ], forecast=True)
    + bank("fc.week", [
        ("What's the weather going to be like in {city} this week?", {"days": 7}),
        ("Give me the weekly forecast for {city}.", {"days": 7}),
        ("What's the 7-day outlook for {city}?", {"days": 7}),
        ("Weather for the next week in {city}?", {"days": 7}),
    ], forecast=True)
    + bank("fc.tomorrow", [
        ("What's the weather in {city} tomorrow?", {"days": 2, "focus": 1, "intent": "tomorrow"}),
        ("Will it be warm in {city} tomorrow?", {"days": 2, "focus": 1, "intent": "tomorrow"}),
        ("What's tomorrow's forecast for {city}?", {"days": 2, "focus": 1, "intent": "tomorrow"}),
        ("How cold will it get in {city} tomorrow?", {"days": 2, "focus": 1, "intent": "tomorrow"}),
        ("What should I expect in {city} tomorrow, weather-wise?", {"days": 2, "focus": 1, "intent": "tomorrow"}),
        ("Tomorrow in {city}: sun or clouds?", {"days": 2, "focus": 1, "intent": "tomorrow"}),
        ("What will the weather be like in {city} the day after tomorrow?",
         {"days": 3, "focus": 2, "intent": "tomorrow"}),
        ("How will the weather be in {city} the day after tomorrow?", {"days": 3, "focus": 2, "intent": "tomorrow"}),
    ], forecast=True)
    + bank("fc.rain", [
        ("Will it rain in {city} in the next {n} days?", {"days": "n", "intent": "rain"}),
        ("Is rain expected in {city} this week?", {"days": 7, "intent": "rain"}),
        ("Will it rain in {city} tomorrow?", {"days": 2, "intent": "rain"}),
        ("Should I expect rain in {city} over the next few days?", {"intent": "rain"}),
        ("Any chance of rain in {city} in the coming {n} days?", {"days": "n", "intent": "rain"}),
        ("Do I need an umbrella in {city} tomorrow?", {"days": 2, "intent": "rain"}),
    ], forecast=True)
    + bank("fc.unit", [
        ("What's the forecast for {city} in Fahrenheit?", F),
        ("Give me the {n}-day forecast for {city} in °F.", {"days": "n", **F}),
        ("What will the weather be in {city} tomorrow, in Fahrenheit?",
         {"days": 2, "focus": 1, "intent": "tomorrow", **F}),
        ("Forecast for {city} this week, in Celsius please.", {"days": 7, **C}),
    ], forecast=True)
    + bank("fc.casual", [
        ("forecast {city} tmrw", {"days": 2, "focus": 1, "intent": "tomorrow", "lang": "casual"}),
        ("wether forcast for {city}", {"lang": "casual"}),
        ("{city} forecast next {n} days", {"days": "n", "lang": "casual"}),
        ("will it rain in {city} this week??", {"days": 7, "intent": "rain", "lang": "casual"}),
    ], forecast=True)
)

# Questions in other languages: the call is the same, whatever the language of the question.
FOREIGN = (
    bank("weather.fr", [
        ("Quel temps fait-il à {city} ?", {"lang": "fr"}),
        ("Il fait combien à {city} en ce moment ?", {"lang": "fr", "intent": "temperature"}),
        ("Quelle est la météo à {city} demain ?", {"lang": "fr", "days": 2, "focus": 1, "forecast": True}),
        ("Est-ce qu'il pleut à {city} ?", {"lang": "fr", "intent": "rain"}),
    ])
    + bank("weather.es", [
        ("¿Qué tiempo hace en {city}?", {"lang": "es"}),
        ("¿Cuál es la temperatura en {city} ahora?", {"lang": "es", "intent": "temperature"}),
        ("¿Va a llover en {city} mañana?", {"lang": "es", "days": 2, "focus": 1, "forecast": True}),
        ("Pronóstico del tiempo para {city}, por favor.", {"lang": "es", "forecast": True}),
    ])
    + bank("weather.de", [
        ("Wie ist das Wetter in {city}?", {"lang": "de"}),
        ("Wie warm ist es gerade in {city}?", {"lang": "de", "intent": "temperature"}),
        ("Wie wird das Wetter morgen in {city}?", {"lang": "de", "days": 2, "focus": 1, "forecast": True}),
        ("Regnet es in {city}?", {"lang": "de", "intent": "rain"}),
    ])
    + bank("weather.sv", [
        ("Hur är vädret i {city}?", {"lang": "sv"}),
        ("Hur varmt är det i {city} nu?", {"lang": "sv", "intent": "temperature"}),
        ("Vad blir det för väder i {city} i morgon?", {"lang": "sv", "days": 2, "focus": 1, "forecast": True}),
    ])
    + bank("weather.it", [
        ("Che tempo fa a {city}?", {"lang": "it"}),
        ("Che tempo farà domani a {city}?", {"lang": "it", "days": 2, "focus": 1, "forecast": True}),
        ("Piove a {city}?", {"lang": "it", "intent": "rain"}),
    ])
    + bank("weather.pt", [
        ("Como está o tempo em {city}?", {"lang": "pt"}),
        ("Vai chover em {city} amanhã?", {"lang": "pt", "days": 2, "focus": 1, "forecast": True}),
        ("Qual é a temperatura em {city} agora?", {"lang": "pt", "intent": "temperature"}),
    ])
)

# ------------------------------------------------------------------------------------------- two places at once
PARALLEL = bank("par.current", [
    "What's the weather in {city} and in {city2}?", "Compare the weather in {city} and {city2}.",
    "Is it warmer in {city} or {city2} right now?", "How's the weather in {city} and {city2}?",
    "Weather in {city} and {city2}, please.", "I have friends in {city} and {city2}. What's the weather there?",
    "Which is colder right now, {city} or {city2}?",
]) + bank("par.forecast", [
    ("Give me tomorrow's forecast for {city} and {city2}.", {"days": 2, "focus": 1}),
    ("What's the forecast for {city} and {city2}?", {}),
    ("Compare the next {n} days in {city} and {city2}.", {"days": "n"}),
    ("Will it rain tomorrow in {city} or {city2}?", {"days": 2, "focus": 1}),
], forecast=True) + bank("par.mixed", [
    "What's the weather in {city}, and who was {name}?", "Tell me about {mention} and check the weather in {city}.",
    "Look up {mention} on Wikipedia and tell me the weather in {city}.",
    "Two things: the weather in {city}, and a short summary of {mention}.",
]) + bank("par.mixed_more", [  # more ways of asking for both (a group of its own: par.mixed's held-out set stays)
    "Look up {mention} for me, and what's the weather like in {city}?",
    "I need some background on {mention} and the current weather in {city}.",
    "Can you search for {mention} and also get the weather in {city}?",
    "What do you know about {mention}? Plus the weather in {city}, please.",
    "Explain {mention} briefly, then give me the weather in {city}.",
    "How's the weather in {city}? And can you look up {mention} too?",
])

# ------------------------------------------------------------------------------------------------ Wikipedia
WIKI_PERSON = bank("wiki.person", [
    "Who was {name}?", "Tell me about {name}.", "What is {name} known for?", "Can you look up {name} on Wikipedia?",
    "Give me a short bio of {name}.", "I want to learn about {name}.", "What does Wikipedia say about {name}?",
    "Search Wikipedia for {name}.", "Who exactly was {name}?", "Find me some information on {name}.",
    "Why is {name} famous?", "I keep hearing about {name}. Who was that?",
])
WIKI_OTHER = bank("wiki.other", [
    "Tell me about {mention}.", "Look up {mention} on Wikipedia.", "What does Wikipedia say about {mention}?",
    "Can you find information on {mention}?", "Give me a quick summary of {mention}.", "Explain {mention} to me.",
    "I'd like to learn about {mention}.", "Search Wikipedia for {query}.", "What should I know about {mention}?",
    "Can you look up {mention} for me?", "I need facts about {mention} for a school project.",
])
WIKI_CASUAL = bank("wiki.casual", [
    ("wiki {query}", {"lang": "casual"}), ("who was {name} lol", {"lang": "casual", "intent": "person"}),
    ("tell me abt {mention}", {"lang": "casual"}), ("look up {mention} pls", {"lang": "casual"}),
])
WIKI_FOREIGN = bank("wiki.foreign", [
    ("Qui était {name} ?", {"lang": "fr", "intent": "person"}),
    ("¿Quién fue {name}?", {"lang": "es", "intent": "person"}),
    ("Wer war {name}?", {"lang": "de", "intent": "person"}), ("Vem var {name}?", {"lang": "sv", "intent": "person"}),
    ("Chi era {name}?", {"lang": "it", "intent": "person"}),
])

# ------------------------------------------------------------------------------------------ missing information
FC = {"forecast": True}
MISSING_WEATHER = bank("missing.weather", [  # forecast/days: the call to make once the user names a place
    "What's the weather like?", ("Is it going to rain tomorrow?", {**FC, "days": 2}), "How cold is it outside?",
    ("Give me the forecast.", FC), "What's the temperature right now?", "Do I need an umbrella today?",
    ("Will it snow this week?", {**FC, "days": 7}), "weather?", "Check the weather for me.",
    ("How warm will it be tomorrow?", {**FC, "days": 2}), "Is it windy out there?",
    ("What's the 5-day forecast?", {**FC, "days": 5}), "Should I wear a jacket today?",
    "Tell me the weather, please.", "Is it sunny where I am?",
    ("What's the weather going to be like this weekend?", {**FC, "days": 7}),
    ("How hot will it get today?", {**FC, "days": 1}), ("Any storms coming?", FC), "What's the wind speed right now?",
    ("Can you tell me the forecast for next week?", {**FC, "days": 7}), "Is it T-shirt weather today?",
    "what temp is it", ("Will I need gloves tomorrow?", {**FC, "days": 2}),
    ("Give me the weather in Fahrenheit.", {"unit": "fahrenheit"}),
])
MISSING_WIKI = bank("missing.wiki", [  # intent: what kind of topic the user has in mind (for the clarification)
    "Can you look something up on Wikipedia for me?", "Search Wikipedia.", ("Who was he?", {"intent": "person"}),
    ("Tell me about that place.", {"intent": "place"}), "I need some facts for my essay.",
    "Look it up on Wikipedia.", "What does Wikipedia say?", "Find me an article.",
    ("Tell me about her.", {"intent": "person"}), ("Who invented it?", {"intent": "thing"}),
    "Can you search something for me?", ("I want to read about a famous scientist.", {"intent": "person"}),
])
# Questions about the assistant itself: the answer depends on the mode's tools.
META = bank("meta", [
    "What can you do?", "What are you able to help with?", "Which tools do you have?", "How can you help me?",
    "What kind of questions can I ask you?",
])

# ------------------------------------------------------------------------------------------------ follow-ups
FOLLOW_OTHER_CITY = bank("fu.city", ["And in {city2}?", "What about {city2}?", "How about {city2}?",
                                     "Same for {city2}, please.", "And {city2}?", "Now do {city2}."])
FOLLOW_TOMORROW = bank("fu.tomorrow", [("And tomorrow?", {"days": 2}), ("What about tomorrow?", {"days": 2}),
                                       ("Will it be better tomorrow?", {"days": 2}),
                                       ("And the rest of the week?", {"days": 7}),
                                       ("What about the next few days?", {}),
                                       ("How about the next {n} days?", {"days": "n"})])
FOLLOW_UNIT = bank("fu.unit", ["Can you give me that in Fahrenheit?", "In Fahrenheit, please.",
                               "What's that in °F?", "Could you switch to Fahrenheit?"]) + bank("fu.unit_more", [
    "And in Fahrenheit?", "Switch that to Fahrenheit.", "I only understand Fahrenheit.",
    "Can you do Fahrenheit instead?", "How much is that in degrees F?"])  # a group of its own, as par.mixed_more
FOLLOW_THANKS = bank("fu.thanks", ["Thanks!", "Great, thank you.", "Perfect, thanks a lot!", "Cool, thanks.",
                                   "Thank you, that's all I needed."])
FOLLOW_UMBRELLA = bank("fu.umbrella", [("So do I need an umbrella?", {"intent": "umbrella"}),
                                       ("Should I take a jacket then?", {"intent": "jacket"}),
                                       ("Is it raining there?", {"intent": "rain"}),
                                       ("So, is it warm there?", {"intent": "temperature"}),
                                       ("Should I wear a coat?", {"intent": "jacket"})])
FOLLOW_CLARIFY = bank("fu.clarify", ["{city}", "In {city}.", "I'm in {city}.", "{city}, please.", "Oh, {city}."])
FOLLOW_CLARIFY_WIKI = bank("fu.topic", ["{name}", "I mean {mention}.", "{mention}, please.", "Sorry: {mention}."])
FOLLOW_WIKI = bank("fu.wiki", ["And {name2}?", "What about {mention2}?", "Now look up {mention2}.",
                               "Can you also tell me about {mention2}?", "Next: {mention2}."])

# ------------------------------------------------------------------------------- entities for the error turns
FAKE_PLACES = ["Narnia", "Hogwarts", "Wakanda", "Mordor", "Westeros", "Neverland", "Gotham City", "Qwertyville",
               "Xyzzyburg", "Flibbertown", "Middle-earth", "Zanzibarbados", "Plonkton-on-Sea", "Bikini Bottom"]
UNKNOWN_TOPICS = [  # (query, how a user mentions it, is it a person)
    ("Zorblax theorem", "the Zorblax theorem", False), ("Captain Fizzlewick", "Captain Fizzlewick", True),
    ("Great Bubble War of 1832", "the Great Bubble War of 1832", False), ("Blorptown", "Blorptown", False),
    ("Quillan Dravenport", "Quillan Dravenport", True),
    ("Treaty of Nordvik Falls", "the Treaty of Nordvik Falls", False),
    ("Snorkelwood Abbey", "Snorkelwood Abbey", False), ("Vexley–Marrow equation", "the Vexley–Marrow equation", False),
    ("Lake Pindleweather", "Lake Pindleweather", False), ("Grumbleton Castle", "Grumbleton Castle", False),
    ("Kettleby Uprising", "the Kettleby Uprising", False), ("Oswin Marlowfrith", "Oswin Marlowfrith", True),
]
AMBIGUOUS = {  # a query that lands on a disambiguation page -> the options the tool lists
    "Mercury": ["Mercury (planet)", "Mercury (element)", "Mercury (mythology)", "Freddie Mercury"],
    "Georgia": ["Georgia (country)", "Georgia (U.S. state)"],
    "Springfield": ["Springfield, Illinois", "Springfield, Massachusetts", "Springfield, Missouri"],
    "Titan": ["Titan (moon)", "Titans", "Titan (rocket family)"],
    "Amazon": ["Amazon River", "Amazon rainforest", "Amazon (company)", "Amazons"],
    "Python": ["Python (programming language)", "Pythonidae", "Python (mythology)", "Monty Python"],
    "Columbia": ["Columbia University", "Columbia River", "Space Shuttle Columbia"],
    "Bass": ["Bass (fish)", "Bass guitar", "Bass (voice type)"],
    "Cardinal": ["Cardinal (Catholic Church)", "Cardinal (bird)", "Cardinal number"],
    "Washington": ["Washington (state)", "Washington, D.C.", "George Washington"],
    "Victoria": ["Victoria (state)", "Queen Victoria", "Victoria, British Columbia"],
}
