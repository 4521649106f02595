"""The call grammar (agent/grammar.py): every string it allows is a valid call to the mode's tools, and it refuses
the invalid ones. Read twice: by a small independent GBNF reader (fakes/gbnf.py: random walks and a matcher, fast) and
by llama.cpp's own grammar engine over the real vocabulary, token by token (marked `model`)."""

from __future__ import annotations

import random

import pytest

from agent.format import parse_tool_calls, validate_call
from agent.grammar import call_grammar, grammar_for_tools
from agent.prompts import MODES
from fakes.gbnf import Grammar
from tools import get_tools

# Printable ASCII, quotes and backslashes, a newline and a tab (allowed only escaped), and some non-ASCII text.
ALPHABET = "".join(chr(c) for c in range(32, 127)) + "\n\t\x00éøß東京😀"
TOOL_MODES = [name for name, mode in MODES.items() if mode.tool_names]


def mode_tools(mode: str):
    return get_tools(MODES[mode].tool_names)


def specs_of(tools) -> dict:
    return {t.name: t.spec for t in tools}


@pytest.mark.parametrize("mode", TOOL_MODES)
def test_a_thousand_calls_sampled_from_each_modes_grammar_all_parse_and_validate(mode):
    tools = mode_tools(mode)
    grammar, specs = Grammar(grammar_for_tools(tools)), specs_of(tools)
    rng = random.Random(f"grammar-{mode}")
    seen_functions, seen_arguments, texts = set(), set(), set()
    for _ in range(1000):
        text = grammar.sample(rng, ALPHABET)
        calls = parse_tool_calls(text)
        assert calls, f"not read as a call: {text!r}"
        for call in calls:
            assert validate_call(call, specs) == [], text
            seen_functions.add(call.name)
            seen_arguments |= {(call.name, arg) for arg in call.arguments}
        texts.add(text)
    # The walk explored the grammar: every tool, every argument, and mostly different texts.
    assert seen_functions == set(specs)
    assert seen_arguments == {(name, arg) for name, spec in specs.items() for arg in spec["parameters"]["properties"]}
    assert len(texts) > 600


INVALID = {
    "unknown function": '[get_stock_price(symbol="AAPL")]',
    "unknown argument": '[get_current_weather(location="Oslo", days=2)]',
    "wrong type (int for str)": "[get_current_weather(location=42)]",
    "wrong type (str for int)": '[get_weather_forecast(location="Oslo", days="2")]',
    "not in enum": '[get_current_weather(location="Oslo", unit="kelvin")]',
    "missing required argument": '[get_current_weather(unit="celsius")]',
    "argument given twice": '[get_current_weather(location="Oslo", location="Bergen")]',
    "positional argument": '[get_current_weather("Oslo")]',
    "raw newline in a string": '[get_current_weather(location="Os\nlo")]',
    "not a list": 'get_current_weather(location="Oslo")',
    "unclosed": '[get_current_weather(location="Oslo")',
    "expression, not literal": "[get_current_weather(location=__import__('os'))]",
}
VALID = [
    '[get_current_weather(location="Oslo")]',
    '[get_current_weather(unit="fahrenheit", location="Paris, France")]',
    '[get_weather_forecast(days=3, location="Tokyo"), get_current_weather(location="Oslo")]',
    '[get_weather_forecast(location="Bergen",unit="celsius",days=16)]',
    '[get_current_weather(location="Say \\"hi\\" in Zürich")]',
]


@pytest.fixture(scope="module")
def weather_grammar_text() -> str:
    return grammar_for_tools(mode_tools("weather"))


@pytest.mark.parametrize("reason", INVALID)
def test_the_grammar_refuses_an_invalid_call(weather_grammar_text, reason):
    assert not Grammar(weather_grammar_text).matches(INVALID[reason])


@pytest.mark.parametrize("text", VALID)
def test_the_grammar_allows_valid_calls_with_arguments_in_any_order(weather_grammar_text, text):
    assert Grammar(weather_grammar_text).matches(text)
    specs = specs_of(mode_tools("weather"))
    assert all(validate_call(c, specs) == [] for c in parse_tool_calls(text))


