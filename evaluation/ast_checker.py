"""Our AST checker for function calls, following the rules of the Berkeley Function Calling Leaderboard (BFCL).

A model's parsed calls (`agent.format.ToolCall`) are compared with a *possible answer*: for each expected call, the
accepted values of each parameter, e.g. `{"get_weather": {"city": ["Oslo", "oslo"], "unit": ["celsius", ""]}}`.
This is our own implementation; where it follows BFCL (Apache-2.0, gorilla/berkeley-function-call-leaderboard,
`eval_checker/ast_eval/ast_checker.py`) the rule is noted:

- the function name must match exactly (BFCL, for models that accept dotted names);
- every `required` parameter of the spec must be given (`missing_required`);
- a parameter the spec does not declare, or that the possible answer does not list, is refused (`unexpected_param`);
- types follow the spec's Python types: string, integer, float, boolean, array/tuple (a list), dict, and "any" (BFCL
  maps it to str); an int is accepted where a float is declared (BFCL's "Python auto conversion"); a bool is never an
  int; a value whose type is not the declared one but is the type of the accepted values passes the type check
  (BFCL's "variable" allowance) and is then compared exactly;
- array items are checked one level deep against `items.type` (BFCL); we also let an int stand for a float *item*,
  which BFCL does not (a deliberate, documented relaxation);
- strings are compared after BFCL's normalisation: spaces and `, . / - _ * ^` removed, lower-cased, `'` read as `"`;
  lists compare element-wise with strings normalised; dicts key by key, a key whose accepted values include `""` may be
  left out; a list of dicts compares dict by dict, in order;
- any other value must be among the accepted ones (`1 == 1.0`, as in Python);
- a parameter of the possible answer that the call leaves out must list `""` among its values (it is optional),
  otherwise `missing_optional`;
- several expected calls (BFCL "parallel", and multi-call targets of our generated split) match in any order, each
  model call used once. BFCL matches greedily; we search for a full matching, which differs only where a greedy choice
  would wrongly fail.

Relevance and irrelevance (whether a call was made at all) are scored in `evaluation.scoring`, not here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.format import ToolCall

# Possible answer of one call: {function name: {parameter: [accepted values, "" meaning "may be left out"]}}
PossibleCall = Mapping[str, Mapping[str, Sequence[Any]]]

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "str": (str,),
    "integer": (int,),
    "int": (int,),
    "float": (float,),
    "number": (float,),
    "boolean": (bool,),
    "bool": (bool,),
    "array": (list,),
    "list": (list,),
    "tuple": (list,),
    "dict": (dict,),
    "object": (dict,),
    "any": (str,),
}
_NORMALISE = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class CheckResult:
    """Whether a call (or a list of calls) matches the possible answer, and if not, why."""

    valid: bool
    error_type: str = ""
    message: str = ""

    def __bool__(self) -> bool:
        return self.valid


OK = CheckResult(True)


def normalise_string(text: str) -> str:
    """BFCL's string normalisation: "April 1, 2024" and "april 1 2024" compare equal."""
    return _NORMALISE.sub("", text).lower().replace("'", '"')


def _fail(error_type: str, message: str) -> CheckResult:
    return CheckResult(False, error_type, message)


def _exact_type(value: Any) -> type:
    return list if isinstance(value, tuple) else type(value)


def _accepted_type(accepted: Sequence[Any]) -> type | None:
    """The type of the first accepted value that is not the "optional" marker."""
    for option in accepted:
        if option != "":
            return _exact_type(option)
    return None


def _normalise_value(value: Any) -> Any:
    if isinstance(value, str):
        return normalise_string(value)
    if isinstance(value, (list, tuple)):
        return [normalise_string(v) if isinstance(v, str) else v for v in value]
    return value


def _type_matches(value: Any, declared: tuple[type, ...]) -> bool:
    return _exact_type(value) in declared


