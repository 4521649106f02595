"""Reliability: many users at once against the running app. 20 simulated users x 5 turns each, from threads, through
gradio_client's `/chat` endpoint on loopback, with a fast scripted model that calls the real weather tool (against the
local tool server). Every answer must carry the token of the user and turn that asked, with no error; the latency
percentiles are printed, not asserted.

The app runs this module's `PerUserSource` (APP_MODEL_SOURCE=tests.test_reliability_concurrency:PerUserSource), so
importing the module must stay cheap: no fixtures run, no model loads.

Run: python -m pytest tests/test_reliability_concurrency.py -q -s
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.backends.base import Usage
from agent.messages import Message, render_llama3
from fakes.app_process import running_app
from fakes.models import fake_tokenize
from fakes.openmeteo import find_place
from fakes.services import ToolServer
from ui.model_manager import ModelLoadError, ModelOption

MODEL = "per-user"
USERS, TURNS = 20, 5
CITIES = ("Oslo", "Paris", "London", "Tokyo", "Sydney", "Cairo", "New York")
TOKEN = re.compile(r"user-\d+/turn-\d+")


def per_user_reply(messages: list[Message]) -> str:
    """Echo the asker's token: a weather call when asked about a city, then an answer from the tool's result."""
    last_user = next(m for m in reversed(messages) if m.role == "user")
    token = TOKEN.search(last_user.content).group(0)
    if messages[-1].role == "ipython":
        result = json.loads(messages[-1].content)
        if "error" in result:
            return f"{token}: tool error {result['error']}"
        return f"{token}: {result['location']} {result['temperature']}"
    city = re.search(r"weather in ([A-Z][\w ]+?)\?", last_user.content)
    if city:
        return f'[get_current_weather(location="{city.group(1)}")]'
    return f"{token}: hello"


class PerUserLLM:
    """A fast fake model that generates one reply at a time under its lock, as llama.cpp does."""

    context_length = 8192

    def __init__(self, name: str = MODEL):
        self.name = name
        self.lock = threading.Lock()

    def count_tokens(self, messages) -> int:
        return len(fake_tokenize(render_llama3(messages)))

    def stream(self, messages, params):
        with self.lock:
            text = per_user_reply(list(messages))
            for i in range(0, len(text), 4):
                time.sleep(0.001)  # a little time per chunk, so turns overlap
                yield text[i:i + 4]
        yield Usage(prompt_tokens=self.count_tokens(messages), completion_tokens=len(fake_tokenize(text)))


class PerUserSource:
    """The one model this app offers: `per-user`."""

    def default_name(self) -> str:
        return MODEL

    def options(self) -> list[ModelOption]:
        return [ModelOption(MODEL, "Per-user echo (test fake)")]

    def load(self, name: str):
        if name != MODEL:
            raise ModelLoadError(f"Unknown model {name!r}.")
        return PerUserLLM()


def question(user: int, turn: int) -> tuple[str, str]:
    """(what user `user` asks in turn `turn`, the exact answer they must get)."""
    token = f"user-{user:02d}/turn-{turn}"
    if (user + turn) % 2:
        return f"{token}: say hello", f"{token}: hello"
    place = find_place(CITIES[(user + turn) % len(CITIES)])
    location = ", ".join([place.name] + [p for p in (place.admin1, place.country) if p and p != place.name])
    return f"{token}: what's the weather in {place.name}?", f"{token}: {location} {place.weather.temperature}"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("concurrent-app")
    with ToolServer() as tools:
        env = {**tools.env(), "APP_MODEL_SOURCE": "tests.test_reliability_concurrency:PerUserSource",
               "APP_DEFAULT_MODEL": MODEL, "APP_PRELOAD": "1", "APP_CONCURRENCY": "4",
               "TOOLS_CACHE_DIR": str(tmp / "http-cache"), "HF_HUB_OFFLINE": "1"}
        with running_app(env, tmp / "app.log") as running:
            yield running


def test_twenty_users_times_five_turns_each_get_their_own_answers_without_errors(app):
    from gradio_client import Client

    answers: dict[tuple[int, int], str] = {}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def user(number: int) -> None:
        client = Client(app.url, verbose=False)
        for turn in range(TURNS):
            text, _ = question(number, turn)
            started = time.perf_counter()
            try:
                answer = client.predict(text, "weather", MODEL, api_name="/chat")
            except Exception as exc:  # collected, so one failure does not hide the others
                with lock:
                    failures.append(f"user {number} turn {turn}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)
                answers[(number, turn)] = answer

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        list(pool.map(user, range(USERS)))
    wall = time.perf_counter() - started

    assert failures == [], failures[:5]
    wrong = {key: (answer, question(*key)[1]) for key, answer in answers.items() if answer != question(*key)[1]}
    assert wrong == {}, list(wrong.items())[:5]
    assert len(answers) == USERS * TURNS
    log = app.log_tail(200_000)
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]

    ordered = sorted(latencies)
    p50, p95 = statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]
    print(f"\n{USERS} users x {TURNS} turns = {len(ordered)} answers in {wall:.1f} s through /chat "
          f"(APP_CONCURRENCY=4, scripted model, half the turns call the weather tool): "
          f"latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")
