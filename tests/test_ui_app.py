"""How the app is put together: lazy imports, settings from flags and environment, the model-source hook, the layout."""

import subprocess
import sys

import pytest

import app
from fakes.models import ScriptedSource
from tests.test_ui_model_manager import FakeSource
from ui.config import AppConfig, parse_config
from ui.model_manager import CatalogueSource, ModelManager


def test_importing_the_app_loads_neither_gradio_nor_llama_cpp_nor_a_model():
    code = ("import sys, app; heavy = {'gradio', 'llama_cpp', 'torch'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=app.__file__.rsplit("/", 1)[0])


def test_settings_come_from_flags_over_environment_over_defaults():
    assert parse_config([], environ={}) == AppConfig()
    env = {"APP_MAX_LOADED_MODELS": "3", "APP_PRELOAD": "0", "APP_DEFAULT_MODEL": "llama-3.2-1b"}
    config = parse_config(["--max-loaded-models", "4"], environ=env)
    assert config.max_loaded_models == 4 and config.preload is False and config.default_model == "llama-3.2-1b"


def test_a_bad_setting_in_the_environment_names_the_variable():
    with pytest.raises(SystemExit, match="APP_PRELOAD"):
        parse_config([], environ={"APP_PRELOAD": "maybe"})


def test_the_model_source_is_the_catalogue_unless_another_is_named():
    assert isinstance(app.make_source(AppConfig()), CatalogueSource)
    assert isinstance(app.make_source(AppConfig(model_source="fakes.models:ScriptedSource")), ScriptedSource)
    with pytest.raises(SystemExit, match="module:attribute"):
        app.make_source(AppConfig(model_source="fakes.models"))


def test_the_layout_has_chat_and_compare_tabs_settings_and_a_named_chat_endpoint():
    pytest.importorskip("gradio")
    from ui.gradio_app import build_app

    demo = build_app(ModelManager(FakeSource()), [], AppConfig())
    config = demo.get_config_file()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Mode", "Model", "Conversation", "Left model", "Right model", "Settings", "Temperature",
            "Max new tokens per LLM call", "Max LLM calls per turn"} <= labels
    public = [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"]
    assert public == ["chat"], "only the chat endpoint is public; the UI's own events stay private"
