"""Places copied from what the user said (agent/places.py): the call grammar lets a place argument take only the user's
words, and a place the grammar forced on a model that wanted another is asked for instead of run.

Read three ways: the grammar text by the small GBNF reader (fakes/gbnf.py) and by llama.cpp's own engine; the agent
with a scripted model that reports where the grammar overruled it (fakes.models.DecidingLLM); and whole turns of the
real fine-tuned adapter against the local fake Open-Meteo server (marked `model`).
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from agent import Agent, AgentSettings
from agent.backends.base import GenerationParams
from agent.endings import question_for
from agent.events import FinalAnswer, LLMCallFinished, Notice, ToolCallFinished
from agent.format import parse_tool_calls
from agent.grammar import call_grammar
from agent.grounding import states_temperature, temperatures_in
from agent.messages import Message
from agent.places import (
    COPY_FLOOR,
    copy_choices,
    forced_places,
    one_spelling,
    place_choices,
    places_nobody_named,
    value_start_masses,
    value_windows,
)
from agent.prompts import MODES
from evaluation import decisions as dec
from evaluation.cases import EvalCase
from evaluation.copy_floor import balanced_accuracy, fit_floor
from fakes.gbnf import Grammar
from fakes.models import Choice, DecidingLLM
from fakes.openmeteo import find_place
from tools import get_tools

TODAY = dt.date(2026, 11, 21)
WEATHER = [t.spec for t in get_tools(MODES["weather"].tool_names)]
USHUAIA = str(find_place("Ushuaia").weather.temperature)  # "4.7"
UMBRELLA = "Do I need an umbrella today?"
SUNSCREEN = "Do I need Sunscreen today?"  # no place, but a word the grammar offers as one ("Sunscreen")
ASCII = "".join(chr(c) for c in range(32, 127))  # what the grammar's random walks write where it lets them


def user(*texts: str) -> list[Message]:
    return [Message("user", text) for text in texts]


# ------------------------------------------------------------------------------------------------ the grammar

def test_a_grammar_with_choices_takes_a_listed_place_and_refuses_any_other():
    grammar = Grammar(call_grammar(WEATHER, choices={"location": ["Ushuaia", "New York", "São Paulo"]}))
    assert grammar.matches('[get_current_weather(location="Ushuaia")]')
    assert grammar.matches('[get_weather_forecast(days=3, location="New York"), '
                           'get_current_weather(location="São Paulo", unit="fahrenheit")]')
    for wrong in ("Uzbekota", "Ushuaia ", "ushuaia", "New", ""):
        assert not grammar.matches(f'[get_current_weather(location="{wrong}")]'), wrong
    assert not grammar.matches('[get_current_weather(location="Ushuaia", unit="kelvin")]')  # the rest as before
    rng = random.Random(5)
    for _ in range(200):  # every call the grammar can write names a listed place
        for call in parse_tool_calls(grammar.sample(rng, ASCII)):
            assert call.arguments["location"] in ("Ushuaia", "New York", "São Paulo")


def test_without_choices_the_grammar_is_unchanged_and_choices_are_part_of_its_cache_key():
    plain = call_grammar(WEATHER)
    assert call_grammar(WEATHER, choices=None) == plain and call_grammar(WEATHER, choices={}) == plain
    assert call_grammar(WEATHER, choices={"location": []}) == plain  # nothing to offer: the argument stays free
    assert call_grammar(WEATHER, choices={"query": ["Ada"]}) == plain  # no weather tool takes a query
    oslo, lima = (call_grammar(WEATHER, choices={"location": [c]}) for c in ("Oslo", "Lima"))
    assert len({plain, oslo, lima}) == 3 and call_grammar(WEATHER, choices={"location": ["Oslo"]}) == oslo


def test_listed_places_with_quotes_and_accents_come_out_as_the_same_python_strings():
    odd = ['Say "hi"', "Zürich", "Côte d'Ivoire", "back\\slash"]
    grammar = Grammar(call_grammar(WEATHER, choices={"location": odd}))
    rng = random.Random(1)
    seen = {call.arguments["location"] for _ in range(300)
            for call in parse_tool_calls(grammar.sample(rng, ASCII))}
    assert seen == set(odd)


# ------------------------------------------------------------------------------------------ the candidate places

def test_the_places_are_the_users_spans_of_one_to_four_words():
    choices = place_choices(user("What's the Weather going to be like in Ushuaia, Tierra del Fuego Province?"))
    assert {"Ushuaia", "Ushuaia, Tierra", "Tierra del Fuego Province", "Fuego"} <= set(choices)
    assert "Ushuaia?" not in choices and "Province?" not in choices  # surrounding punctuation stripped
    assert "Ushuaia, Tierra del Fuego" in choices and "Ushuaia, Tierra del Fuego Province" not in choices  # 5 words
    assert not {"in", "In", "in Ushuaia", "the weather"} & set(choices)  # a user who capitalises names capitalises
    assert len(choices) == len(set(choices))
    spans = place_choices(user("Or São Paulo, Saint-Denis and St. Petersburg (Russia)", "weather in paris, france?"))
    assert {"paris, france", "Paris, France", "São Paulo", "Saint-Denis", "St. Petersburg", "Russia"} <= set(spans)
    assert "and" not in spans and "And" not in spans  # in lower case from a user who capitalises
    assert "(Russia)" not in spans and "Petersburg (Russia" not in spans


def test_a_place_starts_at_a_word_the_user_did_not_write_in_lower_case_and_never_at_i():
    # Measured before this rule: "Any chance of rain in Tehran ...?" -> location="In The"; "Do I need an umbrella
    # today?" -> location="I need an umbrella" (both with more mass than the floor at their start).
    tehran = place_choices(user("Any chance of rain in Tehran in the coming 2 days?"))
    assert "Tehran" in tehran and not [c for c in tehran if c.split()[0] in ("in", "In", "the", "The", "rain")]
    assert place_choices(user(UMBRELLA)) == []  # "Do", "Do I need": words no place starts with
    assert "Bucharest" in place_choices(user("weather bucharest"))  # all lower case: every word, capitalised too


@pytest.mark.parametrize(("text", "places", "never"), [
    # Measured with the committed adapter before this rule (generated test split): location="Is the", "In",
    # "Il Fait Combien", "Temperature In Tehran".
    ("Is the sun out in Edinburgh right now", ["Edinburgh"], ["Is the", "Is", "Edinburgh right now"]),
    ("tell me about jupiter and check the weather in bucharest.", ["bucharest", "Bucharest"],
     ["In", "in", "the weather in bucharest", "The Weather In Bucharest"]),
    ("il fait combien à edinburgh en ce moment", ["edinburgh", "Edinburgh"], ["Il Fait Combien", "edinburgh en"]),
    ("so temperature in tehran in degrees fahrenheit please", ["tehran", "Tehran"], ["Temperature In Tehran"]),
    ("Weather in Los Angeles, The Hague, La Paz, Des Moines, Da Nang or Rio de Janeiro?",
     ["Los Angeles", "The Hague", "La Paz", "Des Moines", "Da Nang", "Rio de Janeiro"], ["Weather", "Weather in"]),
    ("Frankfurt am Main, Nice, Como, Trinidad and Tobago", ["Frankfurt am Main", "Nice", "Como", "Trinidad and Tobago"],
     ["Frankfurt am", "Trinidad and"]),
])
def test_a_place_neither_starts_nor_ends_with_a_word_no_place_does(text, places, never):
    choices = place_choices(user(text))
    assert set(places) <= set(choices) and not set(never) & set(choices), choices


def test_the_places_come_from_the_last_user_messages_only_and_are_capped():
    conversation = [*user("Weather in Lima?"), Message("assistant", "It is 20 °C in Oslo."),
                    *user("And Quito?", "Thanks.", "And in Cusco tomorrow?")]
    choices = place_choices(conversation)
    assert "Quito" in choices and "Cusco" in choices and "tomorrow" not in choices
    assert "Lima" not in choices and "Oslo" not in choices  # four user messages ago; the assistant's words
    long = " ".join(f"word{i}" for i in range(500))
    assert len(place_choices(user(long))) == 256 and len(place_choices(user(long), limit=10)) == 10


def test_a_place_an_earlier_call_used_is_a_choice_too():
    conversation = [*user("Is it T-shirt weather in Calcutta?"),
                    Message("assistant", '[get_current_weather(location="Kolkata")]'),
                    Message("ipython", '{"location": "Kolkata, India", "temperature": 31.0}'),
                    Message("assistant", "It is 31 °C."), *user("What's that in °F?")]
    choices = place_choices(conversation)
    assert choices[0] == "Kolkata" and "Calcutta" in choices and "India" not in choices  # not the tool's words
    assert "Kolkata" not in place_choices(conversation, recent=1)  # the call came before the last user message


def test_only_tools_with_a_place_argument_get_choices():
    assert set(copy_choices(WEATHER, user(SUNSCREEN))) == {"location"}
    assert copy_choices([t.spec for t in get_tools(["search_wikipedia"])], user(SUNSCREEN)) == {}
    assert copy_choices(WEATHER, user("?!")) == {}  # no words: the argument stays free


# ------------------------------------------------------------------------------ where the grammar overruled it

REPLY = ' [get_current_weather(location="Zürich", unit="celsius"), get_weather_forecast(days=2, location="Oslo")]'


def at(text: str) -> int:
    return REPLY.encode().index(text.encode())


def test_value_windows_are_byte_offsets_from_the_opening_quote_to_the_first_character():
    windows = value_windows(REPLY)
    assert [set(w) for w in windows] == [{"location", "unit"}, {"location"}]
    assert windows[0]["location"] == (at('"Zürich'), at("Zürich"))
    assert windows[1]["location"] == (at('"Oslo'), at("Oslo"))
    assert value_windows("It is cold.") == [] and value_windows("[get_current_weather(location=") == []


def test_a_place_counts_as_forced_only_where_its_start_was_overruled_with_little_mass():
    below, above = COPY_FLOOR / 10, min(1.0, COPY_FLOOR * 10)
    assert forced_places(REPLY, [(at("Oslo"), below)]) == [set(), {"location"}]
    assert forced_places(REPLY, [(at("Zürich"), below)]) == [{"location"}, set()]
    assert forced_places(REPLY, [(at("Oslo"), above)]) == [set(), set()]  # the model was fairly sure of it
    assert forced_places(REPLY, [(at("rich"), below), (at("celsius"), below)]) == [set(), set()]  # mid-value, unit
    assert forced_places(REPLY, [(at("location"), below)]) == [set(), set()]  # made to write the argument only
    assert forced_places(REPLY, None) == [] and forced_places(REPLY, []) == []
    assert value_start_masses(REPLY, [(at("Oslo"), 0.02), (at('"Oslo'), 0.5)]) == [1.0, 0.02]


def test_a_forced_city_the_user_named_is_the_users_but_a_forced_word_that_is_no_city_is_not():
    below = COPY_FLOOR / 10
    assert places_nobody_named(REPLY, [(at("Oslo"), below), (at("Zürich"), below)]) == [set(), set()]
    words = '[get_current_weather(location="Sunscreen"), get_current_weather(location="Ibn Battuta")]'
    overrides = [(words.index("Sunscreen"), below), (words.index("Ibn"), below)]
    assert places_nobody_named(words, overrides) == [{"location"}, {"location"}]
    common = '[get_weather_forecast(location="March", days=2)]'  # a town in England, but an English word
    assert places_nobody_named(common, [(common.index("March"), below)]) == [{"location"}]
    big = '[get_current_weather(location="Tehran")]'  # a word English texts use, and a city of millions
    assert places_nobody_named(big, [(big.index("Tehran"), below)]) == [set()]
    assert places_nobody_named(REPLY, None) == []


# ------------------------------------------------------------------------------------------- the agent

def weather_agent(llm, **settings) -> Agent:
    return Agent(llm, get_tools(), mode="weather", today=TODAY, settings=AgentSettings(**settings))


def run(agent: Agent, question: str):
    events = list(agent.run(question))
    assert isinstance(events[-1], FinalAnswer)
    return events, events[-1], [e for e in events if isinstance(e, ToolCallFinished)]


def sunscreen_choice(mass: float) -> Choice:
    """The model wanted "London"; the grammar allowed only the user's words and made it write "Sunscreen"."""
    return Choice(call='[get_current_weather(location="Sunscreen")]', overrides=(("Sunscreen", mass),), p=0.9)