def test_the_same_tools_give_the_same_grammar_text_and_no_tools_none():
    weather = [t.spec for t in mode_tools("weather")]
    assert call_grammar(weather) == call_grammar([dict(s) for s in weather])
    assert call_grammar(weather) != call_grammar([t.spec for t in mode_tools("wiki")])
    assert call_grammar([]) is None and grammar_for_tools([]) is None
    assert call_grammar(weather, max_calls=1) != call_grammar(weather)
    with pytest.raises(ValueError):
        call_grammar(weather, max_calls=0)


def test_max_calls_bounds_the_calls_in_one_reply(weather_grammar_text):
    one = '[get_current_weather(location="Oslo")]'
    grammar = Grammar(weather_grammar_text)  # max_calls=4
    assert grammar.matches("[" + ", ".join([one[1:-1]] * 4) + "]")
    assert not grammar.matches("[" + ", ".join([one[1:-1]] * 5) + "]")


WIDE_TOOL = {
    "name": "book.flight",
    "description": "A tool with many arguments, lists and numeric enums.",
    "parameters": {"type": "dict", "required": ["origin", "dates"], "properties": {
        "origin": {"type": "string"}, "destination": {"type": "string"},
        "dates": {"type": "array", "items": {"type": "string"}},
        "seats": {"type": "integer", "enum": [1, 2, 4]}, "price": {"type": "float"},
        "direct": {"type": "boolean"}, "extras": {"type": "dict"}, "note": {"type": "any"},
    }},
}


def test_tools_with_many_arguments_lists_dicts_and_numeric_enums_still_give_only_valid_calls():
    grammar, specs = Grammar(call_grammar([WIDE_TOOL])), {"book.flight": WIDE_TOOL}
    rng = random.Random(7)
    for _ in range(300):
        text = grammar.sample(rng, ALPHABET)
        calls = parse_tool_calls(text)
        assert calls and all(validate_call(c, specs) == [] for c in calls), text
    assert grammar.matches('[book.flight(origin="OSL", dates=["2026-12-01"], seats=2, direct=True)]')
    assert not grammar.matches('[book.flight(origin="OSL", dates=["2026-12-01"], seats=3)]')  # not in enum
    assert not grammar.matches('[book.flight(origin="OSL", dates=[1])]')  # list items must be strings
    assert not grammar.matches('[book.flight(dates=["x"], origin="OSL")]')  # > 6 arguments: spec order


# ------------------------------------------------------------------------------------- llama.cpp's own engine

def engine_accepts(matcher, llama, text: str) -> bool:
    """Feed the tokens of `text` through llama.cpp's grammar sampler: do all fit, and is the end reached?"""
    matcher.reset()
    for token in llama.tokenize(text.encode("utf-8"), add_bos=False, special=False):
        if not matcher.accepts(token):
            return False
        matcher.accept(token)
    return matcher.complete()


@pytest.mark.model
@pytest.mark.parametrize("mode", TOOL_MODES)
def test_llama_cpp_compiles_each_modes_grammar_and_agrees_with_the_walk(embedded_llm, mode):
    from agent.backends.decoding import GrammarMatcher, token_table

    tools = mode_tools(mode)
    text = grammar_for_tools(tools)
    matcher = GrammarMatcher(token_table(embedded_llm.llama), text)
    assert len(matcher.first_tokens) > 0  # some call opening of this vocabulary starts a call
    rng = random.Random(f"engine-{mode}")
    walk = Grammar(text)
    for _ in range(40):
        sample = walk.sample(rng, ALPHABET)
        assert engine_accepts(matcher, embedded_llm.llama, sample), sample


@pytest.mark.model
def test_llama_cpp_refuses_the_invalid_calls_too(embedded_llm, weather_grammar_text):
    from agent.backends.decoding import GrammarMatcher, token_table

    matcher = GrammarMatcher(token_table(embedded_llm.llama), weather_grammar_text)
    for reason, text in INVALID.items():
        assert not engine_accepts(matcher, embedded_llm.llama, text), reason
    for text in VALID:
        assert engine_accepts(matcher, embedded_llm.llama, text), text
