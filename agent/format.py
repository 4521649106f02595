"""The Llama 3.2 function-call syntax: parse model output into `ToolCall`s, validate them, print them back.

Model output is data. It is parsed with `ast` and only literals are accepted (strings, numbers, booleans, None, lists,
tuples, dicts); nothing is ever evaluated or executed.

Accepted forms (after an optional `<|python_tag|>`, whitespace and a code fence are stripped):
    [get_weather(city="Oslo"), search_wikipedia(query='Ada Lovelace')]   # Meta's pythonic list
    get_weather(city="Oslo")                                              # a bare single call
    {"name": "get_weather", "parameters": {"city": "Oslo"}}               # Llama 3.x JSON (or a list of them)
Anything else that does not open like a call is prose: `parse_tool_calls` returns `[]`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PYTHON_TAG = "<|python_tag|>"
_END_TOKENS = ("<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>", "</s>")
MAX_CALL_TEXT = 100_000  # longer "calls" are refused unparsed: bounded time and memory
MAX_CALLS = 32
MAX_DEPTH = 20

# What opens a call, read two ways: `looks_like_call` on a whole (or partial) reply, `classify_opening` on the first
# tokens of a stream ("undecided" while they could still go either way). Both are built from the same pieces.
_NAME = r"[A-Za-z_][\w.]*"  # a function name, dotted names allowed
_ARGUMENT = r"[A-Za-z_]\w*"
_CALL_OPENING = re.compile(rf"\[\s*{_NAME}\s*\(")  # Meta's list: `[f(`
_BARE_CALL = re.compile(rf"{_NAME}\((?:\s*{_ARGUMENT}\s*=.*)?\)\s*;?\s*", re.DOTALL)  # all of `f(a=1)`
_BARE_CALL_OPENING = re.compile(rf"{_NAME}\((?:\s*{_ARGUMENT}\s*=|\s*\))")  # `f(a=...` or `f()`
_BARE_UNDECIDED = re.compile(rf"{_NAME}(?:\(\s*(?:{_ARGUMENT})?\s*)?")  # `get_weather(cit` could go either way
_LIST_UNDECIDED = re.compile(rf"\[\s*(?:{_NAME}\s*)?")
_JSON_OPENING = re.compile(r"[\[{]\s*[{\"']")
_JSON_CALL_OPENING = re.compile(r"\[?\s*\{\s*[\"']name[\"']")
_JSON_UNDECIDED = re.compile(r"\[?\s*\{\s*(?:[\"'][a-z]{0,4})?")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)
_FENCE_OPENING = re.compile(r"`{1,3}[\w-]*")


@dataclass(frozen=True)
class ToolCall:
    """One function call requested by the model."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_python(self) -> str:
        """The call in Meta's pythonic syntax: `get_weather(city="Oslo", days=3)`."""
        args = ", ".join(f"{key}={format_literal(value)}" for key, value in self.arguments.items())
        return f"{self.name}({args})"