def test_a_place_the_grammar_forced_on_the_model_is_asked_for_not_run(tool_env):
    llm = DecidingLLM([sunscreen_choice(COPY_FLOOR / 20)], reports_grammar_overrides=True)
    events, final, runs = run(weather_agent(llm), SUNSCREEN)
    assert runs == [] and final.text == question_for("location") and final.ending == "asked"
    assert llm.params[0].call_grammar and Grammar(llm.params[0].call_grammar).matches(
        '[get_current_weather(location="Sunscreen")]')


def test_a_place_the_model_was_sure_of_runs_even_where_the_grammar_mended_it(tool_env):
    # "Ushuaia" written as the model meant it at the start (mass above the floor), then mended mid-word.
    choice = Choice(call='[get_current_weather(location="Ushuaia")]', p=0.9,
                    overrides=(("Ushuaia", min(1.0, COPY_FLOOR * 4)), ("shuaia", 0.001)))
    llm = DecidingLLM([choice, Choice(prose=lambda m: f"It is {USHUAIA} °C in Ushuaia.", p=0.0)],
                      reports_grammar_overrides=True)
    events, final, runs = run(weather_agent(llm), "What's the weather in Ushuaia?")
    assert [e.call.arguments for e in runs] == [{"location": "Ushuaia"}] and runs[0].ok
    assert USHUAIA in final.text and final.ending in ("answer", "grounded")


