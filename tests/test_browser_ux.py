"""The app as a person uses it, in a real headless Chromium (issue 14): nothing typed is lost, the page says what is
busy and which model wrote what, stats match the chat, tool errors show, and the Compare tab streams both sides.

The app runs this module's `UxSource`: two scripted fakes that write slowly enough to act on mid-answer, a "base" that
never calls a tool and a "fine-tuned" one that does, each reporting a call probability as the llama.cpp backend does.
The tools are the real ones, pointed at the local tool server.

Run: python -m pytest -m browser tests/test_browser_ux.py -q
Screenshots of the same views: python -m tests.ui_screenshots --out docs/assets/ui
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from agent.backends.base import Usage
from fakes.app_process import CHROMIUM, chromium, running_app
from fakes.models import ScriptedLLM
from fakes.services import ToolServer
from ui.gradio_app import menu_label
from ui.model_manager import ModelLoadError, ModelOption

BASE, TUNED = "smollm2-fake", "smollm2-fake-funccall"  # the app knows a fine-tune by "-funccall"
DOWNLOADED, DOWNLOADED_LABEL = "downloaded-fake", "Hub model (test fake, 6 s download)"
# The catalogue's own labels: the layout has to fit what users see.
BASE_LABEL = "SmolLM2-135M-Instruct Q4_1 (embedded, base)"
TUNED_LABEL = "SmolLM2-135M-Instruct + FuncCall LoRA (fine-tuned)"
TUNED_MENU = menu_label(TUNED_LABEL)  # "SmolLM2-135M + FuncCall LoRA (fine-tuned)"
STORY = " ".join(f"Sentence {i} of a long story." for i in range(1, 16))
THREE_CALLS = ('[get_current_weather(location="Oslo"), get_current_weather(location="Atlantis"), '
               'get_current_weather(place="Oslo")]')

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: apt-get install -y chromium"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="needs playwright: pip install playwright"),
]


def fake_reply(messages, calls_tools: bool) -> str:
    last = messages[-1]
    if last.role == "ipython":
        return "From the tool: " + last.content[:60].replace("{", "").replace("}", "")
    text = last.content
    if "story" in text:
        return STORY
    if "count" in text:
        return f"I was sent {len(messages) - 2} earlier messages."
    if "three calls" in text and calls_tools:
        return THREE_CALLS
    if "weather in Oslo" in text:
        return '[get_current_weather(location="Oslo")]' if calls_tools else "It is sunny in Oslo, 25 °C."
    return f"You said: {text}"


class SlowFake(ScriptedLLM):
    """Writes 4 characters every 40 ms (a story takes about 5 s) and reports P(call) on each turn's first call.

    It decides as the llama.cpp decoder does: under a call threshold (tool eagerness) it calls iff its P(call) reaches
    the threshold; without one, as its habit says (the fine-tune calls, the base does not).
    """

    def __init__(self, name: str, calls_tools: bool):
        super().__init__(name=name, chunk_chars=4)
        self.calls_tools = calls_tools
        self.p_call = 0.97 if calls_tools else 0.02

    def stream(self, messages, params):
        threshold = params.call_threshold
        calls = self.calls_tools if threshold is None else self.p_call >= threshold
        self.enqueue(lambda prompt: fake_reply(prompt, calls))
        first_call = messages[-1].role == "user"
        for chunk in super().stream(messages, params):
            if isinstance(chunk, Usage):
                if first_call:
                    chunk.call_probability = self.p_call
                yield chunk
            else:
                time.sleep(0.04)
                yield chunk


class UxSource:
    def default_name(self) -> str:
        return BASE

    def options(self) -> list[ModelOption]:
        return [ModelOption(BASE, BASE_LABEL), ModelOption(TUNED, TUNED_LABEL),
                ModelOption(DOWNLOADED, DOWNLOADED_LABEL, state="download")]

    def load(self, name: str):
        if name == DOWNLOADED:  # a download's progress bar, as huggingface_hub draws it (tqdm)
            from tqdm.auto import tqdm

            for _ in tqdm(range(60), desc="Downloading model.gguf", unit="MB"):
                time.sleep(0.1)
        elif name not in (BASE, TUNED):
            raise ModelLoadError(f"Unknown model {name!r}.")
        return SlowFake(name, calls_tools=name == TUNED)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-ux")
    with ToolServer() as tools:
        env = {**tools.env(), "APP_MODEL_SOURCE": "tests.test_browser_ux:UxSource", "APP_DEFAULT_MODEL": BASE,
               "TOOLS_CACHE_DIR": str(tmp / "http-cache"), "HF_HUB_OFFLINE": "1"}
        with running_app(env, tmp / "app.log") as running:
            yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(app, browser):
    """A fresh browser session (its own conversation) per test."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app.url)
    page.wait_for_selector("#message textarea")
    page.wait_for_function("document.querySelector('#model-status').innerText.includes('answers in this chat')")
    yield page
    page.close()


