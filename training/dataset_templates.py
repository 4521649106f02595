"""Phrasing banks of the synthetic function-calling dataset: how users ask, and how the assistant answers.

Every user phrasing is a `Template` with a stable id. Templates (like cities and Wikipedia topics) are held out per
split by id, so the test set asks in words the model never saw in training. Entities live in `training/data/`.
Answer phrasings (the assistant's side) are shared by all splits: they are targets, not inputs.
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


def _bank(prefix: str, rows: list, **common) -> list[Template]:
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
    _bank("cur.general", [
        "What's the weather like in {city}?", "How's the weather in {city} right now?", "Weather in {city}?",
        "What is the current weather in {city}?", "Can you check the weather in {city} for me?",
        "Tell me the weather in {city}.", "What are the conditions in {city} at the moment?",
        "I'm heading out in {city}. What's it like outside?", "Give me the current weather for {city}.",
        "Could you look up the weather in {city}?", "What's it like in {city} today?",
        "Check {city} weather please", "How's it looking in {city} weather-wise?",
        "I'm about to call my sister in {city}. What's the weather there?",
        "Current conditions in {city}, please.", "What's happening with the weather in {city}?",
    ])
    + _bank("cur.temperature", [
        ("How warm is it in {city}?", {"intent": "temperature"}),
        ("What's the temperature in {city} right now?", {"intent": "temperature"}),
        ("How cold is it in {city}?", {"intent": "temperature"}),
        ("Is it hot in {city} today?", {"intent": "temperature"}),
        ("What temperature is it in {city}?", {"intent": "temperature"}),
        ("How many degrees is it in {city} now?", {"intent": "temperature"}),
        ("Is it freezing in {city}?", {"intent": "temperature"}),
        ("Temperature in {city}?", {"intent": "temperature"}),
    ])
    + _bank("cur.rain", [
        ("Is it raining in {city}?", {"intent": "rain"}),
        ("Is it raining in {city} right now?", {"intent": "rain"}),
        ("Is it wet in {city} at the moment?", {"intent": "rain"}),
        ("Any rain in {city} right now?", {"intent": "rain"}),
        ("Is it dry in {city} today?", {"intent": "rain"}),
        ("Are there showers in {city} right now?", {"intent": "rain"}),
    ])
    + _bank("cur.snow", [
        ("Is it snowing in {city}?", {"intent": "snow"}),
        ("Is there snow falling in {city} right now?", {"intent": "snow"}),
        ("Any snow in {city} at the moment?", {"intent": "snow"}),
    ])
    + _bank("cur.wind", [
        ("How windy is it in {city}?", {"intent": "wind"}),
        ("What's the wind like in {city} right now?", {"intent": "wind"}),
        ("Is it windy in {city} today?", {"intent": "wind"}),
        ("How strong is the wind in {city}?", {"intent": "wind"}),
    ])
    + _bank("cur.umbrella", [
        ("Do I need an umbrella in {city} today?", {"intent": "umbrella"}),
        ("Should I take an umbrella in {city}?", {"intent": "umbrella"}),
        ("Will I need a raincoat in {city} right now?", {"intent": "umbrella"}),
        ("Should I bring an umbrella when I go out in {city}?", {"intent": "umbrella"}),
    ])
    + _bank("cur.jacket", [
        ("Do I need a jacket in {city}?", {"intent": "jacket"}),
        ("Should I wear a coat in {city} today?", {"intent": "jacket"}),
        ("Is it T-shirt weather in {city}?", {"intent": "jacket"}),
        ("What should I wear in {city} right now?", {"intent": "jacket"}),
    ])
    + _bank("cur.sunny", [
        ("Is it sunny in {city}?", {"intent": "sunny"}),
        ("Is the sun out in {city} right now?", {"intent": "sunny"}),
        ("Is it cloudy in {city}?", {"intent": "sunny"}),
    ])
    + _bank("cur.unit", [
        ("What's the weather in {city} in Fahrenheit?", F),
        ("How hot is it in {city}, in °F?", {"intent": "temperature", **F}),
        ("Temperature in {city} in degrees Fahrenheit please", {"intent": "temperature", **F}),
        ("What's the weather like in {city}? Use Fahrenheit.", F),
        ("Give me the current temperature in {city} in Celsius.", {"intent": "temperature", **C}),
        ("How warm is it in {city} in °C?", {"intent": "temperature", **C}),
        ("Current weather in {city}, fahrenheit please.", F),
        ("I'm American, so in Fahrenheit please: what's it like in {city} now?", F),
    ])
    + _bank("cur.casual", [
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
    _bank("fc.general", [
        ("What's the forecast for {city}?", {}),
        ("What will the weather be like in {city} over the next few days?", {}),
        ("Give me the weather forecast for {city}.", {}),
        ("How's the weather looking in {city} for the coming days?", {}),
        ("Can you get me the forecast for {city}?", {}),
        ("What's the outlook for {city}?", {}),
        ("I'm travelling to {city} soon. What will the weather be like?", {}),
    ], forecast=True)
    + _bank("fc.days", [
        ("What's the {n}-day forecast for {city}?", {"days": "n"}),
        ("Give me the weather in {city} for the next {n} days.", {"days": "n"}),
        ("Forecast for {city}, {n} days please.", {"days": "n"}),
        ("What will the weather be in {city} over the next {n} days?", {"days": "n"}),
        ("Show me {n} days of forecast for {city}.", {"days": "n"}),
        ("I'll be in {city} for {n} days starting today. What's the forecast?", {"days": "n"}),
        ("How will the weather develop in {city} over the next {n} days?", {"days": "n"}),
    ], forecast=True)
    + _bank("fc.week", [
        ("What's the weather going to be like in {city} this week?", {"days": 7}),
        ("Give me the weekly forecast for {city}.", {"days": 7}),
        ("What's the 7-day outlook for {city}?", {"days": 7}),
        ("Weather for the next week in {city}?", {"days": 7}),
    ], forecast=True)
    + _bank("fc.tomorrow", [
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
    + _bank("fc.rain", [
        ("Will it rain in {city} in the next {n} days?", {"days": "n", "intent": "rain"}),
        ("Is rain expected in {city} this week?", {"days": 7, "intent": "rain"}),
        ("Will it rain in {city} tomorrow?", {"days": 2, "intent": "rain"}),
        ("Should I expect rain in {city} over the next few days?", {"intent": "rain"}),
        ("Any chance of rain in {city} in the coming {n} days?", {"days": "n", "intent": "rain"}),
        ("Do I need an umbrella in {city} tomorrow?", {"days": 2, "intent": "rain"}),
    ], forecast=True)
    + _bank("fc.unit", [
        ("What's the forecast for {city} in Fahrenheit?", F),
        ("Give me the {n}-day forecast for {city} in °F.", {"days": "n", **F}),
        ("What will the weather be in {city} tomorrow, in Fahrenheit?",
         {"days": 2, "focus": 1, "intent": "tomorrow", **F}),
        ("Forecast for {city} this week, in Celsius please.", {"days": 7, **C}),
    ], forecast=True)
    + _bank("fc.casual", [
        ("forecast {city} tmrw", {"days": 2, "focus": 1, "intent": "tomorrow", "lang": "casual"}),
        ("wether forcast for {city}", {"lang": "casual"}),
        ("{city} forecast next {n} days", {"days": "n", "lang": "casual"}),
        ("will it rain in {city} this week??", {"days": 7, "intent": "rain", "lang": "casual"}),
    ], forecast=True)
)

# Questions in other languages: the call is the same, whatever the language of the question.
FOREIGN = (
    _bank("weather.fr", [
        ("Quel temps fait-il à {city} ?", {"lang": "fr"}),
        ("Il fait combien à {city} en ce moment ?", {"lang": "fr", "intent": "temperature"}),
        ("Quelle est la météo à {city} demain ?", {"lang": "fr", "days": 2, "focus": 1, "forecast": True}),
        ("Est-ce qu'il pleut à {city} ?", {"lang": "fr", "intent": "rain"}),
    ])
    + _bank("weather.es", [
        ("¿Qué tiempo hace en {city}?", {"lang": "es"}),
        ("¿Cuál es la temperatura en {city} ahora?", {"lang": "es", "intent": "temperature"}),
        ("¿Va a llover en {city} mañana?", {"lang": "es", "days": 2, "focus": 1, "forecast": True}),
        ("Pronóstico del tiempo para {city}, por favor.", {"lang": "es", "forecast": True}),
    ])
    + _bank("weather.de", [
        ("Wie ist das Wetter in {city}?", {"lang": "de"}),
        ("Wie warm ist es gerade in {city}?", {"lang": "de", "intent": "temperature"}),
        ("Wie wird das Wetter morgen in {city}?", {"lang": "de", "days": 2, "focus": 1, "forecast": True}),
        ("Regnet es in {city}?", {"lang": "de", "intent": "rain"}),
    ])
    + _bank("weather.sv", [
        ("Hur är vädret i {city}?", {"lang": "sv"}),
        ("Hur varmt är det i {city} nu?", {"lang": "sv", "intent": "temperature"}),
        ("Vad blir det för väder i {city} i morgon?", {"lang": "sv", "days": 2, "focus": 1, "forecast": True}),
    ])
    + _bank("weather.it", [
        ("Che tempo fa a {city}?", {"lang": "it"}),
        ("Che tempo farà domani a {city}?", {"lang": "it", "days": 2, "focus": 1, "forecast": True}),
        ("Piove a {city}?", {"lang": "it", "intent": "rain"}),
    ])
    + _bank("weather.pt", [
        ("Como está o tempo em {city}?", {"lang": "pt"}),
        ("Vai chover em {city} amanhã?", {"lang": "pt", "days": 2, "focus": 1, "forecast": True}),
        ("Qual é a temperatura em {city} agora?", {"lang": "pt", "intent": "temperature"}),
    ])
)

# ------------------------------------------------------------------------------------------- two places at once
PARALLEL = _bank("par.current", [
    "What's the weather in {city} and in {city2}?", "Compare the weather in {city} and {city2}.",
    "Is it warmer in {city} or {city2} right now?", "How's the weather in {city} and {city2}?",
    "Weather in {city} and {city2}, please.", "I have friends in {city} and {city2}. What's the weather there?",
    "Which is colder right now, {city} or {city2}?",
]) + _bank("par.forecast", [
    ("Give me tomorrow's forecast for {city} and {city2}.", {"days": 2, "focus": 1}),
    ("What's the forecast for {city} and {city2}?", {}),
    ("Compare the next {n} days in {city} and {city2}.", {"days": "n"}),
    ("Will it rain tomorrow in {city} or {city2}?", {"days": 2, "focus": 1}),
], forecast=True) + _bank("par.mixed", [
    "What's the weather in {city}, and who was {name}?", "Tell me about {mention} and check the weather in {city}.",
    "Look up {mention} on Wikipedia and tell me the weather in {city}.",
    "Two things: the weather in {city}, and a short summary of {mention}.",
])

# ------------------------------------------------------------------------------------------------ Wikipedia
WIKI_PERSON = _bank("wiki.person", [
    "Who was {name}?", "Tell me about {name}.", "What is {name} known for?", "Can you look up {name} on Wikipedia?",
    "Give me a short bio of {name}.", "I want to learn about {name}.", "What does Wikipedia say about {name}?",
    "Search Wikipedia for {name}.", "Who exactly was {name}?", "Find me some information on {name}.",
    "Why is {name} famous?", "I keep hearing about {name}. Who was that?",
])
WIKI_OTHER = _bank("wiki.other", [
    "Tell me about {mention}.", "Look up {mention} on Wikipedia.", "What does Wikipedia say about {mention}?",
    "Can you find information on {mention}?", "Give me a quick summary of {mention}.", "Explain {mention} to me.",
    "I'd like to learn about {mention}.", "Search Wikipedia for {query}.", "What should I know about {mention}?",
    "Can you look up {mention} for me?", "I need facts about {mention} for a school project.",
])
WIKI_CASUAL = _bank("wiki.casual", [
    ("wiki {query}", {"lang": "casual"}), ("who was {name} lol", {"lang": "casual", "intent": "person"}),
    ("tell me abt {mention}", {"lang": "casual"}), ("look up {mention} pls", {"lang": "casual"}),
])
WIKI_FOREIGN = _bank("wiki.foreign", [
    ("Qui était {name} ?", {"lang": "fr", "intent": "person"}),
    ("¿Quién fue {name}?", {"lang": "es", "intent": "person"}),
    ("Wer war {name}?", {"lang": "de", "intent": "person"}), ("Vem var {name}?", {"lang": "sv", "intent": "person"}),
    ("Chi era {name}?", {"lang": "it", "intent": "person"}),
])

# ------------------------------------------------------------------------------------------ missing information
FC = {"forecast": True}
MISSING_WEATHER = _bank("missing.weather", [  # forecast/days: the call to make once the user names a place
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
MISSING_WIKI = _bank("missing.wiki", [  # intent: what kind of topic the user has in mind (for the clarification)
    "Can you look something up on Wikipedia for me?", "Search Wikipedia.", ("Who was he?", {"intent": "person"}),
    ("Tell me about that place.", {"intent": "place"}), "I need some facts for my essay.",
    "Look it up on Wikipedia.", "What does Wikipedia say?", "Find me an article.",
    ("Tell me about her.", {"intent": "person"}), ("Who invented it?", {"intent": "thing"}),
    "Can you search something for me?", ("I want to read about a famous scientist.", {"intent": "person"}),
])
ASK_CITY = [
    "Sure! Which city or place should I check?", "Happy to help. Which city are you asking about?",
    "Which place would you like the weather for?", "I can check that. Where are you, or which city do you mean?",
    "Sure, I just need a location. Which city should I look up?",
    "For which city? Tell me the place and I'll check.", "Where should I check the weather?",
]
ASK_TOPIC = [
    "Of course. What topic should I look up?", "Sure! Who or what would you like me to look up?",
    "Happy to. What should I search Wikipedia for?", "Which person, place or topic do you mean?",
    "I'm not sure who or what you mean. Could you give me a name?",
]

# Questions about the assistant itself: the answer depends on the mode's tools.
META = _bank("meta", [
    "What can you do?", "What are you able to help with?", "Which tools do you have?", "How can you help me?",
    "What kind of questions can I ask you?",
])
META_ANSWERS = {
    "weather": "I can check the current weather and the daily forecast for cities around the world, in Celsius or "
               "Fahrenheit. I can also chat and help with everyday questions that don't need live data.",
    "wiki": "I can look things up on Wikipedia and summarise them for you: people, places, events, science and more. "
            "I can also help with writing, maths and everyday questions.",
    "all": "I can check the current weather and forecasts for any city, look things up on Wikipedia, and help with "
           "writing, maths, coding and everyday questions.",
    "chat": "I can chat, answer questions, and help with writing, maths, coding and advice. I don't have live data "
            "such as the weather or Wikipedia in this mode.",
}
FROM_MEMORY = ["In short:", "Briefly:", "Here's a short answer:"]  # facts answered without a lookup
NO_WEATHER_TOOL = [
    "I can't check live weather in this mode, so I don't know the current conditions in {city}. A weather app or "
    "website will have them; switch to the weather assistant and I can look it up.",
    "I don't have access to live weather data here, so I can't tell you the weather in {city}. Try the weather "
    "assistant mode, or a weather website.",
]

# ------------------------------------------------------------------------------------------------ follow-ups
FOLLOW_OTHER_CITY = _bank("fu.city", ["And in {city2}?", "What about {city2}?", "How about {city2}?",
                                      "Same for {city2}, please.", "And {city2}?", "Now do {city2}."])
FOLLOW_TOMORROW = _bank("fu.tomorrow", [("And tomorrow?", {"days": 2}), ("What about tomorrow?", {"days": 2}),
                                        ("Will it be better tomorrow?", {"days": 2}),
                                        ("And the rest of the week?", {"days": 7}),
                                        ("What about the next few days?", {}),
                                        ("How about the next {n} days?", {"days": "n"})])
FOLLOW_UNIT = _bank("fu.unit", ["Can you give me that in Fahrenheit?", "In Fahrenheit, please.",
                                "What's that in °F?", "Could you switch to Fahrenheit?"])
FOLLOW_THANKS = _bank("fu.thanks", ["Thanks!", "Great, thank you.", "Perfect, thanks a lot!", "Cool, thanks.",
                                    "Thank you, that's all I needed."])
THANKS_ANSWERS = ["You're welcome!", "You're welcome! Let me know if you need anything else.",
                  "Glad I could help!", "Any time! Enjoy your day."]
FOLLOW_UMBRELLA = _bank("fu.umbrella", [("So do I need an umbrella?", {"intent": "umbrella"}),
                                        ("Should I take a jacket then?", {"intent": "jacket"}),
                                        ("Is it raining there?", {"intent": "rain"}),
                                        ("So, is it warm there?", {"intent": "temperature"}),
                                        ("Should I wear a coat?", {"intent": "jacket"})])
FOLLOW_CLARIFY = _bank("fu.clarify", ["{city}", "In {city}.", "I'm in {city}.", "{city}, please.", "Oh, {city}."])
FOLLOW_CLARIFY_WIKI = _bank("fu.topic", ["{name}", "I mean {mention}.", "{mention}, please.", "Sorry: {mention}."])
FOLLOW_WIKI = _bank("fu.wiki", ["And {name2}?", "What about {mention2}?", "Now look up {mention2}.",
                                "Can you also tell me about {mention2}?", "Next: {mention2}."])

# ------------------------------------------------------------------------------------ the assistant's answers
# Current weather, by what the question was about. Slots: city temp feels u cond wind hum.
CURRENT_ANSWERS = {
    "general": [
        "Right now in {city} it's {temp} {u} ({cond}). It feels like {feels} {u}, and the wind is {wind} km/h.",
        "It's currently {temp} {u} in {city}, {cond}.",
        "{city} right now: {cond}, {temp} {u} (feels like {feels} {u}).",
        "Currently in {city}: {cond}, {temp} {u}, humidity {hum}% and wind at {wind} km/h.",
    ],
    "temperature": [
        "It's {temp} {u} in {city} right now, and it feels like {feels} {u}.",
        "The current temperature in {city} is {temp} {u} ({cond}).",
        "{temp} {u} in {city} at the moment; conditions: {cond}.",
    ],
    "wind": [
        "The wind in {city} is {wind_word} right now at {wind} km/h. It's {temp} {u} ({cond}).",
        "{city} has {wind_word} wind at the moment ({wind} km/h); {temp} {u}, {cond}.",
    ],
}
YES_NO_ANSWERS = {  # (yes, no) per intent; the answer always carries the temperature and conditions
    "rain": ("Yes, it's wet in {city} right now: {cond}, {temp} {u}.",
             "No, it isn't raining in {city} right now. Conditions: {cond}, {temp} {u}."),
    "snow": ("Yes: {cond} in {city} right now, at {temp} {u}.",
             "No, it isn't snowing in {city} right now: {cond}, {temp} {u}."),
    "sunny": ("Yes: {cond} in {city} right now, {temp} {u}.",
              "Not really: {cond} in {city} at the moment, {temp} {u}."),
    "umbrella": ("Yes, take an umbrella: {cond} in {city} right now ({temp} {u}).",
                 "You shouldn't need one right now: {cond} in {city}, {temp} {u}."),
}
JACKET_ANSWERS = {  # by how cold it feels (°C): below 12, 12 to 20, above 20
    "cold": "Yes, bring a warm jacket: it's only {temp} {u} in {city} and feels like {feels} {u} ({cond}).",
    "mild": "A light jacket or sweater is a good idea: it's {temp} {u} in {city} right now ({cond}).",
    "warm": "You probably won't need one: it's {temp} {u} in {city} right now ({cond}).",
}
FORECAST_INTROS = ["Here's the forecast for {city}:", "The weather in {city} over the next {n} days:",
                   "Forecast for {city}:"]
FORECAST_DAY = "- {day}: {cond}, {low} to {high} {u}, {pp}% chance of precipitation"
FORECAST_FOCUS = [
    "{day} in {city}: {cond}, with a high of {high} {u} and a low of {low} {u} ({pp}% chance of precipitation).",
    "For {day_lower} in {city} the forecast is {cond}, between {low} and {high} {u}, and the chance of precipitation "
    "is {pp}%.",
]
FORECAST_RAIN_YES = ("Wet weather looks likely in {city}: {wet_days}. Highs will be between {min_high} and "
                     "{max_high} {u}.")
FORECAST_RAIN_NO = ("No rain expected in {city}: the chance of precipitation stays at or below {max_pp}% on every "
                    "day, with highs between {min_high} and {max_high} {u}.")
PARALLEL_ANSWERS = [
    "In {city} it's {temp} {u} ({cond}); in {city2} it's {temp2} {u} ({cond2}). {warmer} is warmer by {diff} "
    "degrees.",
    "{city}: {temp} {u}, {cond}. {city2}: {temp2} {u}, {cond2}. So {warmer} is the warmer of the two right now.",
]
PARALLEL_FORECAST = "{city}: {cond}, {low} to {high} {u}. {city2}: {cond2}, {low2} to {high2} {u}."
WIKI_ANSWERS = [
    "According to the Wikipedia article \"{title}\": {text}",
    "{text} (Source: Wikipedia, \"{title}\".)",
    "Here's what Wikipedia's \"{title}\" article says: {text}",
]
MIXED_ANSWER = "In {city} it's {temp} {u} ({cond}). As for {topic}, according to Wikipedia (\"{title}\"): {text}"

# Error answers: never a number that the tool did not give (the verifier checks there is no ° in them).
ERROR_ANSWERS = {
    "unknown_place": [
        "I couldn't find a place called {place}. Could you check the spelling, or name a nearby city?",
        "The weather service doesn't know a place called {place}; it may be misspelled or fictional. Which real "
        "city should I check instead?",
    ],
    "service_down": [
        "Sorry, I couldn't get the weather for {place} right now: the weather service isn't available. Please try "
        "again in a moment.",
        "The weather service isn't responding properly at the moment, so I don't have the weather for {place}. Try "
        "again in a minute or two.",
    ],
    "too_many_days": [
        "I can only forecast up to {max_days} days ahead, so I couldn't get {days} days for {place}. Shall I get the "
        "{max_days}-day forecast instead?",
    ],
    "wiki_not_found": [
        "I couldn't find a Wikipedia article about \"{query}\". Could you check the spelling or try another name?",
        "Wikipedia has no article matching \"{query}\". Maybe it's spelled differently, or try a related topic.",
    ],
    "wiki_ambiguous": [
        "\"{query}\" can mean several things on Wikipedia: {options}. Which one do you mean?",
    ],
    "wiki_down": [
        "Sorry, I couldn't reach Wikipedia just now, so I couldn't look up \"{query}\". Please try again in a moment.",
        "Wikipedia isn't available at the moment, so I have nothing on \"{query}\" yet. Try again in a minute.",
    ],
}

# ------------------------------------------------------------------- no-tool tasks with computed answers
# intent = which computation the builder runs; the entity slots ({word}, {city}, {cities}) take held-out names.
GENERATED = (
    _bank("gen.arith", [
        ("What is {a} plus {b}?", {"intent": "add"}), ("What's {a} + {b}?", {"intent": "add"}),
        ("Can you add {a} and {b} for me?", {"intent": "add"}), ("Calculate {a} times {b}.", {"intent": "mul"}),
        ("what is {a}*{b}", {"intent": "mul"}), ("Multiply {a} by {b}.", {"intent": "mul"}),
        ("What is {a} minus {b}?", {"intent": "sub"}), ("How much is {a} divided by {b}?", {"intent": "div"}),
        ("{a} / {b} = ?", {"intent": "div"}), ("Subtract {b} from {a}.", {"intent": "sub"}),
    ])
    + _bank("gen.percent", [("What is {p}% of {n}?", {"intent": "percent"}),
                            ("Calculate {p} percent of {n}.", {"intent": "percent"}),
                            ("How much is {p}% of {n}?", {"intent": "percent"}),
                            ("A bill is {n} euros. What's a {p}% tip?", {"intent": "percent"})])
    + _bank("gen.temp", [
        ("Convert {x} °C to Fahrenheit.", {"intent": "c2f"}), ("What is {x} degrees Celsius in Fahrenheit?",
                                                               {"intent": "c2f"}),
        ("How much is {x} °F in Celsius?", {"intent": "f2c"}), ("If it's {x} °F, how many degrees Celsius is that?",
                                                               {"intent": "f2c"}),
        ("Is {x} °C warmer than {y} °F?", {"intent": "compare"}), ("{x}°C to °F?", {"intent": "c2f"}),
    ])
    + _bank("gen.distance", [("How many miles is {x} km?", {"intent": "km2mi"}),
                             ("Convert {x} miles to kilometres.", {"intent": "mi2km"}),
                             ("How far is {x} km in miles?", {"intent": "km2mi"}),
                             ("{x} miles in km?", {"intent": "mi2km"})])
    + _bank("gen.weekday", [("What day of the week was {date}?", {"intent": "weekday"}),
                            ("Which weekday was {date}?", {"intent": "weekday"}),
                            ("{date}: what day of the week was that?", {"intent": "weekday"})])
    + _bank("gen.days", [("How many days are there between {date} and {date2}?", {"intent": "days_between"}),
                         ("How many days from {date} to {date2}?", {"intent": "days_between"}),
                         ("Count the days from {date} until {date2}.", {"intent": "days_between"})])
    + _bank("gen.letters", [("How many letters are in '{word}'?", {"intent": "letters"}),
                            ("Count the letters in the name {word}.", {"intent": "letters"}),
                            ("How many letters does {word} have?", {"intent": "letters"})])
    + _bank("gen.reverse", [("Spell '{word}' backwards.", {"intent": "reverse"}),
                            ("Write {word} in reverse.", {"intent": "reverse"}),
                            ("Reverse the letters of '{word}'.", {"intent": "reverse"})])
    + _bank("gen.upper", [("Write '{word}' in capital letters.", {"intent": "upper"}),
                          ("Put {word} in all caps.", {"intent": "upper"}),
                          ("Uppercase this: {word}", {"intent": "upper"})])
    + _bank("gen.sort", [("Sort these numbers from smallest to largest: {nums}.", {"intent": "sort_asc"}),
                         ("Put {nums} in descending order.", {"intent": "sort_desc"}),
                         ("Order these from low to high: {nums}", {"intent": "sort_asc"})])
    + _bank("gen.average", [("What's the average of {nums}?", {"intent": "average"}),
                            ("Find the mean of {nums}.", {"intent": "average"}),
                            ("Average of {nums}?", {"intent": "average"})])
    + _bank("gen.prime", [("Is {n} a prime number?", {"intent": "prime"}), ("Is {n} prime?", {"intent": "prime"}),
                          ("Can {n} be divided by anything other than 1 and itself?", {"intent": "prime"})])
    + _bank("gen.alphabet", [("Put these cities in alphabetical order: {cities}.", {"intent": "alphabet"}),
                             ("Sort alphabetically: {cities}", {"intent": "alphabet"}),
                             ("Alphabetise this list of cities: {cities}.", {"intent": "alphabet"})])
    + _bank("gen.translate", [("Translate '{phrase}' into {lang}.", {"intent": "translate"}),
                              ("How do you say '{phrase}' in {lang}?", {"intent": "translate"}),
                              ("What's \"{phrase}\" in {lang}?", {"intent": "translate"}),
                              ("Can you translate '{phrase}' to {lang} for me?", {"intent": "translate"}),
                              ("{lang} for '{phrase}'?", {"intent": "translate"}),
                              ("translate \"{phrase}\" to {lang} pls", {"intent": "translate", "lang": "casual"})])
    + _bank("gen.country", [("Which country is {city} in?", {"intent": "country"}),
                            ("{city} is in which country?", {"intent": "country"}),
                            ("In what country is {city}?", {"intent": "country"})])
)

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
