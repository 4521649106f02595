"""Phrasing banks of the synthetic function-calling dataset, the assistant's side: how it asks back, and how it answers.

Answer phrasings are shared by all splits: they are targets, not inputs (the user's side, held out per split, is in
`asks.py`). Slots like {city}, {temp}, {u} are filled by the builders in `tool_turns.py` and `categories.py`.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------- asking back, no lookup
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
THANKS_ANSWERS = ["You're welcome!", "You're welcome! Let me know if you need anything else.",
                  "Glad I could help!", "Any time! Enjoy your day."]
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

