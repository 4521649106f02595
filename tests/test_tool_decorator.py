"""`@tool` turns a typed, documented function into the Llama 3.2 / BFCL function spec: nothing hand-written.

Run: python -m pytest tests/test_tool_decorator.py -q
"""

from __future__ import annotations

import json
from typing import Literal

import pytest

from tools import ALL_TOOLS, get_tools
from tools.base import Tool, timed, tool


@tool
def book_table(restaurant: str, guests: int, seating: Literal["inside", "terrace"] = "inside",
               budget: float | None = None, vegetarian: bool = False) -> dict:
    """Book a table at a restaurant.

    Only restaurants in the city are known.

    Args:
        restaurant: The restaurant's name, for example
            "Chez Nous". Note: no addresses.
        guests (int): How many people come.
        seating: Where to sit.
        budget: Most money per person, in euros.
        vegetarian: Whether everyone eats vegetarian.

    Returns:
        confirmation: a booking reference.
    """
    return {"booked": restaurant, "guests": guests}


def test_the_spec_is_generated_from_the_signature_and_docstring_in_metas_key_order():
    spec = book_table.spec
    assert list(spec) == ["name", "description", "parameters"]
    assert spec["name"] == "book_table"
    assert spec["description"] == "Book a table at a restaurant. Only restaurants in the city are known."
    assert list(spec["parameters"]) == ["type", "required", "properties"]
    assert spec["parameters"]["type"] == "dict"
    assert spec["parameters"]["required"] == ["restaurant", "guests"]
    assert spec["parameters"]["properties"] == {
        "restaurant": {"type": "string",
                       "description": 'The restaurant\'s name, for example "Chez Nous". Note: no addresses.'},
        "guests": {"type": "integer", "description": "How many people come."},
        "seating": {"type": "string", "enum": ["inside", "terrace"], "description": "Where to sit.",
                    "default": "inside"},
        "budget": {"type": "float", "description": "Most money per person, in euros.", "default": None},
        "vegetarian": {"type": "boolean", "description": "Whether everyone eats vegetarian.", "default": False},
    }
    json.dumps(spec)  # the spec goes into a prompt as JSON


def test_a_continuation_line_with_a_colon_does_not_start_a_new_argument_and_returns_is_not_an_argument():
    properties = book_table.spec["parameters"]["properties"]
    assert "Note" not in properties and "confirmation" not in properties
    assert "Returns" not in book_table.description


def test_typed_lists_describe_their_items():
    @tool
    def tag(labels: list[str]) -> dict:
        """Tag something.

        Args:
            labels: The tags.
        """
        return {}

    assert tag.parameters["properties"]["labels"] == {"type": "array", "items": {"type": "string"},
                                                      "description": "The tags."}


def test_the_name_can_be_overridden():
    @tool(name="lookup")
    def _lookup(query: str) -> dict:
        """Look something up.

        Args:
            query: What to look up.
        """
        return {}

    assert isinstance(_lookup, Tool) and _lookup.spec["name"] == "lookup"


def test_a_parameter_without_annotation_is_refused():
    with pytest.raises(TypeError, match="'city' needs a type annotation"):
        @tool
        def weather(city) -> dict:
            """Weather.

            Args:
                city: The city.
            """


def test_a_function_without_docstring_is_refused():
    with pytest.raises(TypeError, match="needs a docstring"):
        @tool
        def weather(city: str) -> dict:
            return {}


def test_an_undocumented_parameter_is_refused():
    with pytest.raises(TypeError, match="document parameter 'unit'"):
        @tool
        def weather(city: str, unit: str = "celsius") -> dict:
            """Weather.

            Args:
                city: The city.
            """


def test_documenting_a_parameter_the_function_does_not_have_is_refused():
    with pytest.raises(TypeError, match=r"documents \['town'\]"):
        @tool
        def weather(city: str) -> dict:
            """Weather.

            Args:
                city: The city.
                town: A leftover from an older signature.
            """


def test_star_args_unsupported_annotations_and_mixed_literals_are_refused():
    with pytest.raises(TypeError, match=r"\*args/\*\*kwargs"):
        @tool
        def anything(**options: str) -> dict:
            """Anything.

            Args:
                options: Options.
            """
    with pytest.raises(TypeError, match="unsupported annotation"):
        @tool
        def when(moment: complex) -> dict:
            """When.

            Args:
                moment: A moment.
            """
    with pytest.raises(TypeError, match="share one simple type"):
        @tool
        def size(value: Literal["small", 2]) -> dict:
            """Size.

            Args:
                value: The size.
            """


def test_a_literal_default_outside_its_choices_is_refused():
    with pytest.raises(TypeError, match="default 'kelvin'"):
        @tool
        def weather(city: str, unit: Literal["celsius", "fahrenheit"] = "kelvin") -> dict:
            """Weather.

            Args:
                city: The city.
                unit: The unit.
            """


def test_run_turns_an_exception_into_an_error_value_and_wraps_plain_results():
    @tool
    def divide(a: int, b: int):
        """Divide a by b.

        Args:
            a: Numerator.
            b: Denominator.
        """
        return a / b

    assert divide.run({"a": 6, "b": 3}) == {"result": 2.0}
    assert divide.run({"a": 1, "b": 0}) == {"error": "divide failed: ZeroDivisionError: division by zero"}
    assert "error" in divide.run({"a": 1, "c": 2})  # a wrong argument name is also just an error value
    result, seconds = timed(divide, {"a": 1, "b": 4})
    assert result == {"result": 0.25} and 0 <= seconds < 1


def test_the_live_tools_have_the_specs_the_model_is_trained_on():
    weather = ALL_TOOLS["get_current_weather"].spec
    assert weather["parameters"]["required"] == ["location"]
    assert weather["parameters"]["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert weather["parameters"]["properties"]["unit"]["default"] == "celsius"
    forecast = ALL_TOOLS["get_weather_forecast"].spec
    assert forecast["parameters"]["required"] == ["location"]
    assert forecast["parameters"]["properties"]["days"] == {
        "type": "integer", "description": "How many days to forecast, starting today (1 to 16).", "default": 3}
    wiki = ALL_TOOLS["search_wikipedia"].spec
    assert wiki["parameters"] == {"type": "dict", "required": ["query"], "properties": {
        "query": {"type": "string", "description": 'What to look up, e.g. "Ada Lovelace" or "Eiffel Tower".'}}}
    assert [t.name for t in get_tools(["search_wikipedia", "get_current_weather"])] == [
        "get_current_weather", "search_wikipedia"]
    with pytest.raises(ValueError, match="unknown tools"):
        get_tools(["get_stock_price"])
