"""Checks training/dataset/data/other_tools.jsonl: invented everyday functions with question templates.

Each check is a function that returns a list of problems, so every test runs it twice: on the real file (no
problems) and on a deliberately broken copy written to a tmp file (at least one problem), which shows it can fail.
Pure Python, no model: `python -m pytest tests/test_other_tools_data.py -q`.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from agent.format import ToolCall, format_tool_calls, parse_tool_calls, validate_call

DATA = Path(__file__).resolve().parents[1] / "training" / "dataset" / "data" / "other_tools.jsonl"
PARAM_TYPES = {"string", "integer", "float", "boolean", "array"}
ITEM_TYPES = {"string", "integer", "float"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MIN_FUNCTIONS, MIN_GROUPS, MIN_ASKS, MIN_SLOT_VALUES = 44, 14, 3, 4


def load(path: Path) -> list[dict]:
    """One function per line; a line that is not a JSON object raises ValueError naming the line."""
    functions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"{path}:{number}: not a JSON object")
        functions.append(obj)
    return functions


def spec_of(function: dict) -> dict:
    """What the model is shown: name, description, parameters."""
    return {key: function[key] for key in ("name", "description", "parameters")}


def value_fits(value, kind: str, items: str | None = None) -> bool:
    """Strict JSON typing: bool is not an integer, an integer is not a float."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, float)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list) and bool(value) and all(value_fits(v, items or "") for v in value)
    return False


def fill(text: str, chosen: dict[str, str]) -> str:
    """Put each slot's user text into `{SLOT}`."""
    for slot, slot_text in chosen.items():
        text = text.replace("{" + slot + "}", slot_text)
    return text


# ------------------------------------------------------------------------------------------------------ checks

def check_structure(functions: list[dict]) -> list[str]:
    """Keys, unique names and ids, required parameters that exist, known parameter types."""
    problems = []
    names = Counter(f.get("name") for f in functions)
    problems += [f"duplicate name {name!r}" for name, n in names.items() if n > 1]
    ids = Counter(item.get("id") for f in functions for item in f.get("asks", []) + f.get("missing", []))
    problems += [f"duplicate id {i!r}" for i, n in ids.items() if n > 1]
    for f in functions:
        name = f.get("name")
        bad_keys = [key for key, kind in (("name", str), ("group", str), ("description", str), ("parameters", dict),
                                          ("slots", dict), ("asks", list), ("missing", list))
                    if not isinstance(f.get(key), kind)]
        if bad_keys:
            problems.append(f"{name}: {bad_keys} missing or of the wrong type")
            continue
        if f["group"] != f["group"].lower() or not f["description"].strip():
            problems.append(f"{name}: group must be lowercase and description non-empty")
        params = f["parameters"]
        props = params.get("properties", {})
        if params.get("type") != "dict" or not isinstance(props, dict):
            problems.append(f"{name}: parameters must be a dict schema with properties")
            continue
        problems += [f"{name}: required {p!r} not in properties" for p in params.get("required", []) if p not in props]
        for pname, prop in props.items():
            if prop.get("type") not in PARAM_TYPES or not prop.get("description"):
                problems.append(f"{name}.{pname}: type {prop.get('type')!r} or description missing")
            if prop.get("type") == "array" and prop.get("items", {}).get("type") not in ITEM_TYPES:
                problems.append(f"{name}.{pname}: array without a known items type")
        for item in f["asks"]:
            if not str(item.get("id", "")).startswith(f"{name}."):
                problems.append(f"{name}: ask id {item.get('id')!r} does not start with the name")
        for item in f["missing"]:
            lacks = item.get("lacks") or []
            if not str(item.get("id", "")).startswith(f"{name}.m"):
                problems.append(f"{name}: missing id {item.get('id')!r} does not start with {name}.m")
            if not lacks or any(p not in params.get("required", []) for p in lacks):
                problems.append(f"{name}: missing {item.get('id')} lacks {lacks} (must be required parameters)")
            if PLACEHOLDER.search(item.get("text", "")) or not item.get("text"):
                problems.append(f"{name}: missing {item.get('id')} text is empty or has a slot")
    return problems