def _check_type(param: str, value: Any, prop: Mapping[str, Any],
                accepted: Sequence[Any]) -> tuple[CheckResult, Any, bool]:
    """Returns (result, value converted for comparison, is_variable)."""
    declared_name = str(prop.get("type", "any")).lower()
    declared = _PYTHON_TYPES.get(declared_name)
    if declared is None:  # a type we do not know: do not judge it, compare values only
        return OK, value, False
    if float in declared and type(value) is int:
        value = float(value)
    if isinstance(value, tuple):
        value = list(value)
    accepted_type = _accepted_type(accepted)
    if _type_matches(value, declared):
        if list in declared and isinstance(prop.get("items"), Mapping) and "type" in prop["items"]:
            problem = _check_items(param, value, prop["items"], accepted)
            if problem is not None:
                return problem, value, False
        # A string answer for a non-string parameter is how possible answers write a variable name.
        return OK, value, accepted_type is not None and accepted_type not in declared
    if accepted_type is not None and _exact_type(value) is accepted_type:
        return OK, value, True
    problem = _fail("type_error", f"{param!r} should be {declared_name}, got {type(value).__name__} ({value!r})")
    return problem, value, False


def _check_items(param: str, value: list, items: Mapping[str, Any], accepted: Sequence[Any]) -> CheckResult | None:
    item_types = _PYTHON_TYPES.get(str(items.get("type", "any")).lower())
    if item_types is None:
        return None
    accepted_item_types = {_exact_type(v) for option in accepted if isinstance(option, list) for v in option}
    for item in value:
        kind = _exact_type(item)
        if kind in item_types or float in item_types and kind is int or kind in accepted_item_types:
            continue
        return _fail("type_error:nested", f"{param!r}: items should be {items.get('type')}, got {kind.__name__} "
                                          f"({item!r})")
    return None


def _check_dict(param: str, value: Mapping[str, Any], accepted: Sequence[Any]) -> CheckResult:
    problem = _fail("value_error:dict", f"{param!r}: {value!r} matches none of {list(accepted)!r}")
    for option in accepted:
        if not isinstance(option, Mapping):
            continue
        mismatch = None
        for key, item in value.items():
            if key not in option:
                mismatch = _fail("value_error:dict_key", f"{param!r}: unexpected key {key!r}")
                break
            options = option[key] if isinstance(option[key], list) else [option[key]]
            if _normalise_value(item) not in [_normalise_value(o) for o in options]:
                mismatch = _fail("value_error:dict_value",
                                 f"{param!r}[{key!r}] = {item!r}, expected one of {options!r}")
                break
        if mismatch is None:
            missing = [k for k, options in option.items()
                       if k not in value and "" not in (options if isinstance(options, list) else [options])]
            if not missing:
                return OK
            mismatch = _fail("value_error:dict_key", f"{param!r}: missing key {missing[0]!r}")
        problem = mismatch
    return problem


def _check_list_of_dicts(param: str, value: list, accepted: Sequence[Any]) -> CheckResult:
    problem = _fail("value_error:list_dict", f"{param!r}: {value!r} matches none of {list(accepted)!r}")
    for option in accepted:
        if not isinstance(option, list):
            continue
        if len(option) != len(value):
            problem = _fail("value_error:list_dict_count", f"{param!r}: {len(value)} dicts, expected {len(option)}")
            continue
        results = [_check_dict(param, item, [expected]) if isinstance(item, Mapping)
                   else _fail("type_error:nested", f"{param!r}: {item!r} is not a dict")
                   for item, expected in zip(value, option, strict=True)]
        failed = next((r for r in results if not r.valid), None)
        if failed is None:
            return OK
        problem = failed
    return problem


def _check_value(param: str, value: Any, prop: Mapping[str, Any], accepted: Sequence[Any],
                 is_variable: bool) -> CheckResult:
    declared = _PYTHON_TYPES.get(str(prop.get("type", "")).lower(), ())
    items = prop.get("items")
    items_type = str(items.get("type", "")).lower() if isinstance(items, Mapping) else ""
    if not is_variable:
        if isinstance(value, dict) and (dict in declared or not declared):
            return _check_dict(param, value, accepted)
        if isinstance(value, list) and items_type in ("dict", "object"):
            return _check_list_of_dicts(param, value, accepted)
        if isinstance(value, (str, list)):
            options = [_normalise_value(o) for o in accepted if isinstance(o, (str, list))]
            if _normalise_value(value) in options:
                return OK
            return _fail("value_error:string" if isinstance(value, str) else "value_error:list",
                         f"{param!r} = {value!r}, expected one of {list(accepted)!r}")
    if value in accepted:
        return OK
    return _fail("value_error:others", f"{param!r} = {value!r}, expected one of {list(accepted)!r}")