class ToolCallParseError(ValueError):
    """The text opens like a tool call but is not a well-formed one."""

    def __init__(self, reason: str, text: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.text = text[:500]


@dataclass(frozen=True)
class ValidationError:
    """Why a parsed call does not fit the tool specs."""

    kind: str  # unknown_function | missing_argument | unknown_argument | wrong_type | not_in_enum
    function: str
    message: str
    argument: str | None = None


def format_literal(value: Any) -> str:
    """Print a value as a Python literal, strings double-quoted (as in Meta's examples)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(format_literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{format_literal(k)}: {format_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def format_tool_calls(calls: Iterable[ToolCall]) -> str:
    """`[f(a=1), g()]`: what an assistant message that calls tools contains."""
    return "[" + ", ".join(call.to_python() for call in calls) + "]"


def strip_wrappers(text: str) -> str:
    """Remove the python tag, end-of-turn tokens, surrounding whitespace and one code fence."""
    text = text.strip()
    for token in _END_TOKENS:
        if text.endswith(token):
            text = text[: -len(token)].rstrip()
    if text.startswith(PYTHON_TAG):
        text = text[len(PYTHON_TAG):].strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
        if text.startswith(PYTHON_TAG):
            text = text[len(PYTHON_TAG):].strip()
    return text


def looks_like_call(text: str) -> bool:
    """Does this (possibly partial) output open like a tool call rather than prose?"""
    body = strip_wrappers(text)
    return bool(
        _CALL_OPENING.match(body)
        or _JSON_OPENING.match(body) and ('"name"' in body[:200] or "'name'" in body[:200])
        or _BARE_CALL.fullmatch(body)
    )


def classify_opening(text: str) -> str:
    """Read the start of a streamed reply: "call", "prose", or "undecided" (need more tokens).

    The loop streams a reply as the answer once this says "prose"; the llama.cpp decoder bans the tokens that would
    make a reply it decided is prose read as "call" here.
    """
    body = text.lstrip()
    if body.startswith(PYTHON_TAG):
        return "call"
    if not body or PYTHON_TAG.startswith(body):
        return "undecided"
    if body.startswith("`"):
        if "\n" not in body:
            return "undecided" if _FENCE_OPENING.fullmatch(body) else "prose"
        if not body.startswith("```"):
            return "prose"
        body = body.split("\n", 1)[1].lstrip()
        if not body:
            return "undecided"
    if _CALL_OPENING.match(body) or _JSON_CALL_OPENING.match(body) or _BARE_CALL_OPENING.match(body):
        return "call"
    if _LIST_UNDECIDED.fullmatch(body) or _JSON_UNDECIDED.fullmatch(body) or _BARE_UNDECIDED.fullmatch(body):
        return "undecided"
    return "prose"


def parse_tool_calls(text: str) -> list[ToolCall]:
    """Parse model output into tool calls; `[]` means a plain answer.

    Raises `ToolCallParseError` (and nothing else) when the text opens like a call but is malformed.
    """
    if not isinstance(text, str):
        raise ToolCallParseError(f"expected str, got {type(text).__name__}")
    raw = text
    text = strip_wrappers(text)
    if not looks_like_call(text):
        return []
    if len(text) > MAX_CALL_TEXT:
        raise ToolCallParseError(f"tool call text too long ({len(text)} characters, limit {MAX_CALL_TEXT})", raw)
    if text[0] == "{" or _JSON_OPENING.match(text) and not _CALL_OPENING.match(text):
        calls = _parse_json_calls(text, raw)
    else:
        calls = _parse_pythonic_calls(text, raw)
    if len(calls) > MAX_CALLS:
        raise ToolCallParseError(f"too many tool calls in one reply ({len(calls)}, limit {MAX_CALLS})", raw)
    return calls


def _safe_ast(source: str, raw: str) -> ast.expr:
    try:
        return ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
        message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise ToolCallParseError(f"not a valid tool call: {message}", raw) from None


def _parse_pythonic_calls(text: str, raw: str) -> list[ToolCall]:
    text = text.rstrip(";").strip()
    node = _safe_ast(text, raw)
    nodes = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    calls = []
    for item in nodes:
        if not isinstance(item, ast.Call):
            raise ToolCallParseError("each item of the list must be a function call like f(a=1)", raw)
        name = _dotted_name(item.func, raw)
        if item.args:
            raise ToolCallParseError(f"{name}: use keyword arguments (name=value), not positional ones", raw)
        arguments: dict[str, Any] = {}
        for keyword in item.keywords:
            if keyword.arg is None:
                raise ToolCallParseError(f"{name}: **kwargs is not allowed in a tool call", raw)
            if keyword.arg in arguments:
                raise ToolCallParseError(f"{name}: argument {keyword.arg!r} given twice", raw)
            arguments[keyword.arg] = _literal(keyword.value, raw, depth=0)
        calls.append(ToolCall(name, arguments))
    return calls


def _dotted_name(node: ast.expr, raw: str) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise ToolCallParseError("a tool call needs a plain function name", raw)
    parts.append(node.id)
    name = ".".join(reversed(parts))
    if any(part.startswith("__") for part in parts):
        raise ToolCallParseError(f"function name {name!r} is not allowed", raw)
    return name


_JSON_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def _literal(node: ast.expr, raw: str, depth: int) -> Any:
    """Convert an AST node made only of literals to a value (a stricter `ast.literal_eval`)."""
    if depth > MAX_DEPTH:
        raise ToolCallParseError(f"argument nested deeper than {MAX_DEPTH} levels", raw)
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
    if isinstance(node, ast.List):
        return [_literal(e, raw, depth + 1) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return [_literal(e, raw, depth + 1) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ToolCallParseError("dict unpacking (**) is not allowed in arguments", raw)
        keys = [_literal(k, raw, depth + 1) for k in node.keys]
        if not all(isinstance(k, (str, int, float, bool)) or k is None for k in keys):
            raise ToolCallParseError("dict keys must be simple literals", raw)
        return dict(zip(keys, (_literal(v, raw, depth + 1) for v in node.values), strict=True))
    raise ToolCallParseError(f"arguments must be literals, found {type(node).__name__}", raw)


def _parse_json_calls(text: str, raw: str) -> list[ToolCall]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # Models often emit single-quoted "JSON": accept it as a Python literal, still without evaluating anything.
        data = _literal(_safe_ast(text, raw), raw, depth=0)
    except MemoryError:
        raise ToolCallParseError("tool call JSON too large", raw) from None
    items = data if isinstance(data, list) else [data]
    calls = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ToolCallParseError('each JSON tool call needs a "name" string', raw)
        arguments = item.get("parameters", item.get("arguments", {}))
        if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except (ValueError, RecursionError):
                raise ToolCallParseError(f"{item['name']}: arguments are not valid JSON", raw) from None
        if not isinstance(arguments, dict) or not all(isinstance(k, str) for k in arguments):
            raise ToolCallParseError(f"{item['name']}: parameters must be an object", raw)
        _check_depth(arguments, raw)
        calls.append(ToolCall(item["name"], arguments))
    return calls


def _check_depth(value: Any, raw: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ToolCallParseError(f"argument nested deeper than {MAX_DEPTH} levels", raw)
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _check_depth(child, raw, depth + 1)


# ----------------------------------------------------------------------------------------------------------- checks

_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, (list, tuple)),
    "list": lambda v: isinstance(v, (list, tuple)),
    "tuple": lambda v: isinstance(v, (list, tuple)),
    "dict": lambda v: isinstance(v, dict),
    "object": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


def validate_call(call: ToolCall, specs: Mapping[str, Mapping[str, Any]]) -> list[ValidationError]:
    """Check a call against `{name: spec}`; an empty list means the call may run."""
    spec = specs.get(call.name)
    if spec is None:
        known = ", ".join(sorted(specs)) or "none"
        return [ValidationError("unknown_function", call.name, f"unknown function {call.name!r} (available: {known})")]
    params = spec.get("parameters") or {}
    properties = params.get("properties") or {}
    errors = []
    for name in params.get("required", []):
        if name not in call.arguments:
            errors.append(ValidationError("missing_argument", call.name,
                                          f"{call.name}: missing required argument {name!r}", name))
    for name, value in call.arguments.items():
        prop = properties.get(name)
        if prop is None:
            errors.append(ValidationError("unknown_argument", call.name,
                                          f"{call.name}: unknown argument {name!r}", name))
            continue
        check = _TYPE_CHECKS.get(str(prop.get("type", "any")).lower(), _TYPE_CHECKS["any"])
        if not check(value):
            errors.append(ValidationError("wrong_type", call.name,
                                          f"{call.name}: argument {name!r} should be {prop.get('type')}, "
                                          f"got {type(value).__name__}", name))
        elif "enum" in prop and value not in prop["enum"]:
            options = ", ".join(map(str, prop["enum"]))
            errors.append(ValidationError("not_in_enum", call.name,
                                          f"{call.name}: argument {name!r} must be one of {options}", name))
    return errors
