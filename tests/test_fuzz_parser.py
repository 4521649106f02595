"""Fuzzing `parse_tool_calls`: over 100k generated inputs it returns calls or a typed error, never raises anything
else, never executes code, and finishes each input in bounded time."""

from __future__ import annotations

import keyword
import sys
import threading
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.format import ToolCall, ToolCallParseError, format_tool_calls, parse_tool_calls

# --- evidence that nothing runs: an audit hook records any code object executed while the parser works -----------
_WATCH = threading.local()
_EXECUTED: list[str] = []


def _audit(event: str, args) -> None:
    if getattr(_WATCH, "on", False) and event in ("exec", "os.system", "subprocess.Popen", "open", "import"):
        _EXECUTED.append(event)


sys.addaudithook(_audit)


def parse_safely(text: str):
    """Parse; return calls or the typed error. Anything else escaping fails the test."""
    _WATCH.on = True
    try:
        return parse_tool_calls(text)
    except ToolCallParseError as exc:
        return exc
    finally:
        _WATCH.on = False


FUZZ = settings(max_examples=25_000, deadline=timedelta(seconds=2), derandomize=True,
                suppress_health_check=list(HealthCheck), database=None)

NASTY = [
    "[f(x=__import__('os').system('touch PWNED'))]",
    "[f(x=().__class__.__bases__[0].__subclasses__())]",
    "[f(x=(lambda: open('PWNED', 'w'))())]",
    "[f(x=[open('PWNED','w') for _ in [1]])]",
    "[f(x=f'{open(\"PWNED\",\"w\")}')]",
    "[f(x=exec('import os'))]",
    "[f(x=eval('1+1'))]",
    "[os.system(cmd='touch PWNED')]",
    "[f(x=__builtins__)]",
    "[f.__globals__(x=1)]",
    "[f(x=1 if True else 2)]",
    "[f(x=(yield 1))]",
    "[f(x=await g())]",
    "[f(x:=1)]",
    "[f(x=" + "(" * 10_000 + ")" * 10_000 + ")]",
    "[f(x=" + "[" * 100_000 + ")]",
    "[f(x=" + "-" * 50_000 + "1)]",
    "[f(x=1" + "0" * 100_000 + ")]",
    "[f(x=" + "1e999999" + ")]",
    "[f(x='" + "a" * 1_000_000 + "')]",
    "[" + "f(), " * 100_000 + "]",
    '{"name": "f", "parameters": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    '{"name": "f", "parameters": ' + "[" * 100_000 + "}",
    "[f(x='\\N{NOT A REAL NAME}')]",
    "[f(x=b'bytes')]",
    "[f(x=...)]",
    "[f(x=1j)]",
    "[f(x={1, 2})]",
    "[f(x=\x00)]",
    "<|python_tag|>" * 1000,
    "```" * 1000,
    "[\ud800(x=1)]",
    "[f(x='\u202e')]",
]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_a_corpus_of_nasty_strings_is_refused_or_parsed_as_literals(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _EXECUTED.clear()
    result = parse_safely(text)
    assert isinstance(result, (list, ToolCallParseError))
    assert _EXECUTED == [] and not (tmp_path / "PWNED").exists()
    if isinstance(result, list):
        for call in result:
            assert isinstance(call, ToolCall) and all(isinstance(k, str) for k in call.arguments)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text):
    assert isinstance(parse_safely(text), (list, ToolCallParseError))


PIECES = st.sampled_from([
    "[", "]", "(", ")", "{", "}", ",", "=", "'", '"', ":", ".", "*", "**", "-", "+", "lambda", "__import__",
    "__class__", "f", "get_weather", "city", "x", "1", "1.5", "True", "None", "null", "<|python_tag|>", "```",
    "\n", " ", '"name"', '"parameters"', "f'", "{x}", "for", "in", "if", "else", "yield", "await", ":=", "\\",
])


@FUZZ
@given(st.lists(PIECES, max_size=40).map("".join))
def test_call_shaped_token_soup(text):
    assert isinstance(parse_safely(text), (list, ToolCallParseError))


LITERALS = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,12}(\.[a-z_][a-z0-9_]{0,8})?", fullmatch=True).filter(
    lambda n: not any(p.startswith("__") or keyword.iskeyword(p) for p in n.split("."))
    and n not in ("true", "false", "null"))


ARG_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: not keyword.iskeyword(n))


@FUZZ
@given(st.lists(st.builds(ToolCall, NAMES, st.dictionaries(ARG_NAMES, LITERALS, max_size=4)), min_size=1, max_size=4))
def test_well_formed_calls_round_trip(calls):
    parsed = parse_safely(format_tool_calls(calls))
    assert parsed == [ToolCall(c.name, _normalise(c.arguments)) for c in calls]


@FUZZ
@given(st.text(max_size=200), st.integers(0, 200))
def test_truncated_and_spliced_calls(noise, cut):
    text = '[get_weather(city="Oslo", days=3), search(query="x")]'
    spliced = text[:cut % (len(text) + 1)] + noise
    assert isinstance(parse_safely(spliced), (list, ToolCallParseError))


def _normalise(value):
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value
