"""Reliability: secrets (HF_TOKEN, the judge's and OpenAI-compatible servers' API keys) never appear in logs, errors or
the UI. Fake secret values are set in the environment; the running app, the command line and the agent are driven
through their failure paths; everything they print, log or show is searched for the values.

Run: python -m pytest tests/test_reliability_secrets.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent import __main__ as cli
from agent.backends.base import BackendError
from agent.events import AgentError, FinalAnswer, event_to_dict
from agent.loop import Agent
from fakes.app_process import running_app
from fakes.models import SCRIPTED, ScriptedLLM
from fakes.services import FORECAST_PATH, ToolServer

SECRETS = {
    "HF_TOKEN": "hf_FAKEtokenFORtests0123456789abcdef",
    "JUDGE_API_KEY": "sk-judge-FAKE-0123456789-abcdefghij",
    "OPENAI_API_KEY": "sk-openai-FAKE-9876543210-zyxwvutsrq",
}


def assert_no_secret(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        for piece in (value, value[-16:]):  # the whole value, or a recognisable tail of it
            assert piece not in text, f"{name} appears in {where}"


@pytest.fixture
def secrets_in_env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def _direct_connections(monkeypatch):
    """The fake servers are on 127.0.0.1: a proxy from the environment must not stand in between."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class EchoingAuthServer:
    """An OpenAI-compatible endpoint that refuses every request and, like some proxies, echoes the key back."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"error": {"message": f"Incorrect API key: {self.headers.get('Authorization')}",
                                             "type": "invalid_request_error"}}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def echoing_server():
    server = EchoingAuthServer()
    yield server
    server.close()


def test_the_agent_redacts_a_secret_that_a_backend_error_carries(secrets_in_env):
    class FailingLLM(ScriptedLLM):
        def stream(self, messages, params):
            raise BackendError(f"server said: bad key Bearer {SECRETS['OPENAI_API_KEY']} for {SECRETS['HF_TOKEN']}")
            yield  # a generator, like every backend

    events = list(Agent(FailingLLM(), [], mode="chat", today=dt.date(2026, 11, 21)).run("Hi"))
    (error,) = [e for e in events if isinstance(e, AgentError)]
    assert error.message == "server said: bad key Bearer [redacted] for [redacted]"
    assert isinstance(events[-1], FinalAnswer) and "[redacted]" in events[-1].text
    assert_no_secret(json.dumps([event_to_dict(e) for e in events], default=str), "the agent's events")


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_the_command_line_never_prints_a_key_an_openai_compatible_server_echoes(
        secrets_in_env, echoing_server, capsys, as_json):
    assert cli.main(["Hi", "--base-url", echoing_server.url, "--server-model", "m"] + (["--json"] * as_json)) == 0
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.out + captured.err, "the failure itself is still reported"
    assert_no_secret(captured.out + captured.err, "the command line's output")


def test_the_chat_ui_never_shows_a_secret_from_a_failed_turn(secrets_in_env, echoing_server):
    from agent.backends.openai_http import OpenAICompatibleLLM
    from tests.test_ui_model_manager import FakeSource
    from ui import chat
    from ui.model_manager import ModelManager

    class RemoteSource(FakeSource):
        def load(self, name):
            return OpenAICompatibleLLM(echoing_server.url, "m", name=name)

    manager = ModelManager(RemoteSource(names=["remote"]))
    conv = chat.Conversation(model="remote")
    list(chat.run_turn(manager, [], conv, "Hi", "chat", chat.agent_settings()))
    assert "HTTP 401" in conv.last_error
    assert_no_secret(json.dumps(conv.display) + conv.last_error + conv.last_answer, "the chat")


@pytest.fixture(scope="module")
def app_with_secrets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secret-app")
    with ToolServer() as tools:
        env = {**tools.env(), **SECRETS, "APP_MODEL_SOURCE": "fakes.models:ScriptedSource",
               "APP_DEFAULT_MODEL": SCRIPTED, "APP_PRELOAD": "0", "TOOLS_CACHE_DIR": str(tmp / "http-cache"),
               "TOOLS_TIMEOUT_S": "1", "HF_HUB_OFFLINE": "1"}
        with running_app(env, tmp / "app.log") as running:
            yield running, tools


def test_the_running_app_never_logs_or_shows_a_secret_on_its_success_and_failure_paths(app_with_secrets):
    from gradio_client import Client

    app, tools = app_with_secrets
    client = Client(app.url, verbose=False)
    shown = [
        client.predict("What's the weather in Oslo?", "weather", SCRIPTED, api_name="/chat"),  # a tool turn
        client.predict("Hello", "chat", SCRIPTED, api_name="/chat"),
        client.predict("Hello", "chat", "llama-3.2-1b", api_name="/chat"),  # a Hub model: cannot download offline
        client.predict("Hello", "chat", "smollm2-135m-funccall", api_name="/chat"),  # an adapter not built
        client.predict("Hello", "bogus-mode", SCRIPTED, api_name="/chat"),
    ]
    tools.fault(FORECAST_PATH, "status", status=500)
    shown.append(client.predict("What's the weather in Paris?", "weather", SCRIPTED, api_name="/chat"))
    assert "kept failing" in shown[-1] and shown[2].startswith("Could not load")
    for path in ("", "config", "gradio_api/info"):
        with urllib.request.urlopen(app.url + path, timeout=10) as response:
            shown.append(response.read().decode("utf-8", "replace"))
    assert_no_secret("\n".join(shown), "what the app shows")
    assert_no_secret(app.log_tail(1_000_000), "the app's log")


def test_a_model_that_fails_to_load_with_a_secret_in_its_error_is_reported_without_it(secrets_in_env):
    from tests.test_ui_model_manager import FakeSource
    from ui import chat
    from ui.model_manager import ModelManager

    class LeakySource(FakeSource):
        def load(self, name):
            raise RuntimeError(f"401 Unauthorized for token {SECRETS['HF_TOKEN']}")

    manager = ModelManager(LeakySource(names=["gated"]))
    status = [s for _, s in chat.switch_model(manager, chat.Conversation(model="gated"), "gated")][-1]
    conv = chat.Conversation(model="gated")
    list(chat.run_turn(manager, [], conv, "Hi", "chat", chat.agent_settings()))
    assert "401 Unauthorized for token [redacted]" in status and "[redacted]" in conv.last_error
    assert_no_secret(status + json.dumps(conv.display) + conv.last_error, "the chat")


def test_the_apps_log_hides_secrets_even_inside_a_traceback(secrets_in_env):
    import io
    import logging

    import app

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(app.RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("reliability-secrets-test")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"bad key {SECRETS['JUDGE_API_KEY']}")
        except RuntimeError:
            logger.exception("turn failed for %s", SECRETS["OPENAI_API_KEY"])
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError: bad key [redacted]" in text
    assert_no_secret(text, "a logged traceback")