ANSWERS = "#chatbot [data-testid='bot'] > .message-content"
TITLES = "#chatbot .thought-group .title"
USER = "#chatbot [data-testid='user']"


def chat_mode(page) -> None:
    page.locator("#mode label", has_text="General chatbot").click()


def send(page, text: str) -> None:
    box = page.locator("#message textarea")
    box.fill(text)
    box.press("Enter")


def stats_titles(page, where: str = "#chatbot"):
    return page.locator(f"{where} .thought-group .title", has_text="📊")


def wait_until(condition, timeout_s: float = 90, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s:.0f} s"
        time.sleep(0.05)


def wait_idle(page, answers: int) -> None:
    wait_until(lambda: stats_titles(page).count() >= answers, what=f"{answers} answers with stats")
    busy = page.locator("#busy")
    wait_until(lambda: not busy.count() or busy.inner_text().strip() == "", what="the busy line clearing")


def pick_model(page, label: str) -> None:
    page.locator("#model input").click()
    page.locator("[data-testid='dropdown-option']:visible", has_text=label).first.click()


def test_a_message_sent_while_an_answer_streams_is_shown_at_once_and_answered_after_it(page):
    chat_mode(page)
    send(page, "Tell me a story")
    page.locator(ANSWERS, has_text="Sentence 1").wait_for()
    send(page, "And a second question")
    page.locator(USER, has_text="And a second question").wait_for(timeout=5_000)
    assert page.locator("#message textarea").input_value() == "", "the box empties: the message was taken"
    assert stats_titles(page).count() == 0, "the story was still being written when the second message was sent"
    wait_idle(page, 2)
    answers = [a.inner_text() for a in page.locator(ANSWERS).all()]
    assert answers == [STORY, "You said: And a second question"], "both answered, in the order sent"
    users = [u.inner_text().strip() for u in page.locator(USER).all()]
    assert users == ["Tell me a story", "And a second question"]


def test_new_chat_mid_answer_stops_it_and_the_chat_stays_empty(page):
    chat_mode(page)
    send(page, "Tell me a story")
    page.locator(ANSWERS, has_text="Sentence 1").wait_for()
    page.locator("#new-chat").click()
    time.sleep(1.5)  # the story would have gone on for seconds
    assert page.locator("#chatbot [data-testid='bot']").count() == 0
    assert page.locator(USER).count() == 0
    assert page.locator("#busy").inner_text().strip() == ""
    send(page, "Hello after the reset")
    wait_idle(page, 1)
    assert [u.inner_text().strip() for u in page.locator(USER).all()] == ["Hello after the reset"]


def test_stop_ends_the_answer_and_puts_a_queued_message_back_in_the_box(page):
    chat_mode(page)
    send(page, "Tell me a story")
    page.locator(ANSWERS, has_text="Sentence 1").wait_for()
    send(page, "Queued question")
    page.locator(USER, has_text="Queued question").wait_for(timeout=5_000)
    page.locator("#stop").click()
    page.locator(ANSWERS, has_text="Stopped.").wait_for(timeout=10_000)
    story = page.locator(ANSWERS).first.inner_text()
    time.sleep(1.0)
    assert page.locator(ANSWERS).first.inner_text() == story and "Sentence 15" not in story, "the story stopped"
    assert page.locator("#message textarea").input_value() == "Queued question"
    assert page.locator(USER).count() == 1 and page.locator("#busy").inner_text().strip() == ""
    page.locator("#send").click()
    wait_idle(page, 1)
    assert page.locator(ANSWERS).last.inner_text() == "You said: Queued question"