def test_a_city_the_user_named_runs_although_the_model_leaned_to_another_at_its_start(tool_env):
    # The committed adapter on "Any chance of rain in Tehran in the coming 2 days?" gave what the grammar allowed 7%
    # at the start of "Tehran"; the user named the city, so it runs (it used to be asked for).
    question = "What's the weather in Ushuaia right now?"
    choice = Choice(call='[get_current_weather(location="Ushuaia")]', p=0.9, overrides=(("Ushuaia", COPY_FLOOR / 2),))
    llm = DecidingLLM([choice, Choice(prose=lambda m: f"It is {USHUAIA} °C in Ushuaia.", p=0.0)],
                      reports_grammar_overrides=True)
    _, final, runs = run(weather_agent(llm), question)
    assert [e.call.arguments for e in runs] == [{"location": "Ushuaia"}] and final.ending != "asked"
    reply = '[get_current_weather(location="Ushuaia")]'
    assert dec.run_calls(weather_case(question), reply, [(reply.index("Ushuaia"), COPY_FLOOR / 2)]) == reply


def test_the_grammar_copies_places_only_where_the_backend_reports_overrides_and_the_setting_is_on():
    miscopied = '[get_current_weather(location="Uzbekota")]'
    question = "What's the weather in Ushuaia?"
    for reports, copy, copies in ((True, True, True), (False, True, False), (True, False, False)):
        llm = DecidingLLM([Choice(call=miscopied, p=0.9)], reports_grammar_overrides=reports, check_grammar=False)
        list(weather_agent(llm, copy_places=copy, max_llm_calls=1).run(question))
        grammar = Grammar(llm.params[0].call_grammar)
        assert grammar.matches(miscopied) is not copies, (reports, copy)
        assert grammar.matches('[get_current_weather(location="Ushuaia")]')


