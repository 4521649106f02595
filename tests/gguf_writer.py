"""Write tiny GGUF files for tests (adapters for the wrong base, truncated files...) with the `gguf` package's writer.

Written by `gguf.GGUFWriter`, not by the reader under test, so the two cannot misread the format the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, GGUFWriter


def write_gguf(path: Path, metadata: dict[str, str | int], tensors: dict[str, tuple[int, ...]],
               tensor_type: GGMLQuantizationType = GGMLQuantizationType.F32) -> Path:
    """A GGUF v3 file with string/uint32 metadata and zero-filled tensors of the given shapes and ggml type.

    Shapes are in GGUF order (innermost dimension first), as `models.gguf` reports them.
    """
    metadata = dict(metadata)
    writer = GGUFWriter(path, arch=str(metadata.pop("general.architecture", "")))
    if not writer.arch:  # the writer always writes general.architecture; a file without one keeps it empty
        writer.kv_data[0].pop("general.architecture", None)
    for key, value in metadata.items():
        kind = GGUFValueType.STRING if isinstance(value, str) else GGUFValueType.UINT32
        writer.add_key_value(key, value, kind)
    block, block_bytes = GGML_QUANT_SIZES[tensor_type]
    for name, shape in tensors.items():
        elements = int(np.prod(shape)) if shape else 1
        nbytes = elements // block * block_bytes
        # The writer takes a byte shape, outermost first (numpy order): the innermost dimension counted in bytes.
        byte_shape = (*reversed(shape[1:]), shape[0] // block * block_bytes) if shape else ()
        writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for shape in tensors.values():
        elements = int(np.prod(shape)) if shape else 1
        writer.write_tensor_data(np.zeros(elements // block * block_bytes, dtype=np.uint8))
    writer.close()
    return path


def lora_for(path: Path, base_tensors: dict[str, tuple[int, ...]], rank: int = 4, arch: str = "llama") -> Path:
    """A LoRA adapter file with a/b tensors for each 2-D base tensor given."""
    tensors = {}
    for name, (n_in, n_out) in base_tensors.items():
        tensors[f"{name}.lora_a"] = (n_in, rank)
        tensors[f"{name}.lora_b"] = (rank, n_out)
    meta = {"general.architecture": arch, "general.type": "adapter", "adapter.type": "lora"}
    return write_gguf(path, meta, tensors)