def test_the_busy_line_shows_what_the_model_does_and_goes_when_it_is_done(page):
    status = page.locator("#model-status").inner_text()
    assert BASE_LABEL in status and "base model" in status, status
    assert page.locator("#busy").inner_text().strip() == ""
    send(page, "Tell me a story")
    wait_until(lambda: "is writing" in page.locator("#busy").inner_text(), what="the busy line")
    assert BASE_LABEL in page.locator("#busy").inner_text()
    wait_idle(page, 1)
    assert page.locator("#busy").inner_text().strip() == ""
    assert f"{BASE_LABEL} is loaded" in page.locator("#model-status").inner_text()


def test_each_answer_names_its_model_and_a_switch_starts_a_marked_fresh_context(page):
    chat_mode(page)
    send(page, "Hello")
    wait_idle(page, 1)
    assert stats_titles(page).last.inner_text().startswith(f"📊 {BASE_LABEL} · 1 LLM call")
    pick_model(page, TUNED_MENU)
    page.locator("#chatbot", has_text=f"Switched to {TUNED_LABEL}").wait_for()
    # The menu's label is a separate update of the same event: on a busy machine it lands a moment later.
    wait_until(lambda: "loaded" in page.locator("#model input").input_value(), what="the menu marking the model loaded")
    send(page, "Please count")
    wait_idle(page, 2)
    assert stats_titles(page).last.inner_text().startswith(f"📊 {TUNED_LABEL} · 1 LLM call")
    assert page.locator(ANSWERS).last.inner_text() == "I was sent 0 earlier messages."


def test_loading_a_model_shows_its_download_progress_and_the_menu_marks_it_loaded(page):
    pick_model(page, DOWNLOADED_LABEL)
    page.get_by_text("Downloading model.gguf").first.wait_for(timeout=6_000)
    page.wait_for_function("document.querySelector('#model-status').innerText.includes('✅')")
    assert page.locator("#model input").input_value() == f"{DOWNLOADED_LABEL} · loaded"


def test_stats_count_the_tool_calls_shown_and_a_tool_error_is_readable_without_opening_it(page):
    pick_model(page, TUNED_MENU)
    page.wait_for_function("document.querySelector('#model-status').innerText.includes('✅')")
    send(page, "Make three calls: Oslo and Atlantis")
    wait_idle(page, 1)
    calls = page.locator(TITLES, has_text="get_current_weather")
    assert calls.count() == 3
    line = stats_titles(page).last.inner_text()
    assert "3 tool calls (1 failed, 1 refused)" in line and "first token –" not in line, line
    assert "calls a tool: 97%" in line
    stats_titles(page).last.click()
    headers = page.locator("#chatbot .thought-group:has(.title:has-text('📊')) th")
    headers.first.wait_for()
    assert [h.strip() for h in headers.all_inner_texts()] == ["measure", "this turn"], "a table with a clean header"
    failed = page.locator(TITLES, has_text="Atlantis")
    assert "failed" in failed.inner_text() and "Atlantis" in failed.locator("em").inner_text()
    red, green, blue = (int(v) for v in failed.locator("em").evaluate("e => getComputedStyle(e).color")
                        .removeprefix("rgb(").rstrip(")").split(",")[:3])
    assert red > 150 and green < 120 and blue < 120, "the reason is painted red"
    assert failed.locator("xpath=..").locator(".content").count() == 0 or \
        not failed.locator("xpath=..").locator(".content").is_visible(), "the accordion stays closed"


def open_compare(page, width: int):
    page.set_viewport_size({"width": width, "height": 1000})
    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-run").wait_for()


