"""Write tiny GGUF files for tests (adapters for the wrong base, truncated files...) without llama.cpp."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, metadata: dict[str, str | int], tensors: dict[str, tuple[int, ...]]) -> Path:
    """A GGUF v3 file with string/uint32 metadata and f32 tensors of the given shapes (zeros)."""
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata.items():
        header += _string(key)
        if isinstance(value, str):
            header += struct.pack("<I", 8) + _string(value)
        else:
            header += struct.pack("<II", 4, value)
    offset, sizes = 0, []
    for name, shape in tensors.items():
        header += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        header += struct.pack("<IQ", 0, offset)
        size = 4
        for d in shape:
            size *= d
        sizes.append(size)
        offset += -(-size // 32) * 32
    header += b"\0" * (-len(header) % 32)
    path.write_bytes(header + b"\0" * offset)
    return path


def lora_for(path: Path, base_tensors: dict[str, tuple[int, ...]], rank: int = 4, arch: str = "llama") -> Path:
    """A LoRA adapter file with a/b tensors for each 2-D base tensor given."""
    tensors = {}
    for name, (n_in, n_out) in base_tensors.items():
        tensors[f"{name}.lora_a"] = (n_in, rank)
        tensors[f"{name}.lora_b"] = (rank, n_out)
    meta = {"general.architecture": arch, "general.type": "adapter", "adapter.type": "lora"}
    return write_gguf(path, meta, tensors)
