"""The `@tool` decorator: a typed, docstring'd Python function becomes a `Tool`.

The JSON spec the model sees (name, description, parameters with `type: "dict"`, `required`, `properties`, `enum`,
`default`) is generated from the signature and the docstring, in the style of Meta's Llama 3.2 docs and BFCL. The
function is the one source of truth: there is no hand-written schema next to it that could drift.
"""

from __future__ import annotations

import inspect
import re
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

# Python annotation -> type name used in Llama 3.2 / BFCL function specs.
_SPEC_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    list: "array",
    tuple: "tuple",
    dict: "dict",
}


@dataclass(frozen=True)
class Tool:
    """A callable tool plus the JSON spec generated from its signature."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] = field(repr=False, compare=False)

    @property
    def spec(self) -> dict[str, Any]:
        """The function description shown to the model (key order as in Meta's docs)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def __call__(self, **arguments: Any) -> Any:
        return self.function(**arguments)

    def run(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run the tool; any exception becomes an `{"error": ...}` result instead of escaping into the chat."""
        try:
            result = self.function(**arguments)
        except Exception as exc:  # a tool failure is a value the model and the user can read
            return {"error": f"{self.name} failed: {type(exc).__name__}: {exc}"}
        return result if isinstance(result, dict) else {"result": result}


_SECTION_HEADER = re.compile(r"^(Args|Arguments|Parameters|Returns?|Raises|Yields?|Examples?|Notes?|Warnings?|"
                             r"See Also|Todo|Attributes):\s*$")
_ARG_LINE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {arg: description}).

    The description is the text before the first section (Args:, Returns:, Note:, ...). Under Args:, a line at the
    section's own indentation starts an argument; a deeper-indented line continues it, even if it contains a colon.
    """
    description: list[str] = []
    arg_docs: dict[str, str] = {}
    section: str | None = None
    arg_indent: int | None = None
    current: str | None = None
    for line in inspect.cleandoc(doc or "").splitlines():
        header = _SECTION_HEADER.match(line)
        if header:
            section, arg_indent, current = header.group(1).lower(), None, None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in ("args", "arguments", "parameters") or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        arg_indent = indent if arg_indent is None else arg_indent
        match = _ARG_LINE.match(line.strip())
        if indent <= arg_indent and match:
            current = match.group(1)
            arg_docs[current] = match.group(2).strip()
        elif current:
            arg_docs[current] = f"{arg_docs[current]} {line.strip()}".strip()
    return " ".join(" ".join(description).split()), arg_docs


def _property_for(annotation: Any, name: str, func_name: str) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is Literal:
        values = list(get_args(annotation))
        kinds = {type(v) for v in values}
        if len(kinds) != 1 or next(iter(kinds)) not in _SPEC_TYPES:
            raise TypeError(f"{func_name}({name}): Literal values must share one simple type, got {values!r}")
        return {"type": _SPEC_TYPES[next(iter(kinds))], "enum": values}
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return _property_for(inner[0], name, func_name)
    base = origin or annotation
    if base is list and get_args(annotation):
        return {"type": "array", "items": _property_for(get_args(annotation)[0], name, func_name)}
    if base in _SPEC_TYPES:
        return {"type": _SPEC_TYPES[base]}
    raise TypeError(f"{func_name}({name}): unsupported annotation {annotation!r}; use str, int, float, bool, "
                    "list, dict or Literal[...]")


def tool(func: Callable[..., Any] | None = None, *, name: str | None = None):
    """Turn a typed function with a Google-style docstring into a `Tool`.

    Every parameter needs a type annotation and a line under `Args:`; parameters without a default are required.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        description, arg_docs = _parse_docstring(f.__doc__ or "")
        if not description:
            raise TypeError(f"tool {f.__name__} needs a docstring: it is the description the model reads")
        hints = typing.get_type_hints(f, include_extras=False)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for param in inspect.signature(f).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool {f.__name__}: *args/**kwargs cannot be described to a model")
            if param.name not in hints:
                raise TypeError(f"tool {f.__name__}: parameter {param.name!r} needs a type annotation")
            if param.name not in arg_docs:
                raise TypeError(f"tool {f.__name__}: document parameter {param.name!r} under 'Args:'")
            prop = _property_for(hints[param.name], param.name, f.__name__)
            prop["description"] = arg_docs[param.name]
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
            else:
                if "enum" in prop and param.default not in prop["enum"]:
                    raise TypeError(f"tool {f.__name__}: default {param.default!r} of {param.name!r} is not one of "
                                    f"{prop['enum']!r}")
                prop["default"] = param.default
            properties[param.name] = prop
        stale = set(arg_docs) - set(properties)
        if stale:
            raise TypeError(f"tool {f.__name__}: 'Args:' documents {sorted(stale)} but the function has no such "
                            "parameter; the description would drift from the code")
        parameters = {"type": "dict", "required": required, "properties": properties}
        return Tool(name=name or f.__name__, description=description, parameters=parameters, function=f)

    return wrap(func) if func is not None else wrap


class ToolError(Exception):
    """A failure worth telling the user about: one sentence, plus context such as the HTTP status. A tool catches it
    and returns `as_result()`: failures are values the model reads, never tracebacks."""

    def __init__(self, message: str, **context: Any):
        super().__init__(message)
        self.context = context

    def as_result(self) -> dict[str, Any]:
        return {"error": str(self), **self.context}

    @classmethod
    def for_status(cls, service: str, status: int, reason: str = "", retry_after_s: int | None = None) -> ToolError:
        """The error for an HTTP status >= 400 from `service` (`reason`: the server's own explanation, if any)."""
        if status == 429:
            later = f"try again in {retry_after_s} s" if retry_after_s is not None else "try again in a minute"
            return cls(f"{service} is rate-limiting requests (HTTP 429); {later}.", status=429,
                       retry_after_s=retry_after_s)
        reason = f": {reason[:200]}" if reason else ""
        if status >= 500:
            return cls(f"{service} had an internal error (HTTP {status}){reason}.", status=status)
        return cls(f"{service} rejected the request (HTTP {status}){reason}.", status=status)


MAX_ECHO_CHARS = 200


def echo_argument(value: Any) -> Any:
    """An argument as a result may repeat it back: whole when short, cut when absurd (a 10,000-character "location"
    echoed into the result would fill the model's context with it)."""
    if isinstance(value, str) and len(value) > MAX_ECHO_CHARS:
        return value[:MAX_ECHO_CHARS] + f"… ({len(value)} characters)"
    if not isinstance(value, (str, int, float, bool, type(None))) or len(repr(value)) > MAX_ECHO_CHARS:
        return repr(value)[:MAX_ECHO_CHARS] + ("…" if len(repr(value)) > MAX_ECHO_CHARS else "")
    return value


def timed(tool_: Tool, arguments: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run a tool and return (result, seconds taken)."""
    start = time.perf_counter()
    result = tool_.run(arguments)
    return result, time.perf_counter() - start
