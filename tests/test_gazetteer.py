"""The usual spelling of a misspelt city (agent/gazetteer.py) and where the call grammar offers it (agent/places.py)."""

from __future__ import annotations

import pytest

from agent.endings import value_given
from agent.gazetteer import fold, usual_spelling
from agent.messages import Message
from agent.places import copy_choices, place_choices
from agent.prompts import MODES
from tools import get_tools


def user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


@pytest.mark.parametrize("written, usual", [
    ("Dehli", "Delhi"), ("Madird", "Madrid"), ("Copenhagan", "Copenhagen"), ("Manilla", "Manila"),
    ("Edimburgh", "Edinburgh"), ("San Fransisco", "San Francisco"), ("Johannesberg", "Johannesburg"),
    ("Teheran", "Tehran"), ("Bucarest", "Bucharest"),  # other spellings that look alike
    ("Asuncion", "Asunción"), ("Sao Paulo", "São Paulo"), ("dehli", "Delhi"),
])
def test_a_misspelt_or_other_spelling_of_a_city_gets_its_usual_name(written, usual):
    assert usual_spelling(written) == usual


@pytest.mark.parametrize("written", [
    "Delhi", "Paris", "Windhoek", "Ulaanbaatar",  # usual names, or a spelling far from GeoNames' ("Ulan Bator")
    "München", "Napoli", "Peking",  # names of a city as written, not alike its usual name: not "Mulchén", "Neapoli"
    "Rio", "Olso",  # under five letters: places as written
    "reverse", "Sunscreen", "Umbrella", "Antarctica", "Ibn Battuta", "Confucius",  # no city that big is that close
])
def test_a_usual_name_a_short_word_or_a_word_far_from_any_big_city_is_left_alone(written):
    assert usual_spelling(written) is None


def test_fold_drops_case_accents_and_extra_spaces():
    assert fold("São  Paulo ") == "sao paulo"
    assert fold("ZÜRICH") == "zurich"


def test_the_usual_spelling_follows_the_misspelt_span_among_the_grammars_choices():
    choices = place_choices(user("What's the weather in Dehli and in Marrakesh?"))
    assert choices[:3] == ["Dehli", "Delhi", "Marrakesh"]
    assert "Delhi" not in place_choices(user("What's the weather in Dehli and in Marrakesh?"), fix_spellings=False)
    weather = [t.spec for t in get_tools(MODES["weather"].tool_names)]
    assert "Madrid" in copy_choices(weather, user("are there showers in madird right now"))["location"]


def test_a_call_for_the_usual_spelling_counts_as_a_place_the_user_named():
    # The agent asks instead of running a place nobody named (agent.endings.missing_value): the mended spelling must
    # count as said, or mending would turn every misspelt city into a question.
    for written in ("Dehli", "Madird", "Copenhagan", "San Fransisco", "Teheran", "Asuncion", "Bucarest"):
        conversation = user(f"What's the weather in {written}?")
        assert value_given(usual_spelling(written), conversation), written
