"""The BFCL-rule AST checker (evaluation/ast_checker.py): one test per rule, then BFCL's own ground truths."""

from __future__ import annotations

import pytest

from agent.format import ToolCall, format_tool_calls, parse_tool_calls
from evaluation.ast_checker import check_call, check_calls, first_accepted_call, normalise_string
from evaluation.cases import default_bfcl_dir, load_bfcl

AREA = {
    "name": "calculate_triangle_area",
    "description": "Area of a triangle.",
    "parameters": {
        "type": "dict",
        "properties": {
            "base": {"type": "integer", "description": "base"},
            "height": {"type": "float", "description": "height"},
            "unit": {"type": "string", "description": "unit"},
            "exact": {"type": "boolean", "description": "exact"},
        },
        "required": ["base", "height"],
    },
}
AREA_ANSWER = {"calculate_triangle_area": {"base": [10], "height": [5.0], "unit": ["units", "cm", ""],
                                           "exact": ["", True]}}


def area(**arguments) -> ToolCall:
    return ToolCall("calculate_triangle_area", arguments)


def test_a_call_with_accepted_values_passes():
    assert check_call(area(base=10, height=5.0, unit="cm"), AREA_ANSWER, AREA).valid


def test_a_wrong_function_name_fails():
    result = check_call(ToolCall("triangle_area", {"base": 10, "height": 5.0}), AREA_ANSWER, AREA)
    assert (result.valid, result.error_type) == (False, "wrong_func_name")


def test_a_missing_required_parameter_fails():
    result = check_call(area(base=10), AREA_ANSWER, AREA)
    assert (result.valid, result.error_type) == (False, "missing_required")


def test_a_parameter_unknown_to_the_spec_or_to_the_possible_answer_fails():
    assert check_call(area(base=10, height=5.0, colour="red"), AREA_ANSWER, AREA).error_type == "unexpected_param"
    answer_without_unit = {"calculate_triangle_area": {"base": [10], "height": [5.0]}}
    assert check_call(area(base=10, height=5.0, unit="cm"), answer_without_unit, AREA).error_type == "unexpected_param"


def test_an_int_is_accepted_where_a_float_is_declared_but_not_the_reverse():
    assert check_call(area(base=10, height=5), AREA_ANSWER, AREA).valid
    result = check_call(area(base=10.0, height=5.0), AREA_ANSWER, AREA)
    assert (result.valid, result.error_type) == (False, "type_error")


def test_a_bool_is_not_an_integer_and_a_string_is_not_a_number():
    assert check_call(area(base=True, height=5.0), AREA_ANSWER, AREA).error_type == "type_error"
    assert check_call(area(base="10", height=5.0), AREA_ANSWER, AREA).error_type == "type_error"


def test_strings_compare_after_bfcl_normalisation():
    assert normalise_string("April 1, 2024") == normalise_string("april 1 2024") == "april12024"
    assert normalise_string("New-York_City") == "newyorkcity"
    assert check_call(area(base=10, height=5.0, unit=" C.M "), AREA_ANSWER, AREA).valid
    assert check_call(area(base=10, height=5.0, unit="inches"), AREA_ANSWER, AREA).error_type == "value_error:string"


def test_an_empty_string_in_the_possible_answer_makes_a_parameter_optional():
    assert check_call(area(base=10, height=5.0), AREA_ANSWER, AREA).valid
    strict = {"calculate_triangle_area": {"base": [10], "height": [5.0], "unit": ["units"]}}
    result = check_call(area(base=10, height=5.0), strict, AREA)
    assert (result.valid, result.error_type) == (False, "missing_optional")


def test_a_value_outside_the_accepted_ones_fails():
    result = check_call(area(base=12, height=5.0), AREA_ANSWER, AREA)
    assert (result.valid, result.error_type) == (False, "value_error:others")
    assert check_call(area(base=10, height=5.0, exact=False), AREA_ANSWER, AREA).error_type == "value_error:others"


SORT = {"name": "sort_list", "parameters": {"type": "dict", "required": ["items"], "properties": {
    "items": {"type": "array", "items": {"type": "string"}, "description": "items"},
    "weights": {"type": "array", "items": {"type": "float"}, "description": "weights"},
    "options": {"type": "dict", "description": "options", "properties": {}},
}}}
SORT_ANSWER = {"sort_list": {"items": [["Apple pie", "banana"]], "weights": [[0.5, 2.0], ""],
                             "options": [{"order": ["asc", "ascending"], "stable": ["", True]}, ""]}}


