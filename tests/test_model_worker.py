"""The app's model worker process: same answers as in-process, and a llama.cpp crash is an error, never silence."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from agent.backends.base import BackendError, GenerationParams, Usage
from agent.backends.worker import describe_exit
from agent.messages import Message

pytestmark = pytest.mark.model
GREEDY = GenerationParams(max_tokens=24, temperature=0.0, seed=0)
PROMPT = [Message("system", "You are terse."), Message("user", "Name three colours.")]
LONG = GenerationParams(max_tokens=400, temperature=0.7, seed=1, repetition_guard=False)


@pytest.fixture(scope="module")
def worker():
    pytest.importorskip("llama_cpp")
    from agent.backends.load import start_worker

    w = start_worker("smollm2-135m", n_ctx=2048)
    yield w
    w.close()


def test_exit_codes_are_described_in_words():
    assert describe_exit(-signal.SIGSEGV) == "segmentation fault (SIGSEGV)"
    assert describe_exit(-signal.SIGKILL).startswith("killed")
    assert describe_exit(3) == "exited with code 3"


def test_the_worker_answers_like_the_model_in_this_process(worker, embedded_llm):
    *chunks, usage = worker.stream(PROMPT, GREEDY)
    *local, _ = embedded_llm.stream(PROMPT, GREEDY)
    assert isinstance(usage, Usage) and usage.prompt_tokens > 5
    assert "".join(chunks) == "".join(local)
    assert worker.count_tokens(PROMPT) == embedded_llm.count_tokens(PROMPT)
    assert worker.context_length == 2048 and worker.alive


def test_a_reader_that_stops_early_leaves_the_worker_ready_for_the_next_call(worker):
    stream = worker.stream(PROMPT, LONG)
    next(stream)
    stream.close()  # Stop or New chat in the app
    *chunks, usage = worker.stream(PROMPT, GREEDY)
    assert "".join(chunks).strip() and isinstance(usage, Usage)


def test_a_crash_of_the_model_process_ends_the_call_with_an_error_that_names_it(caplog):
    from agent.backends.load import start_worker

    doomed = start_worker("smollm2-135m", n_ctx=1024)
    stream = doomed.stream(PROMPT, LONG)
    next(stream)
    with caplog.at_level(logging.ERROR, logger="agent.backends.worker"):
        os.kill(doomed.pid, signal.SIGSEGV)
        with pytest.raises(BackendError, match=r"crashed: segmentation fault \(SIGSEGV\)"):
            for _ in stream:
                pass
    assert not doomed.alive
    assert any("died: segmentation fault" in r.getMessage() for r in caplog.records)
    with pytest.raises(BackendError, match="not running"):
        list(doomed.stream(PROMPT, GREEDY))


def test_the_app_loads_a_crashed_model_again_for_the_next_question():
    from ui.model_manager import CatalogueSource, ModelManager

    manager = ModelManager(CatalogueSource(isolate=True), max_loaded=1)
    first = manager.get("smollm2-135m")
    os.kill(first.pid, signal.SIGSEGV)
    with pytest.raises(BackendError):
        list(first.stream(PROMPT, GREEDY))
    assert not manager.is_loaded("smollm2-135m")
    second = manager.get("smollm2-135m")
    assert second is not first and second.pid != first.pid
    *chunks, _ = second.stream(PROMPT, GREEDY)
    assert "".join(chunks).strip()
    second.close()