def test_compare_streams_both_sides_at_once_and_gives_each_a_verdict_and_the_call_probability(page):
    open_compare(page, 1280)
    page.locator("#cmp-prompt textarea").fill("Tell me a story")
    page.locator("#cmp-run").click()
    left = page.locator("#cmp-left-chat [data-testid='bot']", has_text="Sentence")
    right = page.locator("#cmp-right-chat [data-testid='bot']", has_text="Sentence")
    wait_until(lambda: left.count() and right.count(), what="both panes showing text")
    assert stats_titles(page, "#cmp-left-chat").count() == stats_titles(page, "#cmp-right-chat").count() == 0, \
        "both panes showed text before either finished"
    wait_until(lambda: "answered" in page.locator("#cmp-left-verdict").inner_text()
               and "answered" in page.locator("#cmp-right-verdict").inner_text(), what="both sides finishing")
    assert "s ·" in page.locator("#cmp-right-verdict").inner_text(), "each verdict has its time"
    page.locator("#cmp-prompt textarea").fill("What's the weather in Oslo?")
    page.locator("#cmp-run").click()
    wait_until(lambda: "called get_current_weather" in page.locator("#cmp-right-verdict").inner_text()
               and "answered" in page.locator("#cmp-right-verdict").inner_text(), what="the right verdict")
    left_verdict = page.locator("#cmp-left-verdict").inner_text()
    right_verdict = page.locator("#cmp-right-verdict").inner_text()
    assert left_verdict.startswith(BASE_LABEL) and "no tool call" in left_verdict
    assert "without live data" in left_verdict
    assert right_verdict.startswith(TUNED_LABEL) and "called get_current_weather" in right_verdict
    assert "✅ answered" in right_verdict
    assert page.locator("#cmp-summary").inner_text().endswith("base 2% · fine-tuned 97%")


CLIPPED = """sel => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null).map(e => ({
    text: (e.value || e.innerText || '').trim(), scroll: e.scrollWidth, client: e.clientWidth,
    height: e.getBoundingClientRect().height, right: e.getBoundingClientRect().right}))"""


@pytest.mark.parametrize("width", [1280, 390])
def test_compare_labels_are_whole_at_desktop_and_phone_widths(page, width):
    open_compare(page, width)
    page.locator("#cmp-right input").click()
    page.locator("[data-testid='dropdown-option']:visible", has_text=TUNED_MENU).first.click()
    fields = page.evaluate(CLIPPED, "#cmp-left input, #cmp-right input, #cmp-mode label, #cmp-left label, "
                                    "#cmp-right label")
    assert fields, "nothing measured"
    for field in fields:
        assert field["scroll"] <= field["client"] + 1, f"cut off at {width} px: {field}"
        assert field["right"] <= width, f"off screen at {width} px: {field}"
    options = [f for f in page.evaluate(CLIPPED, "#cmp-mode label") if f["text"]]
    heights = {round(f["height"]) for f in options}
    assert max(heights) - min(heights) <= 2, f"a mode option wraps to a second line at {width} px: {options}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


def set_eagerness(page, value: float) -> None:
    page.locator("#eagerness input[type='range']").fill(str(value))
    wait_until(lambda: float(page.locator("#eagerness input[type='number']").input_value()) == value,
               what=f"the eagerness slider showing {value}")


def test_tool_eagerness_0_never_calls_a_tool_1_always_calls_and_reset_returns_to_the_default(page):
    slider = page.locator("#eagerness input[type='number']")
    assert float(slider.input_value()) == 0.5, "the base fake has no fitted threshold: the slider shows 0.5"
    tool_cards = page.locator(TITLES, has_text="get_current_weather")
    no_live_data = page.locator(ANSWERS, has_text="No live data")
    set_eagerness(page, 1)
    send(page, "What's the weather in Oslo?")
    wait_idle(page, 1)
    assert tool_cards.count() == 1, "eagerness 1: even the base model, which never calls by itself, calls the tool"
    assert no_live_data.count() == 0
    assert page.locator(ANSWERS).last.inner_text().startswith("From the tool")
    set_eagerness(page, 0)
    send(page, "What's the weather in Oslo?")
    wait_idle(page, 2)
    assert tool_cards.count() == 1, "eagerness 0: no tool call"
    assert no_live_data.count() == 1, "an answer without a call in weather mode is marked"
    page.locator("#eagerness-reset").click()
    wait_until(lambda: float(slider.input_value()) == 0.5, what="the reset returning the slider to 0.5")