def test_with_copy_places_off_overrides_are_ignored_as_before(tool_env):
    llm = DecidingLLM([sunscreen_choice(COPY_FLOOR / 20), Choice(prose="Sorry.", p=0.0)],
                      reports_grammar_overrides=True)
    _, final, runs = run(weather_agent(llm, copy_places=False), SUNSCREEN)
    assert [e.call.arguments["location"] for e in runs] == ["Sunscreen"] and final.ending != "asked"


def test_of_two_calls_only_the_one_with_a_forced_place_is_dropped(tool_env):
    both = '[get_current_weather(location="Oslo"), get_current_weather(location="Sunscreen")]'
    llm = DecidingLLM([Choice(call=both, overrides=(("Sunscreen", COPY_FLOOR / 20),), p=0.9),
                       Choice(prose="It is -3.2 °C in Oslo.", p=0.0)], reports_grammar_overrides=True)
    events, final, runs = run(weather_agent(llm), "weather in oslo? and do i need sunscreen?")
    assert [e.call.arguments["location"] for e in runs] == ["Oslo"]
    assert any(isinstance(e, Notice) and "did not give" in e.text for e in events)


def test_a_call_repeated_under_the_users_misspelling_of_its_place_runs_once_under_the_usual_one(tool_env):
    # The grammar offers "Londn" as written and "London" (agent/gazetteer.py); a model may write a call for each.
    both = '[get_current_weather(location="Londn"), get_current_weather(location="London")]'
    llm = DecidingLLM([Choice(call=both, p=0.9), Choice(prose="It is 11.5 °C in London.", p=0.0)],
                      reports_grammar_overrides=True)
    _, _, runs = run(weather_agent(llm), "What is the weather like in Londn?")
    assert [e.call.arguments["location"] for e in runs] == ["London"]
    case = weather_case("What is the weather like in Londn?")
    assert dec.run_calls(case, both) == '[get_current_weather(location="London")]', "the evaluation runs the same"
    two = '[get_current_weather(location="Londn"), get_current_weather(location="Paris")]'
    assert one_spelling(parse_tool_calls(two)) == parse_tool_calls(two), "different places both run"


