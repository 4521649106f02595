"""The Llama 3.2 call syntax: parsing every accepted form, refusing malformed ones, validating against specs."""

import pytest

from agent.format import (
    ToolCall,
    ToolCallParseError,
    format_tool_calls,
    looks_like_call,
    parse_tool_calls,
    validate_call,
)

WEATHER_SPEC = {
    "name": "get_weather",
    "description": "Get weather info for places",
    "parameters": {
        "type": "dict",
        "required": ["city"],
        "properties": {
            "city": {"type": "string", "description": "The city"},
            "metric": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": "integer", "default": 1},
            "scale": {"type": "float", "default": 1.0},
        },
    },
}
SPECS = {"get_weather": WEATHER_SPEC}


@pytest.mark.parametrize("text", [
    '[get_weather(city="San Francisco", metric="celsius")]',
    "[get_weather(city='San Francisco', metric='celsius')]",
    '<|python_tag|>[get_weather(city="San Francisco", metric="celsius")]',
    '  \n [get_weather(city="San Francisco", metric="celsius")]  \n',
    '```python\n[get_weather(city="San Francisco", metric="celsius")]\n```',
    '```\n<|python_tag|>[get_weather(city="San Francisco", metric="celsius")]\n```',
    '[get_weather(city="San Francisco", metric="celsius")]<|eot_id|>',
    'get_weather(city="San Francisco", metric="celsius")',
    '{"name": "get_weather", "parameters": {"city": "San Francisco", "metric": "celsius"}}',
    '<|python_tag|>{"name": "get_weather", "parameters": {"city": "San Francisco", "metric": "celsius"}}',
    '[{"name": "get_weather", "parameters": {"city": "San Francisco", "metric": "celsius"}}]',
    "{'name': 'get_weather', 'parameters': {'city': 'San Francisco', 'metric': 'celsius'}}",
    '{"name": "get_weather", "arguments": "{\\"city\\": \\"San Francisco\\", \\"metric\\": \\"celsius\\"}"}',
])
def test_every_accepted_form_parses_to_the_same_call(text):
    assert parse_tool_calls(text) == [ToolCall("get_weather", {"city": "San Francisco", "metric": "celsius"})]


def test_a_list_of_calls_keeps_order_and_literal_types():
    calls = parse_tool_calls('[f(a=1, b=-2.5, c=True, d=None, e=[1, "x"], g={"k": (1, 2)}), math.hypot(x=3), h()]')
    assert [c.name for c in calls] == ["f", "math.hypot", "h"]
    assert calls[0].arguments == {"a": 1, "b": -2.5, "c": True, "d": None, "e": [1, "x"], "g": {"k": [1, 2]}}
    assert calls[2].arguments == {}


def test_several_json_calls_in_a_list():
    calls = parse_tool_calls('[{"name": "a", "parameters": {}}, {"name": "b", "parameters": {"x": true}}]')
    assert calls == [ToolCall("a", {}), ToolCall("b", {"x": True})]


@pytest.mark.parametrize("text", [
    "", "   ", "The weather in Oslo is 5 degrees.", "[1, 2, 3] are numbers", "Sure! [Note] see below",
    "{not json at all}", "Paris (France) is lovely.", "Confucius (551–479 BC) was a philosopher.",
    "Ada Lovelace(1815–1852)",
])
def test_prose_is_not_a_call(text):
    assert parse_tool_calls(text) == []


@pytest.mark.parametrize("text, reason", [
    ('[get_weather(city="Oslo"', "not a valid tool call"),
    ('[get_weather("Oslo")]', "keyword arguments"),
    ('[get_weather(city=__import__("os").system("echo pwned"))]', "literals"),
    ("[get_weather(city=lambda: 1)]", "literals"),
    ("[get_weather(city=[x for x in range(9)])]", "literals"),
    ('[get_weather(city=f"{1+1}")]', "literals"),
    ('[get_weather(city="a" + "b")]', "literals"),
    ("[get_weather(city=os.environ)]", "literals"),
    ("[__import__(name='os')]", "not allowed"),
    ("[get_weather(**{'city': 'x'})]", "kwargs"),
    ('[get_weather(city="a", city="b")]', "given twice"),
    ("[get_weather(city=1), 42]", "function call"),
    ('{"name": 5, "parameters": {}}', '"name"'),
    ('{"name": "f", "parameters": [1]}', "object"),
    ("[f(x=" + "[" * 200 + "]" * 200 + ")]", "nested"),
])
def test_malformed_calls_raise_a_typed_error_and_never_execute(text, reason, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolCallParseError) as info:
        parse_tool_calls(text)
    assert reason in info.value.reason
    assert list(tmp_path.iterdir()) == []


def test_huge_inputs_are_refused_without_parsing():
    with pytest.raises(ToolCallParseError, match="too long"):
        parse_tool_calls("[f(x='" + "a" * 200_000 + "')]")
    with pytest.raises(ToolCallParseError):
        parse_tool_calls("[f(x=" + "9" * 5000 + ")]")  # beyond Python's int-string limit


def test_non_string_input_is_a_typed_error():
    with pytest.raises(ToolCallParseError):
        parse_tool_calls(None)  # type: ignore[arg-type]


def test_calls_print_back_in_metas_syntax_and_round_trip():
    calls = [ToolCall("get_weather", {"city": "São Paulo", "days": 2}), ToolCall("g", {"x": [1, "a"], "y": False})]
    text = format_tool_calls(calls)
    assert text == '[get_weather(city="São Paulo", days=2), g(x=[1, "a"], y=False)]'
    assert parse_tool_calls(text) == calls


def test_looks_like_call_reads_openings():
    assert looks_like_call("[get_weather(city=")
    assert looks_like_call('{"name": "get_weather"')
    assert not looks_like_call("It is sunny")


def test_a_valid_call_has_no_validation_errors():
    assert validate_call(ToolCall("get_weather", {"city": "Oslo", "days": 2, "scale": 2}), SPECS) == []


@pytest.mark.parametrize("call, kind, argument", [
    (ToolCall("get_wether", {"city": "Oslo"}), "unknown_function", None),
    (ToolCall("get_weather", {}), "missing_argument", "city"),
    (ToolCall("get_weather", {"city": "Oslo", "country": "NO"}), "unknown_argument", "country"),
    (ToolCall("get_weather", {"city": 42}), "wrong_type", "city"),
    (ToolCall("get_weather", {"city": "Oslo", "days": True}), "wrong_type", "days"),
    (ToolCall("get_weather", {"city": "Oslo", "days": 1.5}), "wrong_type", "days"),
    (ToolCall("get_weather", {"city": "Oslo", "metric": "kelvin"}), "not_in_enum", "metric"),
])
def test_validation_reports_structured_errors(call, kind, argument):
    errors = validate_call(call, SPECS)
    assert [(e.kind, e.argument) for e in errors] == [(kind, argument)]
    assert call.name in errors[0].message
