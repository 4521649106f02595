"""A GBNF grammar per tool set: once a reply opens as a tool call, only well-formed calls to these tools can follow.

The grammar describes Meta's pythonic list, the form `agent.format.parse_tool_calls` reads:

    [get_current_weather(location="Oslo", unit="celsius"), search_wikipedia(query="Ada Lovelace")]

- function names: exactly the tools' names;
- keyword arguments: only the tool's own, each at most once, every required one present, in any order (tools with up
  to `MAX_ORDERED_ARGS` arguments; beyond that, in the spec's order);
- values by type: strings are double-quoted Python literals on one line, integers, floats, booleans
  (`True`/`False`, also JSON's `true`/`false`, which the parser reads), lists and dicts of literals, enums as the
  listed values only;
- at most `max_calls` calls per reply; strings and numbers have bounded lengths, so a constrained call always ends;
- with `choices` (argument name -> values), a string argument of that name takes only one of the listed values: the
  agent lists the places the user wrote (`agent.places`), so a place argument copies the user's words.

Prose is never constrained by it: the llama.cpp backend only switches the grammar on when the reply opens a call.
`call_grammar(specs, choices=...)` is cached by the specs' and choices' content, so the same tool set gives the same
text (and the backend can cache the compiled grammar by text).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from agent.format import format_literal

MAX_ORDERED_ARGS = 6  # up to 2**6 argument states per tool; larger tools get their arguments in spec order
MAX_STRING_CHARS = 200
MAX_DIGITS = 16

# Shared value rules. Strings: no raw newline or control character (a Python literal cannot hold one), escapes limited
# to \" \\ \n \t, so every string the grammar allows is a valid Python string literal.
_COMMON_RULES = rf"""
sep ::= "," " "?
str ::= "\"" chr{{0,{MAX_STRING_CHARS}}} "\""
chr ::= [^"\\\x00-\x1f\x7f] | "\\" ["\\nt]
int ::= "-"? ("0" | [1-9] [0-9]{{0,{MAX_DIGITS - 1}}})
num ::= int ("." [0-9]{{1,{MAX_DIGITS}}})?
bool ::= "True" | "False" | "true" | "false"
val ::= str | num | bool | "None" | list | dict
list ::= "[" (val (sep val){{0,31}})? "]"
dict ::= "{{" (str ":" " "? val (sep str ":" " "? val){{0,31}})? "}}"
""".strip()

_TYPE_RULES = {
    "string": "str", "integer": "int", "float": "num", "number": "num", "boolean": "bool",
    "array": "list", "list": "list", "tuple": "list", "dict": "dict", "object": "dict", "any": "val",
}


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = escaped.replace("\t", "\\t")
    return f'"{escaped}"'


def _choice_rule(name: str) -> str:
    """The rule of the listed values of argument `name` (one rule shared by every function with that argument)."""
    return "choice-" + re.sub(r"[^A-Za-z0-9]+", "-", name) + f"-{zlib.crc32(name.encode()):08x}"


def _value_rule(prop: Mapping[str, Any], rule_name: str, rules: list[str], choice: str | None = None) -> str:
    """The rule name (or inline expression) for one argument's values; extra rules go to `rules`. `choice`: the rule
    of this argument's listed values, used for a string argument without an enum."""
    if choice is not None and not prop.get("enum") and str(prop.get("type", "")).lower() == "string":
        return choice
    if "enum" in prop and prop["enum"]:
        rules.append(f"{rule_name} ::= " + " | ".join(gbnf_literal(format_literal(v)) for v in prop["enum"]))
        return rule_name
    kind = str(prop.get("type", "any")).lower()
    items = prop.get("items")
    if kind in ("array", "list", "tuple") and isinstance(items, Mapping) and items:
        item = _value_rule(items, f"{rule_name}-item", rules)
        rules.append(f'{rule_name} ::= "[" ({item} (sep {item}){{0,31}})? "]"')
        return rule_name
    return _TYPE_RULES.get(kind, "val")