def test_lists_compare_element_by_element_in_order_with_strings_normalised():
    assert check_call(ToolCall("sort_list", {"items": ["apple PIE", "Banana"]}), SORT_ANSWER, SORT).valid
    reordered = check_call(ToolCall("sort_list", {"items": ["banana", "apple pie"]}), SORT_ANSWER, SORT)
    assert (reordered.valid, reordered.error_type) == (False, "value_error:list")


def test_array_items_are_type_checked_with_ints_allowed_for_floats():
    assert check_call(ToolCall("sort_list", {"items": ["apple pie", "banana"], "weights": [1, 2]}),
                      {"sort_list": {"items": [["apple pie", "banana"]], "weights": [[1.0, 2.0]]}}, SORT).valid
    result = check_call(ToolCall("sort_list", {"items": ["apple pie", 3]}), SORT_ANSWER, SORT)
    assert (result.valid, result.error_type) == (False, "type_error:nested")


def test_dict_parameters_check_keys_and_values_and_allow_optional_keys():
    ok = ToolCall("sort_list", {"items": ["apple pie", "banana"], "options": {"order": "Ascending"}})
    assert check_call(ok, SORT_ANSWER, SORT).valid
    wrong_value = ToolCall("sort_list", {"items": ["apple pie", "banana"], "options": {"order": "desc"}})
    assert check_call(wrong_value, SORT_ANSWER, SORT).error_type == "value_error:dict_value"
    extra_key = ToolCall("sort_list", {"items": ["apple pie", "banana"], "options": {"order": "asc", "x": 1}})
    assert check_call(extra_key, SORT_ANSWER, SORT).error_type == "value_error:dict_key"
    missing_key = ToolCall("sort_list", {"items": ["apple pie", "banana"], "options": {"stable": True}})
    assert check_call(missing_key, SORT_ANSWER, SORT).error_type == "value_error:dict_key"


def test_a_variable_name_is_accepted_when_the_possible_answer_lists_it_as_a_string():
    spec = {"name": "f", "parameters": {"type": "dict", "required": ["n"], "properties": {"n": {"type": "integer"}}}}
    assert check_call(ToolCall("f", {"n": "count"}), {"f": {"n": ["count"]}}, spec).valid
    assert not check_call(ToolCall("f", {"n": "other"}), {"f": {"n": ["count"]}}, spec).valid


PLAY = {"name": "spotify.play", "parameters": {"type": "dict", "required": ["artist", "duration"], "properties": {
    "artist": {"type": "string"}, "duration": {"type": "integer"}}}}
PLAY_ANSWER = [{"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
               {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]


def test_parallel_calls_match_in_any_order():
    calls = parse_tool_calls('[spotify.play(artist="maroon 5", duration=15), spotify.play(artist="Taylor Swift", '
                             'duration=20)]')
    assert check_calls(calls, PLAY_ANSWER, {"spotify.play": PLAY}).valid


def test_parallel_calls_fail_on_a_wrong_count_or_a_call_used_twice():
    one = parse_tool_calls('[spotify.play(artist="Taylor Swift", duration=20)]')
    assert check_calls(one, PLAY_ANSWER, {"spotify.play": PLAY}).error_type == "wrong_count"
    twice = parse_tool_calls('[spotify.play(artist="Taylor Swift", duration=20), '
                             'spotify.play(artist="Taylor Swift", duration=20)]')
    assert check_calls(twice, PLAY_ANSWER, {"spotify.play": PLAY}).error_type == "no_match"


def test_parallel_matching_finds_an_assignment_that_a_greedy_match_would_miss():
    expected = [{"f": {"a": [1, 2]}}, {"f": {"a": [1]}}]
    calls = [ToolCall("f", {"a": 1}), ToolCall("f", {"a": 2})]
    assert check_calls(calls, expected).valid


def test_without_a_spec_only_values_are_compared():
    assert check_call(ToolCall("get_current_weather", {"location": "oslo"}),
                      {"get_current_weather": {"location": ["Oslo"]}}).valid
    assert not check_call(ToolCall("get_current_weather", {"location": "Bergen"}),
                          {"get_current_weather": {"location": ["Oslo"]}}).valid


@pytest.mark.parametrize("category", ["simple", "multiple", "parallel"])
def test_bfcl_ground_truths_fed_back_as_model_output_all_pass(category):
    if not default_bfcl_dir().exists():
        pytest.skip(f"BFCL data not found at {default_bfcl_dir()} (set BFCL_DIR)")
    cases = load_bfcl(category)
    assert len(cases) >= 100
    failures = []
    for case in cases:
        reply = format_tool_calls(first_accepted_call(possible) for possible in case.expected)
        result = check_calls(parse_tool_calls(reply), case.expected, case.specs)
        if not result.valid:
            failures.append((case.id, reply, result.message))
    assert failures == []
