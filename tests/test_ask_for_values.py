"""Asking instead of inventing any required value (agent/endings.py `must_be_said`, `value_given`, `number_given`).

The committed adapter, given BFCL's irrelevance prompts, fills the one listed function with values nobody said
("Can you list some horror movies?" -> `calculate_investment_value(principal=10, interest_rate=2, term=2)`). The
rule that kept it from inventing a place or a search query now covers every required parameter without fixed
choices: text must share a word with what the user (or a tool) said, a number must have been said. Read on real BFCL
cases (data/bfcl): the irrelevance calls it stops, the reference calls it lets through, and the real adapter made to
call (marked `model`).
"""

from __future__ import annotations

import pytest

from agent.endings import missing_value, must_be_said, number_given, value_given
from agent.format import ToolCall, format_tool_calls
from agent.messages import Message
from evaluation import decisions as dec
from evaluation.cases import load_bfcl


@pytest.fixture(scope="module")
def bfcl():
    return {group: {case.id: case for case in load_bfcl(group)} for group in ("simple", "multiple", "irrelevance")}


def said(text: str) -> list[Message]:
    return [Message("user", text)]


def reference_reply(case) -> str:
    """BFCL's reference call(s) for a case: the first accepted value of every argument it gives."""
    return format_tool_calls(ToolCall(name, {k: v[0] for k, v in params.items() if v and v[0] != ""})
                             for item in case.expected for name, params in item.items())


@pytest.mark.parametrize(("value", "text", "given"), [
    (5, "a circle with a radius of five", True),
    (12, "a dozen eggs", True),
    (0.05, "an interest rate of 5%", True),
    (213_000_000, "a population of 213 million", True),
    (1_200_000, "revenue of $1.2M in 2020", True),
    (1e-9, "charges of 1e-9 and 2e-9", True),
    (1500, "1,500 dollars", True),
    (0, "an object starting from rest", True),  # zero needs no saying
    (2, "Can you list some horror movies I can watch?", False),
    (10, "a base of 5 meters", False),
    (1889, "how long will it take to paint the Eiffel Tower?", False),
])
def test_a_number_counts_as_said_in_digits_words_scales_and_percentages(value, text, given):
    assert number_given(value, said(text)) is given
    assert value_given(value, said(text)) is given


@pytest.mark.parametrize(("value", "text", "given"), [
    ("EUR", "Convert 150 Euros to Canadian dollars.", True),
    ("CAD", "Convert 150 Euros to Canadian dollars.", True),
    ("USD", "How many Canadian dollars can I get for 500 US dollars?", True),
    ("NYC", "what's on in new york city tonight", True),
    ("LA", "theaters near Los Angeles", True),
    ("Art history", "Find me an artcile.", False),  # "art" starts "artcile", but only upper-case codes count so
    ("Sony Sports Machines", "Who won the FIFA World Cup 2010?", False),
    ("To Kill a Mockingbird", "Which online bookstore sells 'To Kill a Mockingbird'?", True),
])
def test_text_counts_as_said_by_a_word_an_initialism_or_a_currency_code(value, text, given):
    assert value_given(value, said(text)) is given


def test_only_required_values_without_choices_or_defaults_must_be_said():
    properties = {"city": {"type": "string"}, "nights": {"type": "integer"},
                  "room": {"type": "string", "enum": ["single", "double"]},
                  "late": {"type": "boolean", "default": False}, "breakfast": {"type": "boolean"}}
    spec = {"name": "book", "parameters": {"type": "dict", "required": ["city", "nights", "room", "late"],
                                           "properties": properties}}
    assert must_be_said(spec) == ["city", "nights"]
    specs = {"book": spec}
    question = said("Book me a hotel in Rome for three nights.")
    assert missing_value([ToolCall("book", {"city": "Rome", "nights": 3, "room": "double", "late": True})],
                         specs, question) is None
    assert missing_value([ToolCall("book", {"city": "Rome", "nights": 2})], specs, question) == "nights"
    assert missing_value([ToolCall("book", {"city": "Paris", "nights": 3})], specs, question) == "city"
    # A value the model left out is the call validator's business (a clear error), not a question.
    assert missing_value([ToolCall("book", {"city": "Rome"})], specs, question) is None


@pytest.mark.parametrize(("case_id", "reply"), [  # the committed adapter's forced calls, from its evaluation records
    ("irrelevance_77", "[calculate_investment_value(principal=10, interest_rate=2, term=2)]"),
    ("irrelevance_80", '[stock_ticker(company_name="Sony Sports Machines", exchange="NYSE", '
                       'ticker_symbol="SSM")]'),
    ("irrelevance_96", '[get_case_result(case_year=1889, case_name="Eiffel Tower")]'),
    ("irrelevance_229", '[book_hotel(location="Tokyo", check_in_date="2022-01-01", check_out_date="2022-01-15")]'),
])
def test_invented_values_on_irrelevance_prompts_are_asked_for(bfcl, case_id, reply):
    case = bfcl["irrelevance"][case_id]
    assert dec.asked(case, reply)
    record = dec.DecisionRecord(case_id=case_id, category=case.category, source="bfcl", should_call=False,
                                p_call=0.9, reply=reply, reply_grammar=reply, reply_call=reply)
    score, was_asked = dec.score_variant(case, record, dec.Variant("on", threshold=0.5, grammar=True, ask=True))
    assert was_asked and not score.called and score.format_valid


def test_a_call_that_fits_and_uses_said_values_still_runs(bfcl):
    case = bfcl["irrelevance"]["irrelevance_0"]  # a triangle's area with only a BMI function listed
    # Both numbers were said: this rule cannot tell the function is the wrong one (the model's threshold must).
    assert not dec.asked(case, "[determine_body_mass_index(weight=10, height=5)]")


@pytest.mark.parametrize(("group", "most"), [("simple", 0.06), ("multiple", 0.05)])
def test_few_of_bfcls_own_reference_calls_would_be_asked(bfcl, group, most):
    # Measured when written: 21 of 400 simple and 9 of 200 multiple reference calls hold a value only knowledge
    # supplies (a deck has 52 cards; San Francisco is in California; "lightly active" -> 70 inches tall).
    cases = list(bfcl[group].values())
    asked = [case.id for case in cases if dec.asked(case, reference_reply(case))]
    assert len(cases) >= 200 and len(asked) / len(cases) <= most, asked


@pytest.mark.model
def test_the_real_adapter_made_to_call_on_an_irrelevant_prompt_is_asked_instead(tuned_llm, bfcl):
    case = bfcl["irrelevance"]["irrelevance_77"]  # horror movies, with only an investment calculator listed
    record = dec.record_case(tuned_llm, case, max_tokens=96)
    assert record.reply_call.startswith("["), record.reply_call  # the model did write a call when made to
    assert dec.asked(case, record.reply_call), record.reply_call