def _function_rules(index: int, spec: Mapping[str, Any], choices: Mapping[str, Sequence[str]]) -> list[str]:
    """Rules for one function: `f3 ::= "name(" args ")"`, with a rule per set of arguments already written."""
    params = spec.get("parameters") or {}
    properties: Mapping[str, Any] = params.get("properties") or {}
    required = set(params.get("required") or ()) & set(properties)
    names = list(properties)
    rules: list[str] = []
    values = [_value_rule(properties[name], f"f{index}-v{j}", rules, _choice_rule(name) if name in choices else None)
              for j, name in enumerate(names)]
    prefix = f"f{index}"
    rules.insert(0, f"{prefix} ::= {gbnf_literal(spec['name'] + '(')} {prefix}-a0")

    def argument(j: int, first: bool) -> str:
        return ("" if first else "sep ") + f"{gbnf_literal(names[j] + '=')} {values[j]}"

    if len(names) <= MAX_ORDERED_ARGS:
        # State = bitmask of the arguments written so far: any order, each at most once, ")" once all required are in.
        all_required = sum(1 << j for j, name in enumerate(names) if name in required)
        for mask in range(1 << len(names)):
            options = ['")"'] if mask & all_required == all_required else []
            options += [f"{argument(j, mask == 0)} {prefix}-a{mask | 1 << j}"
                        for j in range(len(names)) if not mask & 1 << j]
            rules.append(f"{prefix}-a{mask} ::= " + " | ".join(options))
        return rules
    # Many arguments: spec order. State = (position, whether anything was written yet) -> rule "a{2*pos + written}".
    for pos in range(len(names) + 1):
        for written in (0, 1):
            if pos == len(names):
                options = ['")"']
            else:
                options = [f"{argument(pos, not written)} {prefix}-a{2 * (pos + 1) + 1}"]
                if names[pos] not in required:
                    options.append(f"{prefix}-a{2 * (pos + 1) + written}")
            rules.append(f"{prefix}-a{2 * pos + written} ::= " + " | ".join(options))
    return rules


@lru_cache(maxsize=64)
def _grammar_for(specs_json: str, max_calls: int, choices_json: str = "{}") -> str:
    specs, choices = json.loads(specs_json), json.loads(choices_json)
    calls = " | ".join(f"f{i}" for i in range(len(specs)))
    more = f" (sep call){{0,{max_calls - 1}}}" if max_calls > 1 else ""
    lines = [f'root ::= "[" call{more} "]"', f"call ::= {calls}"]
    for i, spec in enumerate(specs):
        lines.extend(_function_rules(i, spec, choices))
    for name, values in choices.items():
        if not any(_choice_rule(name) in line for line in lines):
            continue  # no string argument of that name: no rule
        lines.append(f"{_choice_rule(name)} ::= " + " | ".join(gbnf_literal(format_literal(v)) for v in values))
    lines.append(_COMMON_RULES)
    return "\n".join(lines) + "\n"


def call_grammar(specs: Sequence[Mapping[str, Any]], max_calls: int = 4,
                 choices: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The GBNF text for calls to these tools (`None` without tools: nothing to call). Same specs, same text.

    `choices`: argument name -> the only values a string argument of that name may take (an empty list leaves the
    argument free: a grammar cannot offer nothing).
    """
    specs = [s for s in specs if s.get("name")]
    if not specs:
        return None
    if max_calls < 1:
        raise ValueError("max_calls must be at least 1")
    listed = {name: list(dict.fromkeys(str(v) for v in values)) for name, values in (choices or {}).items()}
    listed = {name: values for name, values in sorted(listed.items()) if values}
    return _grammar_for(json.dumps(list(specs), ensure_ascii=False), max_calls,
                        json.dumps(listed, ensure_ascii=False))


def grammar_for_tools(tools: Iterable[Any], max_calls: int = 4,
                      choices: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """`call_grammar` for `Tool` objects (anything with a `.spec`)."""
    return call_grammar([t.spec for t in tools], max_calls, choices)
