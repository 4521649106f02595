"""Evaluation cases for the agent's first LLM call (the tool decision), from BFCL files or our generated split.

An `EvalCase` is a prompt (messages ending with a user message), the functions the model may call, and the expected
outcome: a list of possible answers (one per expected call, BFCL's format) or an empty list when no call is wanted.

- BFCL v4 (`BFCL_v4_<category>.json` + `possible_answer/...`): the system prompt is Meta's zero-shot function-calling
  prompt with the entry's functions (`agent.prompts.system_prompt`). Categories: simple (file `simple_python`),
  multiple, parallel, irrelevance (no possible answers: any call is wrong).
- The generated split (`training/dataset/generate.py` writes JSONL samples
  `{"id", "category", "split", "mode", "messages"}` whose last message is the assistant target): the prompt is the
  sample's own messages without the target; only samples whose prompt ends with a user message are first calls. A
  target call `[f(a=1)]` becomes the possible answer `{"f": {"a": [1]}}`; a parameter with a default in the tool's
  spec may also be left out or given its default (as `training.dataset.generate.grade_reply` allows); a prose target
  means "no call".
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.format import ToolCall, ToolCallParseError, format_tool_calls, parse_tool_calls
from agent.messages import Message
from agent.prompts import MODES, system_prompt

REPO_ROOT = Path(__file__).resolve().parent.parent
BFCL_CATEGORIES = {"simple": "simple_python", "multiple": "multiple", "parallel": "parallel",
                   "irrelevance": "irrelevance"}
GENERATED = "generated"


@dataclass
class EvalCase:
    """One prompt of the first-call evaluation and what a correct reply does."""

    id: str
    category: str  # e.g. "bfcl:simple", "gen:weather_current"
    source: str  # "bfcl" | "generated"
    messages: list[Message]
    functions: list[dict[str, Any]]
    expected: list[dict[str, dict[str, list[Any]]]] = field(default_factory=list)  # [] = no call wanted
    target: str | None = None  # the reference reply, when there is one

    @property
    def should_call(self) -> bool:
        return bool(self.expected)

    @property
    def specs(self) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.functions}

    @property
    def expected_names(self) -> list[str]:
        return sorted(next(iter(p)) for p in self.expected)

    def expected_text(self) -> str:
        """The expected reply in pythonic syntax (first accepted value per parameter), or "(no call)"."""
        if not self.expected:
            return "(no call)"
        from evaluation.ast_checker import first_accepted_call

        return format_tool_calls(first_accepted_call(p) for p in self.expected)


# ---------------------------------------------------------------------------------------------------------- BFCL

def default_bfcl_dir() -> Path:
    """`BFCL_DIR` if set, else `data/bfcl` in the repository if present, else `../shared/bfcl` beside it."""
    if os.environ.get("BFCL_DIR"):
        return Path(os.environ["BFCL_DIR"])
    vendored = REPO_ROOT / "data" / "bfcl"
    return vendored if vendored.is_dir() else REPO_ROOT.parent / "shared" / "bfcl"


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return rows


def _bfcl_file(folder: Path, stem: str, answers: bool) -> Path:
    name = f"BFCL_v4_{stem}.json"
    for candidate in ((folder / f"possible_answer_{name}", folder / "possible_answer" / name) if answers
                      else (folder / name,)):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no BFCL file {'possible_answer ' if answers else ''}{name} under {folder}; "
                            "set --bfcl-dir or BFCL_DIR to the folder holding the BFCL v4 JSON-lines files")


def load_bfcl(category: str, folder: str | os.PathLike | None = None) -> list[EvalCase]:
    """The cases of one BFCL category ("simple", "multiple", "parallel" or "irrelevance")."""
    if category not in BFCL_CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; choose from {', '.join(BFCL_CATEGORIES)}")
    folder = Path(folder) if folder else default_bfcl_dir()
    stem = BFCL_CATEGORIES[category]
    questions = read_jsonl(_bfcl_file(folder, stem, answers=False))
    answers = {}
    if category != "irrelevance":
        answers = {row["id"]: row["ground_truth"] for row in read_jsonl(_bfcl_file(folder, stem, answers=True))}
    cases = []
    for row in questions:
        turn = row["question"][0]  # single-turn categories: one list of messages
        functions = row["function"] if isinstance(row["function"], list) else [row["function"]]
        own_system = "\n\n".join(m["content"] for m in turn if m["role"] == "system")
        messages = [Message("system", system_prompt(functions, persona=own_system or None))]
        messages += [Message(m["role"], m["content"]) for m in turn if m["role"] != "system"]
        if category != "irrelevance" and row["id"] not in answers:
            raise ValueError(f"BFCL {category}: no possible answer for {row['id']}")
        cases.append(EvalCase(row["id"], f"bfcl:{category}", "bfcl", messages, functions,
                              answers.get(row["id"], [])))
    return cases


# ------------------------------------------------------------------------------------------------ generated split

def default_split_path() -> Path:
    """`FUNCCALL_TEST_SPLIT` if set, else the test split `python -m training.dataset` writes by default
    (`$TRAINING_OUTPUT_DIR/funccall/data/test.jsonl`, `runs/funccall/data/test.jsonl` without it)."""
    if os.environ.get("FUNCCALL_TEST_SPLIT"):
        return Path(os.environ["FUNCCALL_TEST_SPLIT"])
    return Path(os.environ.get("TRAINING_OUTPUT_DIR") or "runs") / "funccall" / "data" / "test.jsonl"


def functions_in_prompt(text: str) -> list[dict[str, Any]]:
    """The function specs printed as a JSON list in a system prompt (Meta's zero-shot prompt prints them so)."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and value and all(isinstance(f, dict) and "name" in f for f in value):
            return value
        start = text.find("[", start + 1)
    return []


def _tool_specs(names: Iterable[str]) -> list[dict[str, Any]]:
    """Specs of our own tools by name, when the prompt does not print them (imports the tools lazily)."""
    try:
        from tools import get_tools

        return [t.spec for t in get_tools(list(names))]
    except Exception:  # a tool module missing or failing to import: check values without types
        return []


def possible_answer_of(calls: Sequence[ToolCall], functions: Sequence[dict[str, Any]] = ()
                       ) -> list[dict[str, dict[str, list[Any]]]]:
    """A reference reply's calls as a possible answer: these values; a parameter with a default in its spec may also
    be left out (`""`) or given its default."""
    specs = {f["name"]: f for f in functions}
    answers = []
    for call in calls:
        properties = (specs.get(call.name, {}).get("parameters") or {}).get("properties") or {}
        accepted: dict[str, list[Any]] = {k: [v] for k, v in call.arguments.items()}
        for name, prop in properties.items():
            if "default" not in prop:
                continue
            value = call.arguments.get(name, prop["default"])
            if value == prop["default"]:
                accepted[name] = [value, ""]
        answers.append({call.name: accepted})
    return answers


def sample_to_case(sample: dict[str, Any]) -> EvalCase | None:
    """A generated sample as a first-call case, or None when its prompt does not end with a user message."""
    messages = [Message(m["role"], m["content"]) for m in sample["messages"]]
    if len(messages) < 2 or messages[-1].role != "assistant" or messages[-2].role != "user":
        return None
    prompt, target = messages[:-1], messages[-1].content
    try:
        calls = parse_tool_calls(target)
    except ToolCallParseError as exc:
        raise ValueError(f"sample {sample.get('id')}: the target is a malformed call ({exc.reason})") from None
    system = next((m.content for m in prompt if m.role == "system"), "")
    functions = functions_in_prompt(system)
    if not functions and calls:
        functions = _tool_specs({c.name for c in calls})
    category = sample.get("category") or sample.get("mode") or "all"
    return EvalCase(str(sample.get("id")), f"gen:{category}", GENERATED, prompt, functions,
                    possible_answer_of(calls, functions), target)


def load_generated(path: str | os.PathLike | None = None, split: str | None = "test") -> list[EvalCase]:
    """First-call cases of a generated split file (samples of other splits are skipped when `split` is given)."""
    path = Path(path) if path else default_split_path()
    if not path.exists():
        raise FileNotFoundError(f"no generated split at {path}; build it with `python -m training.dataset` "
                                "or point --split-file (or FUNCCALL_TEST_SPLIT) at its test.jsonl")
    cases = []
    for sample in read_jsonl(path):
        if split and sample.get("split", split) != split:
            continue
        case = sample_to_case(sample)
        if case is not None:
            cases.append(case)
    return cases


def limit_cases(cases: Sequence[EvalCase], limit: int | None, seed: int = 0) -> list[EvalCase]:
    """At most `limit` cases per category: a seeded random subset, kept in file order."""
    if not limit:
        return list(cases)
    by_category: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        by_category.setdefault(case.category, []).append(index)
    keep = set()
    for category, indices in by_category.items():
        chosen = indices if len(indices) <= limit else random.Random(f"{seed}:{category}").sample(indices, limit)
        keep.update(chosen)
    return [case for index, case in enumerate(cases) if index in keep]


# ------------------------------------------------------------------------------------------------ decision classes

NO_CALL, MALFORMED, OTHER = "no call", "malformed", "other"


def tool_groups() -> dict[str, str]:
    """Tool name -> the single-purpose mode it belongs to (weather, wiki): the decision classes of our agent."""
    groups = {}
    for mode in MODES.values():
        if mode.name != "all":
            for name in mode.tool_names:
                groups.setdefault(name, mode.name)
    return groups


def decision_class(calls: Sequence[ToolCall] | None) -> str:
    """What a reply decided: "no call", "weather", "wiki", "other" (a mix or an unknown tool), or "malformed" (None)."""
    if calls is None:
        return MALFORMED
    if not calls:
        return NO_CALL
    groups = {tool_groups().get(call.name, OTHER) for call in calls}
    return groups.pop() if len(groups) == 1 else OTHER


def decision_classes() -> list[str]:
    return [NO_CALL, *sorted(set(tool_groups().values())), OTHER, MALFORMED]