def check_types(functions: list[dict]) -> list[str]:
    """Enum values are strings of the parameter's type; every slot value has the type of the parameter it fills."""
    problems = []
    for f in functions:
        props = f["parameters"]["properties"]
        for pname, prop in props.items():
            for value in prop.get("enum", []):
                if not isinstance(value, str) or not value_fits(value, prop["type"]):
                    problems.append(f"{f['name']}.{pname}: enum value {value!r} does not fit {prop['type']}")
        for slot, pairs in f["slots"].items():
            if len(pairs) < MIN_SLOT_VALUES:
                problems.append(f"{f['name']}: slot {slot} has {len(pairs)} values, want >= {MIN_SLOT_VALUES}")
            if any(not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)) for p in pairs):
                problems.append(f"{f['name']}: slot {slot} values must be [TEXT, VALUE] pairs")
        for ask in f["asks"]:
            for pname, slot in ask.get("call", {}).items():
                prop = props.get(pname)
                if prop is None:
                    continue  # check_asks reports unknown parameters
                for _text, value in f["slots"].get(slot, []):
                    if not value_fits(value, prop["type"], prop.get("items", {}).get("type")):
                        problems.append(f"{ask['id']}: slot {slot} value {value!r} is not {prop['type']}")
    return problems


def check_asks(functions: list[dict]) -> list[str]:
    """Fill every ask with every value of its slots: complete text, valid call, visible strings, round trip."""
    problems = []
    for f in functions:
        spec = spec_of(f)
        props = f["parameters"]["properties"]
        required = set(f["parameters"].get("required", []))
        for ask in f["asks"]:
            call_map = ask.get("call", {})
            used = set(PLACEHOLDER.findall(ask.get("text", "")))
            if used != set(call_map.values()):
                problems.append(f"{ask['id']}: slots in text {sorted(used)} != in call {sorted(call_map.values())}")
                continue
            if not required <= set(call_map):
                problems.append(f"{ask['id']}: call lacks required {sorted(required - set(call_map))}")
            unknown = [slot for slot in used if slot not in f["slots"]]
            if unknown:
                problems.append(f"{ask['id']}: undefined slots {unknown}")
                continue
            rounds = max((len(f["slots"][slot]) for slot in used), default=1)
            for i in range(rounds):  # round i takes value i of every slot (cycling), so every value is used
                chosen = {slot: f["slots"][slot][i % len(f["slots"][slot])] for slot in used}
                text = fill(ask["text"], {slot: pair[0] for slot, pair in chosen.items()})
                if PLACEHOLDER.search(text):
                    problems.append(f"{ask['id']}: leftover placeholder in {text!r}")
                args = {param: chosen[slot][1] for param, slot in call_map.items()}
                call = ToolCall(f["name"], args)
                errors = validate_call(call, {f["name"]: spec})
                problems += [f"{ask['id']}: {e.message}" for e in errors]
                for param, value in args.items():
                    prop = props.get(param, {})
                    if isinstance(value, str) and "enum" not in prop and value.lower() not in text.lower():
                        problems.append(f"{ask['id']}: {param}={value!r} not in the question {text!r}")
                try:
                    back = parse_tool_calls(format_tool_calls([call]))
                except ValueError as exc:
                    back = [f"unparsable: {exc}"]
                if back != [call]:
                    problems.append(f"{ask['id']}: {call} does not round-trip (got {back})")
    return problems


def check_counts(functions: list[dict]) -> list[str]:
    """Enough functions, domains, asks and missing-value questions; no weather or encyclopedia tools."""
    problems = []
    if len(functions) < MIN_FUNCTIONS:
        problems.append(f"{len(functions)} functions, want >= {MIN_FUNCTIONS}")
    groups = Counter(f["group"] for f in functions)
    if len(groups) < MIN_GROUPS:
        problems.append(f"{len(groups)} groups, want >= {MIN_GROUPS}")
    problems += [f"group {g} has {n} function(s), want >= 3 for near misses" for g, n in groups.items() if n < 3]
    for f in functions:
        if len(f["asks"]) < MIN_ASKS:
            problems.append(f"{f['name']}: {len(f['asks'])} asks, want >= {MIN_ASKS}")
        if not 1 <= len(f["missing"]) <= 2:
            problems.append(f"{f['name']}: {len(f['missing'])} missing-value questions, want 1-2")
        if re.search(r"weather|forecast|wiki", f["name"] + " " + f["group"], re.IGNORECASE):
            problems.append(f"{f['name']}: weather and encyclopedia tools belong to the project itself")
    return problems


