"""The app's named `chat` API endpoint, called with gradio_client against `python app.py` running in a subprocess
(a scripted tool-calling model, the tools pointed at the local tool server)."""

from __future__ import annotations

import pytest

from fakes.app_process import running_app
from fakes.models import SCRIPTED
from fakes.services import ToolServer


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client-app")
    with ToolServer() as tools:
        env = {**tools.env(), "APP_MODEL_SOURCE": "fakes.models:ScriptedSource", "APP_DEFAULT_MODEL": SCRIPTED,
               "APP_PRELOAD": "0", "TOOLS_CACHE_DIR": str(tmp / "http-cache"), "HF_HUB_OFFLINE": "1"}
        with running_app(env, tmp / "app.log") as running:
            yield running


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)


def test_the_chat_endpoint_answers_a_weather_question_through_the_tool(client):
    answer = client.predict("What's the weather in Oslo?", "weather", SCRIPTED, api_name="/chat")
    assert answer == "From the tool: it is -3.2 °C in Oslo, Norway with slight snowfall (feels like -7.9 °C)."


def test_the_chat_endpoint_uses_the_default_model_when_none_is_named(client):
    assert client.predict(message="Hello", mode="chat", api_name="/chat").startswith("Hello! I am a scripted")


def test_the_chat_endpoint_reports_bad_input_as_text(client):
    assert client.predict("Hello", "bogus", SCRIPTED, api_name="/chat").startswith("Unknown mode 'bogus'")
    assert client.predict("Hello", "chat", "no-such-model", api_name="/chat") == \
        "Could not load no-such-model: Unknown model 'no-such-model'."


def test_the_chat_endpoint_is_listed_in_the_api_description(client):
    info = client.view_api(print_info=False, return_format="dict")
    params = [p["parameter_name"] for p in info["named_endpoints"]["/chat"]["parameters"]]
    assert params == ["message", "mode", "model"]