# ------------------------------------------------------------------------------------------- the evaluation

def weather_case(question: str) -> EvalCase:
    return EvalCase("c1", "gen:missing_info", "generated", [Message("system", "Tools."), *user(question)], WEATHER)


def test_the_evaluation_asks_where_the_agent_asks_and_reads_old_records():
    case, reply = weather_case(UMBRELLA), '[get_current_weather(location="umbrella")]'
    start = reply.index("umbrella")
    assert dec.asked(case, reply, [(start, COPY_FLOOR / 20)]) and not dec.asked(case, reply, [(start, 0.9)])
    assert not dec.asked(case, reply)
    old = {"case_id": "c1", "category": "gen:missing_info", "source": "generated", "should_call": False,
           "p_call": 0.8, "reply": reply, "reply_grammar": reply, "reply_call": reply}
    record = dec.load_records([old])[0]
    assert record.overrides is None and record.overrides_of(reply) is None


def test_the_evaluation_runs_what_the_agent_runs_of_two_calls_with_one_forced_place():
    # As test_of_two_calls_only_the_one_with_a_forced_place_is_dropped: the agent runs Oslo's call and drops the other,
    # so the evaluation scores Oslo's call, not a question (it once counted any forced place as asking).
    question = "weather in oslo? and do i need sunscreen?"
    both = '[get_current_weather(location="Oslo"), get_current_weather(location="Sunscreen")]'
    case = EvalCase("c1", "gen:weather_current", "generated", [Message("system", "Tools."), *user(question)], WEATHER,
                    expected=[{"get_current_weather": {"location": ["Oslo"]}}])
    forced = [(both.index("Sunscreen"), COPY_FLOOR / 20)]
    assert dec.run_calls(case, both, forced) == '[get_current_weather(location="Oslo")]'
    assert not dec.asked(case, both, forced)
    assert dec.run_calls(case, both) == both  # nothing forced: both run ("sunscreen" was said)
    only = '[get_current_weather(location="Sunscreen")]'
    assert dec.run_calls(case, only, [(only.index("Sunscreen"), COPY_FLOOR / 20)]) == ""
    record = dec.load_records([{"case_id": "c1", "category": case.category, "source": "generated", "should_call": True,
                                "p_call": 0.9, "reply": both, "reply_grammar": both, "reply_call": both,
                                "overrides": forced, "call_overrides": forced}])[0]
    score, was_asked = dec.score_variant(case, record, dec.Variant("on", threshold=0.5, grammar=True, ask=True))
    assert not was_asked and score.called and score.calls == '[get_current_weather(location="Oslo")]', score


def test_record_case_copies_places_and_keeps_the_overrides():
    case = weather_case(SUNSCREEN)
    llm = DecidingLLM([sunscreen_choice(0.001)], reports_grammar_overrides=True)
    record = dec.record_case(llm, case)
    assert record.overrides == [(len('[get_current_weather(location="'), 0.001)]
    assert not Grammar(llm.params[0].call_grammar).matches('[get_current_weather(location="London")]')
    assert dec.asked(case, record.reply, record.overrides_of(record.reply))
    assert dec.score_variant(case, record, dec.Variant("ask", grammar=True, ask=True))[1]


def test_the_floor_fit_picks_the_middle_of_the_best_separating_interval():
    named, unnamed = [1.0, 0.8, 0.3], [0.001, 0.01, 0.9]
    floor, accuracy, (lo, hi) = fit_floor(named, unnamed)
    assert (lo, hi) == (0.01, 0.3) and floor == pytest.approx((0.01 * 0.3) ** 0.5)
    assert accuracy == pytest.approx((1 + 2 / 3) / 2) == balanced_accuracy(named, unnamed, floor)


# --------------------------------------------------------------------------------- the real model, end to end

def tuned_turn(llm, question: str, **settings):
    agent = weather_agent(llm, generation=GenerationParams(max_tokens=96, temperature=0.0, seed=0), **settings)
    return run(agent, question)


