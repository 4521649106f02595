"""Portability: llama.cpp's extra CPU buffer types are off exactly where they crash (AMX), and every load is checked."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from agent.backends import llama_loader
from agent.backends.llama_loader import cpu_flags, use_extra_buffer_types

REPO = Path(__file__).resolve().parent.parent
SAPPHIRE_RAPIDS = frozenset("fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8".split())
ZEN3 = frozenset("fpu sse avx2 fma bmi2".split())
needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 amx_int8\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_int8"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_extra_buffer_types_are_off_on_amx_cpus_and_on_elsewhere():
    assert use_extra_buffer_types(SAPPHIRE_RAPIDS, env={}) is False
    assert use_extra_buffer_types(frozenset({"avx2", "amx_tile"}), env={}) is False
    assert use_extra_buffer_types(ZEN3, env={}) is True
    assert use_extra_buffer_types(frozenset(), env={}) is True


def test_the_environment_can_force_the_choice_and_a_typo_is_refused():
    assert use_extra_buffer_types(SAPPHIRE_RAPIDS, env={"LLAMA_EXTRA_BUFTS": "on"}) is True
    assert use_extra_buffer_types(ZEN3, env={"LLAMA_EXTRA_BUFTS": "off"}) is False
    assert use_extra_buffer_types(SAPPHIRE_RAPIDS, env={"LLAMA_EXTRA_BUFTS": "auto"}) is False
    with pytest.raises(ValueError, match="on, off or auto"):
        use_extra_buffer_types(ZEN3, env={"LLAMA_EXTRA_BUFTS": "maybe"})


def test_no_module_constructs_a_llama_but_the_loader():
    """`llama_cpp.Llama(...)` anywhere else could load a model with the crashing setting (the guard below catches
    it in tests, but users would meet the crash first)."""
    offenders = []
    for path in REPO.rglob("*.py"):
        if any(part in {".git", "runs", "outputs", ".venv"} for part in path.parts):
            continue
        if path == REPO / "agent/backends/llama_loader.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "llama_cpp" and any(
                    alias.name == "Llama" for alias in node.names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} imports llama_cpp.Llama")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Llama":
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} calls .Llama(...)")
    assert not offenders, offenders


@needs_llama
@pytest.mark.model
def test_on_an_amx_cpu_the_model_loads_without_extra_buffer_types_and_answers_a_long_prompt(monkeypatch):
    from agent.backends.base import GenerationParams
    from agent.backends.load import load_llm
    from agent.messages import Message

    monkeypatch.setattr(llama_loader, "cpu_flags", lambda *a: SAPPHIRE_RAPIDS)
    llm = load_llm("smollm2-135m", n_ctx=512, ram_cache_mb=0)
    assert llm.llama.model_params.use_extra_bufts is False
    prompt = [Message("user", "Count from one to twenty in words, separated by commas, please.")]
    *chunks, usage = llm.stream(prompt, GenerationParams(max_tokens=8, temperature=0.0))
    assert usage.prompt_tokens >= 8 and "".join(chunks).strip()


@needs_llama
@pytest.mark.model
def test_without_amx_the_extra_buffer_types_stay_on(monkeypatch):
    from agent.backends.load import load_llm

    monkeypatch.setattr(llama_loader, "cpu_flags", lambda *a: ZEN3)
    monkeypatch.delenv("LLAMA_EXTRA_BUFTS", raising=False)
    assert load_llm("smollm2-135m", n_ctx=256, ram_cache_mb=0).llama.model_params.use_extra_bufts is True


@needs_llama
def test_the_session_guard_stops_a_load_with_the_crashing_setting(monkeypatch):
    """What tests/conftest.py installs for the whole run: a direct llama.cpp load that bypasses the loader on an AMX
    machine fails before llama.cpp runs anything."""
    import llama_cpp.llama_cpp as bindings

    from models.catalogue import load_catalogue, resolve
    from tests.llama_guard import CrashingModelLoad, guard_model_loads

    monkeypatch.setattr(llama_loader, "cpu_flags", lambda *a: SAPPHIRE_RAPIDS)
    path = str(resolve("smollm2-135m", load_catalogue()).model_path).encode()
    params = bindings.llama_model_default_params()
    params.use_extra_bufts = True  # what llama.cpp's own default is
    with guard_model_loads(), pytest.raises(CrashingModelLoad, match="AMX"):
        bindings.llama_model_load_from_file(path, params)
