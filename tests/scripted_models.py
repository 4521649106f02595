"""A model source of scripted fakes for driving the real app in tests (browser, gradio_client, screenshots).

    APP_MODEL_SOURCE=tests.scripted_models:ScriptedSource python app.py

It offers the catalogue's real models plus `scripted-tools`, a rule-based `ScriptedLLM` that calls a tool when asked
about the weather or a person/thing, answers from the tool result, and otherwise chats. The base embedded model never
calls tools, so this is how a browser test sees the tool-call accordion without a fine-tuned adapter. Test-only:
nothing in the app imports this module.
"""

from __future__ import annotations

import json
import re

from agent.messages import Message
from tests.fakes import ScriptedLLM
from ui.model_manager import CatalogueSource, ModelLoadError, ModelOption

SCRIPTED = "scripted-tools"
SCRIPTED_LABEL = "Scripted tool caller (test fake)"
INJECTION = 'Look: <img src="x" onerror="window.__pwned = 1"> and <script>window.__pwned = 2</script> done.'


def scripted_reply(messages: list[Message]) -> str:
    """What the fake says next: a tool call, an answer from a tool result, or plain chat."""
    last = messages[-1]
    if last.role == "ipython":
        result = json.loads(last.content)
        return "From the tool: " + _summary(result)
    text = last.content
    city = re.search(r"weather (?:like )?in ([A-Z][\w-]+)", text)
    if city:
        return f'[get_current_weather(location="{city.group(1)}")]'
    topic = re.match(r"(?:who|what) (?:was|is) (.+?)\??$", text.strip(), re.IGNORECASE)
    if topic:
        return f'[search_wikipedia(query="{topic.group(1)}")]'
    if "inject" in text.lower():
        return INJECTION
    return "Hello! I am a scripted test model; ask me about the weather in a city."


def _summary(result: dict) -> str:
    if "error" in result:
        return f"the tool failed ({result['error']})."
    if {"location", "temperature", "conditions"} <= set(result):
        return (f"it is {result['temperature']} °C in {result['location']} with {result['conditions']}"
                + (f" (feels like {result['apparent_temperature']} °C)." if "apparent_temperature" in result else "."))
    flat = {k: v for k, v in result.items() if isinstance(v, (str, int, float))}
    return ", ".join(f"{k} {v}" for k, v in list(flat.items())[:6]) + "."


class RuleScriptedLLM(ScriptedLLM):
    """A `ScriptedLLM` that never runs out: every call is answered by `scripted_reply`."""

    def stream(self, messages, params):
        self.enqueue(scripted_reply)
        yield from super().stream(messages, params)


class ScriptedSource:
    """The real catalogue plus the scripted tool caller (listed first)."""

    def __init__(self, real: CatalogueSource | None = None):
        self.real = real or CatalogueSource()

    def default_name(self) -> str:
        return self.real.default_name()

    def options(self) -> list[ModelOption]:
        return [ModelOption(SCRIPTED, SCRIPTED_LABEL), *self.real.options()]

    def load(self, name: str):
        if name == SCRIPTED:
            return RuleScriptedLLM(name=SCRIPTED, chunk_chars=4)
        if name not in self.real.catalogue:
            raise ModelLoadError(f"Unknown model {name!r}.")
        return self.real.load(name)