@pytest.mark.model
def test_llama_cpp_takes_a_listed_place_and_refuses_others(tuned_llm):
    from agent.backends.decoding import GrammarMatcher, token_table

    matcher = GrammarMatcher(token_table(tuned_llm.llama), call_grammar(WEATHER, choices={
        "location": place_choices(user("What's the weather going to be like in Ushuaia, Tierra del Fuego?"))}))

    def accepts(text: str) -> bool:
        matcher.reset()
        for token in tuned_llm.llama.tokenize(text.encode(), add_bos=False, special=False):
            if not matcher.accepts(token):
                return False
            matcher.accept(token)
        return matcher.complete()

    assert accepts('[get_weather_forecast(location="Ushuaia", days=7)]')
    assert accepts('[get_current_weather(location="Ushuaia, Tierra Del Fuego")]')
    assert not accepts('[get_current_weather(location="Weather")]')
    assert not accepts('[get_current_weather(location="in Ushuaia")]')
    assert not accepts('[get_weather_forecast(location="Uzbekota", days=7)]')
    assert not accepts('[get_current_weather(location="London")]')


@pytest.mark.model
@pytest.mark.parametrize("question", ["What's the weather in Ushuaia?",
                                      "What's the weather going to be like in Ushuaia this week?"])
def test_the_real_model_calls_for_ushuaia_and_answers_with_the_servers_temperature(tuned_llm, tool_env, question):
    _, final, runs = tuned_turn(tuned_llm, question)
    assert runs and {e.call.arguments["location"] for e in runs} == {"Ushuaia"} and all(e.ok for e in runs), runs
    assert states_temperature(final.text, temperatures_in(runs[0].result)), final.text  # the server's figures


@pytest.mark.model
def test_the_real_model_asked_about_an_umbrella_asks_for_the_place(tuned_llm, tool_env):
    _, final, runs = tuned_turn(tuned_llm, UMBRELLA)
    assert runs == [] and final.text.rstrip().endswith("?"), final.text  # no place named, none run: a question


@pytest.mark.model
def test_the_real_model_made_to_call_without_a_place_runs_no_place_it_invented(tuned_llm, tool_env):
    # At eagerness 1 the model must call, and the question names no place; the grammar lets it write only the user's
    # words ("Sunscreen"). The v2 adapter wanted another place from its first letter, was forced at the start and the
    # agent asked; the v3 adapter writes "S" itself and the grammar mends the rest into "Sunscreen" (not counted as
    # forced, agent/places.py), the user's own word, which runs. Either way no place nobody wrote is run.
    events, final, runs = tuned_turn(tuned_llm, SUNSCREEN, tool_eagerness=1.0)
    first = next(e for e in events if isinstance(e, LLMCallFinished))
    assert first.text.startswith("[get_"), first.text
    assert all(r.call.arguments.get("location", "").lower() == "sunscreen" for r in runs), [r.call for r in runs]
    assert runs or (final.text == question_for("location") and final.ending == "asked"), final.text


@pytest.mark.model
def test_the_real_model_made_to_call_where_no_word_could_be_a_place_asks(tuned_llm, tool_env):
    # "What's the weather like?" offers no span (every word is one no place starts or ends with): the argument is
    # free, and whatever place the model writes, nobody named it.
    events, final, runs = tuned_turn(tuned_llm, "What's the weather like?", tool_eagerness=1.0)
    first = next(e for e in events if isinstance(e, LLMCallFinished))
    assert first.text.startswith("[get_"), first.text
    assert runs == [] and final.text == question_for("location") and final.ending == "asked", final.text


@pytest.mark.model
@pytest.mark.parametrize("question, place", [("What's the weather in Sydny?", "Sydney"),
                                             ("What is the weather like in Londn?", "London"),
                                             ("Will it rain in Pariss this week?", "Paris")])
def test_the_real_model_calls_for_the_city_a_user_misspelt_under_its_usual_name(tuned_llm, tool_env, question, place):
    # Only the user's words would give a call for "Sydny", which the weather service does not know; the grammar also
    # offers the usual spelling (agent/gazetteer.py), which the fine-tuned model was trained to write.
    _, final, runs = tuned_turn(tuned_llm, question)
    assert runs and {e.call.arguments["location"] for e in runs} == {place} and all(e.ok for e in runs), runs
    assert states_temperature(final.text, temperatures_in(runs[0].result)), final.text