def check_call(call: ToolCall, possible: PossibleCall, spec: Mapping[str, Any] | None = None) -> CheckResult:
    """Check one call against one expected call (`{name: {param: [accepted values]}}`) and the function's spec.

    Without a spec, the required-parameter and type checks are skipped and values are compared as they are.
    """
    ((expected_name, accepted_params),) = possible.items()
    if call.name != expected_name:
        return _fail("wrong_func_name", f"called {call.name!r}, expected {expected_name!r}")
    params = (spec or {}).get("parameters") or {}
    properties = params.get("properties") or {}
    for name in params.get("required") or []:
        if name not in call.arguments:
            return _fail("missing_required", f"{call.name}: missing required parameter {name!r}")
    for name, value in call.arguments.items():
        if spec is not None and name not in properties or name not in accepted_params:
            return _fail("unexpected_param", f"{call.name}: unexpected parameter {name!r}")
        accepted = list(accepted_params[name])
        prop = properties.get(name, {})
        result, value, is_variable = _check_type(name, value, prop, accepted) if prop else (OK, value, False)
        if not result:
            return result
        result = _check_value(name, value, prop, accepted, is_variable)
        if not result:
            return result
    for name, accepted in accepted_params.items():
        if name not in call.arguments and "" not in accepted:
            return _fail("missing_optional", f"{call.name}: parameter {name!r} left out but not optional")
    return OK


def check_calls(calls: Sequence[ToolCall], expected: Sequence[PossibleCall],
                specs: Mapping[str, Mapping[str, Any]] | None = None) -> CheckResult:
    """Check a reply's calls against all expected calls, matched in any order (each call used once)."""
    specs = specs or {}
    if len(calls) != len(expected):
        return _fail("wrong_count", f"{len(calls)} call(s), expected {len(expected)}")
    table = [[check_call(call, possible, specs.get(next(iter(possible))) if specs else None) for call in calls]
             for possible in expected]
    if len(expected) == 1:
        return table[0][0]
    # A full matching of expected calls to model calls (augmenting paths; the lists are tiny).
    owner: dict[int, int] = {}

    def assign(row: int, seen: set[int]) -> bool:
        for col in range(len(calls)):
            if table[row][col].valid and col not in seen:
                seen.add(col)
                if col not in owner or assign(owner[col], seen):
                    owner[col] = row
                    return True
        return False

    for row in range(len(expected)):
        if not assign(row, set()):
            reasons = "; ".join(sorted({r.message for r in table[row]}))
            name = next(iter(expected[row]))
            return _fail("no_match", f"expected call {row + 1} ({name}) matches no call: {reasons}")
    return OK


def first_accepted_call(possible: PossibleCall) -> ToolCall:
    """The call that uses the first accepted value of each parameter (optional-only parameters left out).

    Feeding this back through `check_calls` must pass: the tests use it on BFCL's ground truths.
    """
    ((name, params),) = possible.items()
    arguments = {}
    for param, accepted in params.items():
        value = next((v for v in accepted if v != ""), None)
        if value is None:
            continue
        arguments[param] = _first_accepted_value(value)
    return ToolCall(name, arguments)


def _first_accepted_value(value: Any) -> Any:
    if isinstance(value, dict):  # a dict in a possible answer lists accepted values per key
        out = {}
        for key, options in value.items():
            options = options if isinstance(options, list) else [options]
            chosen = next((v for v in options if v != ""), None)
            if chosen is not None:
                out[key] = chosen
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_first_accepted_value(v) for v in value]
    return value
