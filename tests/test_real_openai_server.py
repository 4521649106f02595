"""The OpenAI-compatible backend against a real server: llama-cpp-python's own (`server` extra), on 127.0.0.1.

The server is started through `python -m agent.backends.llama_server` (llama-cpp-python's server with this project's
safe model loading) serving the embedded GGUF, alone and with the fine-tuned adapter; the agent talks to it through
its command line, `python -m agent --base-url ...`, with the tools pointed at the local fake Open-Meteo server.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fakes.app_process import REPO_ROOT, free_port

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("llama_cpp", "sse_starlette")),
                       reason="needs llama-cpp-python with its server extra"),
]


def start_server(tmp_path_factory, lora: str | None = None):
    from models.catalogue import load_catalogue, resolve

    model = resolve("smollm2-135m", load_catalogue()).model_path
    port = free_port()
    command = [sys.executable, "-m", "agent.backends.llama_server", "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "4096"]
    if lora:
        command += ["--lora_path", str(REPO_ROOT / lora)]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the server did not answer within 120 s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)
    return process, url


def stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def base_server(tmp_path_factory):
    process, url = start_server(tmp_path_factory)
    yield url
    stop(process)


@pytest.fixture(scope="module")
def adapter_server(tmp_path_factory):
    process, url = start_server(tmp_path_factory, lora="models/adapters/smollm2-135m-funccall.gguf")
    yield url
    stop(process)


def run_agent(*args: str, env: dict[str, str] | None = None) -> list[dict]:
    import os

    done = subprocess.run([sys.executable, "-m", "agent", *args, "--json", "--temperature", "0", "--seed", "0"],
                          cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_a_no_tool_turn_through_the_server_answers_and_never_reports_zero_tokens(base_server):
    events = run_agent("Write a haiku about autumn.", "--mode", "chat", "--base-url", base_server,
                       "--max-tokens", "40")
    final = events[-1]
    assert final["type"] == "final_answer" and final["text"].strip()
    assert "".join(e["text"] for e in events if e["type"] == "token").strip() == final["text"].strip()
    stats = final["stats"]
    # llama-cpp-python's server sends no usage in a stream: the counts are unknown, and said to be.
    assert stats["token_counts_known"] is False or stats["prompt_tokens"] > 0


def test_the_cli_says_when_the_server_reports_no_token_usage(base_server):
    done = subprocess.run([sys.executable, "-m", "agent", "Say hi.", "--mode", "chat", "--base-url", base_server,
                           "--max-tokens", "8", "--temperature", "0"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "tokens unknown" in done.stderr and "prompt 0 tok" not in done.stderr


def test_the_fine_tuned_adapter_behind_the_server_calls_the_weather_tool_with_the_trained_prompt(
        adapter_server, tool_server):
    tool_server.reset()
    events = run_agent("What's the weather in Oslo?", "--mode", "weather", "--base-url", adapter_server,
                       "--model", "smollm2-135m-funccall", "--max-tokens", "80",
                       env={**tool_server.env(), "TOOLS_CACHE_TTL_S": "0"})
    first = next(e for e in events if e["type"] == "llm_call_finished")
    assert first["text"].lstrip().startswith("[get_current_weather(")
    finished = [e for e in events if e["type"] == "tool_call_finished"]
    assert finished and finished[0]["tool"] == "get_current_weather" and finished[0]["ok"], events
    assert finished[0]["arguments"]["location"] == "Oslo"
    assert any(path.endswith("/v1/search") and query.get("name") == "Oslo" for path, query, _ in tool_server.requests)
    assert events[-1]["type"] == "final_answer" and events[-1]["text"].strip()


def test_a_chat_endpoint_that_refuses_the_ipython_role_gets_the_tool_role_and_a_notice(adapter_server):
    from agent.backends.base import GenerationParams
    from agent.backends.openai_http import OpenAICompatibleLLM
    from agent.messages import Message, tool_result_message

    llm = OpenAICompatibleLLM(adapter_server, "default", api_key="")
    messages = [Message("user", "What's the weather in Oslo?"),
                Message("assistant", '[get_current_weather(location="Oslo")]'),
                tool_result_message({"location": "Oslo", "temperature_c": -3.2})]
    *chunks, usage = llm.stream(messages, GenerationParams(max_tokens=16, temperature=0.0))
    assert llm.tool_role == "tool" and any("ipython" in n for n in llm.notices)
    assert usage.finish_reason in ("stop", "length")


def test_the_server_honours_the_grammar_so_a_reply_that_must_not_call_does_not(adapter_server):
    import math

    from agent.backends.base import GenerationParams
    from agent.backends.load import prompt_renderer
    from agent.backends.openai_http import OpenAICompatibleLLM
    from agent.messages import Message

    llm = OpenAICompatibleLLM(adapter_server, "default", api_key="",
                              prompt_renderer=prompt_renderer("smollm2-135m-funccall"))
    assert llm.grammar_supported()
    system = Message("system", Path(REPO_ROOT / "prompts/personas/weather.txt").read_text())
    *chunks, _ = llm.stream([system, Message("user", "What's the weather in Oslo?")],
                            GenerationParams(max_tokens=24, temperature=0.0, call_threshold=math.inf))
    assert chunks and not "".join(chunks).lstrip().startswith("[")