CHECKS = [check_structure, check_types, check_asks, check_counts]


# ------------------------------------------------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def functions() -> list[dict]:
    return load(DATA)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_real_file_passes(functions, check):
    assert check(functions) == []


def test_every_line_parses_and_load_names_a_bad_line(tmp_path):
    lines = DATA.read_text(encoding="utf-8").splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines if line.strip())
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines[:3] + ['{"name": "oops",'] + lines[3:]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.jsonl:4"):
        load(broken)


def _by_name(functions: list[dict], name: str) -> dict:
    return next(f for f in functions if f["name"] == name)


def _break_duplicate_name(fs):
    fs.append(copy.deepcopy(fs[0]))


def _break_duplicate_ask_id(fs):
    fs[1]["asks"][1]["id"] = fs[1]["asks"][0]["id"]


def _break_required_not_in_properties(fs):
    fs[2]["parameters"]["required"].append("no_such_param")


def _break_enum_type(fs):
    _by_name(fs, "convert_currency")["parameters"]["properties"]["to_currency"]["enum"].append(3)


def _break_bool_for_integer(fs):
    _by_name(fs, "math.gcd")["slots"]["A"][0][1] = True


def _break_int_for_float(fs):
    _by_name(fs, "calculate_bmi")["slots"]["W"][2][1] = 58


def _break_too_few_values(fs):
    del _by_name(fs, "factorial")["slots"]["N"][1:]


def _break_leftover_placeholder(fs):
    _by_name(fs, "calculate_bmi")["asks"][0]["text"] += " {HEIGHT}"


def _break_call_lacks_required(fs):
    ask = _by_name(fs, "calculate_bmi")["asks"][0]
    ask["text"] = "What is the BMI of someone who weighs {W} kg?"
    del ask["call"]["height_m"]


def _break_string_not_in_text(fs):
    _by_name(fs, "sports.match_result")["slots"]["H"][3][1] = "Liverpool"


def _break_enum_value(fs):
    _by_name(fs, "convert_currency")["slots"]["DST"][0][1] = "yen"


def _break_round_trip(fs):
    _by_name(fs, "calculate_bmi")["slots"]["H"][1][1] = float("nan")


def _break_counts(fs):
    del fs[10:]


def _break_missing_lacks(fs):
    _by_name(fs, "calculate_bmi")["missing"][0]["lacks"] = ["colour"]


def _break_weather(fs):
    fs[4]["name"] = "get_weather_forecast"


BREAKS = [
    (_break_duplicate_name, check_structure),
    (_break_duplicate_ask_id, check_structure),
    (_break_required_not_in_properties, check_structure),
    (_break_missing_lacks, check_structure),
    (_break_enum_type, check_types),
    (_break_bool_for_integer, check_types),
    (_break_int_for_float, check_types),
    (_break_too_few_values, check_types),
    (_break_leftover_placeholder, check_asks),
    (_break_call_lacks_required, check_asks),
    (_break_string_not_in_text, check_asks),
    (_break_enum_value, check_asks),
    (_break_round_trip, check_asks),
    (_break_counts, check_counts),
    (_break_weather, check_counts),
]


@pytest.mark.parametrize(("breaker", "check"), BREAKS, ids=lambda x: x.__name__)
def test_check_fails_on_a_broken_copy(functions, tmp_path, breaker, check):
    broken = copy.deepcopy(functions)
    breaker(broken)
    path = tmp_path / "other_tools.jsonl"
    path.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in broken), encoding="utf-8")
    assert check(load(path)) != []


def test_near_misses_exist_within_groups(functions):
    """Each group offers distinct functions, so a question for one is a real near miss for the others."""
    by_group: dict[str, set[str]] = {}
    for f in functions:
        by_group.setdefault(f["group"], set()).add(f["name"])
    assert all(len(names) >= 3 for names in by_group.values())
    texts = Counter(ask["text"] for f in functions for ask in f["asks"])
    assert [t for t, n in texts.items() if n > 1] == []
