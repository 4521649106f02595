"""System prompts: Meta's Llama 3.2 zero-shot function-calling prompt, a persona per mode, and today's date.

The prompt text lives in `prompts/` files rendered with jinja's StrictUndefined, so a missing variable fails loudly.
The date has no clock time, so the system prompt (and its KV-cache prefix) stays the same all day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True)
class Mode:
    """What the assistant is for: which tools it gets and which persona it speaks with."""

    name: str
    label: str
    tool_names: tuple[str, ...]
    persona_file: str


MODES: dict[str, Mode] = {
    "weather": Mode("weather", "Weather assistant", ("get_current_weather", "get_weather_forecast"), "weather.txt"),
    "wiki": Mode("wiki", "Wikipedia researcher", ("search_wikipedia",), "wiki.txt"),
    "chat": Mode("chat", "General chatbot", (), "chat.txt"),
    "all": Mode("all", "All tools", ("get_current_weather", "get_weather_forecast", "search_wikipedia"), "all.txt"),
}


def get_mode(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown mode {name!r}; choose one of {', '.join(MODES)}") from None


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPTS_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render_prompt(name: str, **variables: Any) -> str:
    """Render a prompt template from `prompts/` (StrictUndefined: every variable must be given)."""
    return _env().get_template(name).render(**variables).rstrip("\n")


@cache
def read_prompt_file(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8").strip()


def format_date(day: dt.date) -> str:
    """`21 November 2026`: the date style of Meta's Llama prompts."""
    return f"{day.day} {day:%B %Y}"


def tools_json(specs: Sequence[dict[str, Any]]) -> str:
    """The function list exactly as Meta's docs print it (4-space indented JSON)."""
    return json.dumps(list(specs), indent=4, ensure_ascii=False)


def icl_examples(tool_names: Sequence[str]) -> str:
    """Few-shot examples for the tools available (the in-context-learning baseline)."""
    lines = []
    for line in (PROMPTS_DIR / "icl_examples.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        example = json.loads(line)
        if example["tool"] is None or example["tool"] in tool_names:
            lines.append(f"User: {example['user']}\nAssistant: {example['assistant']}")
    return "\n".join(lines)


def system_prompt(
    specs: Sequence[dict[str, Any]],
    persona: str | None = None,
    today: dt.date | str | None = None,
    icl: bool = False,
) -> str:
    """Build the system prompt. With tools: Meta's zero-shot function-calling prompt; without: the persona alone."""
    if isinstance(today, dt.date):
        today = format_date(today)
    if not specs:
        return render_prompt("chat.jinja", persona=persona or read_prompt_file("personas/chat.txt"), today=today)
    text = render_prompt("function_calling.jinja", persona=persona, today=today, tools_json=tools_json(specs))
    return with_examples(text, [s["name"] for s in specs]) if icl else text


def with_examples(system_text: str, tool_names: Sequence[str]) -> str:
    """A function-calling system prompt with the few-shot examples for these tools at its end (where
    `system_prompt(..., icl=True)` puts them); unchanged when no example fits the tools."""
    examples = icl_examples(tool_names)
    return f"{system_text}\n\n{render_prompt('icl_block.jinja', examples=examples)}" if examples else system_text


def mode_system_prompt(mode: str | Mode, specs: Sequence[dict[str, Any]], today: dt.date | None = None,
                       icl: bool = False) -> str:
    """The system prompt of a mode, with today's date (local calendar day) unless one is given."""
    mode = get_mode(mode) if isinstance(mode, str) else mode
    persona = read_prompt_file(f"personas/{mode.persona_file}")
    return system_prompt(specs, persona=persona, today=today or dt.date.today(), icl=icl)
