"""The Chat tab's tool-eagerness slider, driven through the app's real Gradio wiring with scripted models that decide
as the llama.cpp decoder does: it shows the picked model's fitted value, its value reaches the agent's settings (and
so the decoder's call threshold), and its reset returns to the fitted value.

The fitted thresholds come from a catalogue file of the test's own (`MODEL_CATALOGUE`), as `python -m evaluation
sweep` would write them.
"""

import math

import pytest

from fakes.models import RuleScriptedLLM
from ui import chat
from ui.config import AppConfig
from ui.model_manager import ModelManager, ModelOption

gr = pytest.importorskip("gradio")

TUNED, PLAIN = "tuned-fake", "plain-fake"  # a fitted call threshold of 0.3 (eagerness 0.7), and none
CATALOGUE = f"""
[[models]]
name = "{TUNED}"
label = "Tuned fake"
source = "local"
path = "none.gguf"
call_threshold = 0.3

[[models]]
name = "{PLAIN}"
label = "Plain fake"
source = "local"
path = "none.gguf"
"""
OSLO = "What's the weather in Oslo?"


class DecidingSource:
    """Both models as rule-scripted fakes that obey the call threshold (P(call) 0.9 for a call, 0.05 for prose)."""

    def __init__(self):
        self.models: dict[str, RuleScriptedLLM] = {}

    def default_name(self):
        return TUNED

    def options(self):
        return [ModelOption(TUNED, "Tuned fake"), ModelOption(PLAIN, "Plain fake")]

    def load(self, name):
        self.models[name] = RuleScriptedLLM(name=name, chunk_chars=8)
        return self.models[name]


@pytest.fixture
def app(tool_env, tmp_path, monkeypatch):
    from tools import get_tools
    from ui.gradio_app import build_app

    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("MODEL_CATALOGUE", str(catalogue))
    source = DecidingSource()
    demo = build_app(ModelManager(source), get_tools(), AppConfig())
    return demo, source


def handler(demo, name: str):
    """The function the app wires to an event, by its name (the layout's own code, not a copy of it)."""
    return next(f.fn for f in demo.fns.values() if f.name == name)


def slider_config(demo) -> dict:
    return next(c["props"] for c in demo.get_config_file()["components"] if c["props"].get("elem_id") == "eagerness")


def ask(demo, source, conv, eagerness: float, model: str = TUNED):
    """One weather turn through the app's `respond` handler with the slider at `eagerness`; returns the model's
    first decision (P(call), threshold, called) and the chat."""
    respond = handler(demo, "respond")
    conv.model = model
    before = len(source.models[model].decisions) if model in source.models else 0
    assert chat.queue_message(conv, OSLO)
    for _ in respond(conv, "weather", 0.0, 128, 2, False, eagerness):
        pass
    return source.models[model].decisions[before], conv.display


def tool_titles(display):
    return [m["metadata"]["title"] for m in display if "get_current_weather" in m.get("metadata", {}).get("title", "")]


def test_the_slider_opens_at_the_default_models_fitted_eagerness_with_its_explanation(app):
    demo, _ = app
    props = slider_config(demo)
    assert props["value"] == 0.7 and (props["minimum"], props["maximum"]) == (0, 1)
    assert props["label"] == "Tool eagerness" and "fitted for this model" in props["info"]


def test_the_sliders_value_reaches_the_agent_as_its_call_threshold(app):
    demo, source = app
    conv = chat.Conversation(model=TUNED)
    (_, threshold, called), display = ask(demo, source, conv, 0.0)
    assert threshold == math.inf and not called, "eagerness 0: the decoder may not open a call"
    assert not tool_titles(display) and "No live data" in display[-2]["content"]
    (_, threshold, called), display = ask(demo, source, conv, 1.0)
    assert threshold == 0.0 and called, "eagerness 1: every reply may call"
    assert len(tool_titles(display)) == 1
    (_, threshold, _), _ = ask(demo, source, conv, 0.95)
    assert threshold == pytest.approx(0.05)


def test_at_its_default_the_slider_leaves_the_exact_fitted_threshold_or_the_models_own_decision(app):
    demo, source = app
    conv = chat.Conversation(model=TUNED)
    (_, threshold, called), _ = ask(demo, source, conv, 0.7)
    assert threshold == 0.3 and called, "the catalogue's threshold, not one rounded to the slider's step"
    (_, threshold, called), _ = ask(demo, source, conv, 0.5, model=PLAIN)
    assert threshold is None and called, "no fitted threshold: the model decides by itself"


def test_picking_a_model_shows_its_fitted_value_and_reset_returns_to_it(app):
    demo, _ = app
    conv = chat.Conversation(model=TUNED)
    *_, last = handler(demo, "change_model")(PLAIN, conv)
    assert last[-1] == 0.5 and conv.model == PLAIN
    *_, last = handler(demo, "change_model")(TUNED, conv)
    assert last[-1] == 0.7
    reset = next(f.fn for f in demo.fns.values()
                 if [o.elem_id for o in f.outputs] == ["eagerness"] and f.name == "<lambda>")
    assert reset(conv) == 0.7
    conv.model = PLAIN
    assert reset(conv) == 0.5


@pytest.mark.model
def test_through_the_apps_model_worker_the_fine_tune_answers_without_a_call_at_0_and_calls_at_1(tool_env):
    """The app's production path: the catalogue's fine-tuned model in its worker process, the settings sent across."""
    pytest.importorskip("llama_cpp")
    from models.catalogue import is_available
    from tools import get_tools
    from ui.model_manager import CatalogueSource

    name = "smollm2-135m-funccall"
    if not is_available(name):
        pytest.skip(f"{name} is not built (models/adapters/README.md)")
    manager = ModelManager(CatalogueSource(isolate=True), max_loaded=1)
    try:
        assert type(manager.get(name)).__name__ == "ModelWorker"
        for eagerness, calls in ((0.0, False), (1.0, True)):
            conv = chat.Conversation(model=name)
            settings = chat.agent_settings(0.0, 96, 2, False, chat.turn_eagerness(name, eagerness))
            for _ in chat.run_turn(manager, get_tools(), conv, OSLO, "weather", settings):
                pass
            outcome = conv.last_outcome
            assert bool(outcome.tools) == calls, f"eagerness {eagerness}: tools {outcome.tools}, {conv.display}"
            assert outcome.without_live_data == (not calls) and outcome.answered
    finally:
        for loaded in manager.loaded_names():
            manager.get(loaded).close()
