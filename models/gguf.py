"""Read a GGUF file's header and check it before llama.cpp sees it.

llama-cpp-python 0.3.36 logs an error and then segfaults on the first generation when `lora_path` is missing or invalid,
so every model and adapter file is checked here first: it exists, is GGUF, is not truncated, is the right kind
(model vs LoRA adapter), and an adapter's tensors fit its base model.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"

# value type id -> struct format for scalars
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9



def _block_sizes() -> dict[int, tuple[int, int]]:
    """ggml tensor type id -> (elements per block, bytes per block), from the `gguf` package (every type llama.cpp
    knows, IQ/TQ/MXFP4 included), for the size check of tensor data.

    Only the table comes from `gguf`: its `GGUFReader` builds Python objects for every element of the tokenizer's
    arrays and took 7 s for SmolLM2's header here (this reader: about 0.2 s), paid on each model load.
    """
    from gguf import GGML_QUANT_SIZES

    return {int(kind): sizes for kind, sizes in GGML_QUANT_SIZES.items()}


_GGML_BLOCKS = _block_sizes()


class ModelFileError(ValueError):
    """A model or adapter file that must not be handed to llama.cpp; the message says why and what to do."""


@dataclass
class GGUFInfo:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, tuple[tuple[int, ...], int]] = field(repr=False)  # name -> (shape, ggml type)
    file_size: int = 0
    data_end: int = 0  # the byte offset where the last tensor's data should end

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def is_adapter(self) -> bool:
        return self.metadata.get("general.type") == "adapter"

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path):
        self.handle, self.path = handle, path

    def read(self, n: int) -> bytes:
        data = self.handle.read(n)
        if len(data) != n:
            raise ModelFileError(f"{self.path}: file is truncated (header ends early); download it again")
        return data

    def scalar(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.scalar("<Q")
        if length > 1 << 26:
            raise ModelFileError(f"{self.path}: corrupt GGUF header (string of {length} bytes)")
        return self.read(length).decode("utf-8", errors="replace")

    def value(self, type_id: int, keep_arrays: bool) -> Any:
        if type_id in _SCALARS:
            return self.scalar(_SCALARS[type_id])
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            if count > 1 << 28:
                raise ModelFileError(f"{self.path}: corrupt GGUF header (array of {count} items)")
            if item_type in _SCALARS and not keep_arrays:  # skip big numeric arrays without decoding them
                self.read(struct.calcsize(_SCALARS[item_type]) * count)
                return None
            items = [self.value(item_type, keep_arrays) for _ in range(count)]
            return items if keep_arrays else None
        raise ModelFileError(f"{self.path}: corrupt GGUF header (unknown value type {type_id})")


def read_gguf(path: str | os.PathLike, keep_arrays: bool = False) -> GGUFInfo:
    """Parse a GGUF header (metadata and tensor table); raises `ModelFileError` with a clear message.

    A header is parsed once per file version (path, size, modification time): the app asks whether each catalogue
    model is available on every page load and every turn, and parsing a tokenizer's 49k strings takes ~0.2 s.
    Treat the result as read-only; it is shared.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: file not found")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    stat = path.stat()
    return _read_gguf(path, stat.st_size, stat.st_mtime_ns, keep_arrays)


@lru_cache(maxsize=32)
def _read_gguf(path: Path, size: int, mtime_ns: int, keep_arrays: bool) -> GGUFInfo:
    with path.open("rb") as handle:
        reader = _Reader(handle, path)
        magic = handle.read(4)
        if magic != GGUF_MAGIC:
            raise ModelFileError(f"{path}: not a GGUF file (starts with {magic!r}); llama.cpp needs a .gguf model")
        version = reader.scalar("<I")
        if version not in (2, 3):
            raise ModelFileError(f"{path}: unsupported GGUF version {version}")
        n_tensors, n_kv = reader.scalar("<Q"), reader.scalar("<Q")
        if n_tensors > 1 << 20 or n_kv > 1 << 20:
            raise ModelFileError(f"{path}: corrupt GGUF header ({n_tensors} tensors, {n_kv} keys)")
        metadata = {}
        for _ in range(n_kv):
            key = reader.string()
            metadata[key] = reader.value(reader.scalar("<I"), keep_arrays)
        tensors, ends = {}, []
        for _ in range(n_tensors):
            name = reader.string()
            n_dims = reader.scalar("<I")
            if n_dims > 8:
                raise ModelFileError(f"{path}: corrupt tensor table ({name} has {n_dims} dims)")
            shape = tuple(reader.scalar("<Q") for _ in range(n_dims))
            ggml_type, offset = reader.scalar("<I"), reader.scalar("<Q")
            tensors[name] = (shape, ggml_type)
            if ggml_type in _GGML_BLOCKS:
                block, block_bytes = _GGML_BLOCKS[ggml_type]
                elements = 1
                for dim in shape:
                    elements *= dim
                ends.append(offset + elements // block * block_bytes)
        alignment = int(metadata.get("general.alignment") or 32)
        data_start = -(-handle.tell() // alignment) * alignment
    data_end = data_start + max(ends, default=0)
    return GGUFInfo(path, version, metadata, tensors, size, data_end)


def check_model_file(path: str | os.PathLike) -> GGUFInfo:
    """A complete GGUF model (not an adapter), or `ModelFileError`."""
    info = read_gguf(path)
    if info.is_adapter:
        raise ModelFileError(f"{path}: this is a LoRA adapter, not a model; give it as the adapter of a base model")
    _check_complete(info)
    return info


def check_lora_file(path: str | os.PathLike, base: GGUFInfo | str | os.PathLike) -> GGUFInfo:
    """A complete GGUF LoRA adapter whose tensors fit `base`, or `ModelFileError`."""
    base_info = base if isinstance(base, GGUFInfo) else read_gguf(base)
    info = read_gguf(path)
    if not info.is_adapter or info.metadata.get("adapter.type") != "lora":
        raise ModelFileError(f"{path}: not a GGUF LoRA adapter (general.type={info.metadata.get('general.type')!r}); "
                             "convert a PEFT adapter with `python -m training.export`")
    _check_complete(info)
    if info.architecture != base_info.architecture:
        raise ModelFileError(f"{path}: adapter is for a {info.architecture!r} model but the base is "
                             f"{base_info.architecture!r}")
    for name, (shape, _) in info.tensors.items():
        target, _, part = name.rpartition(".lora_")
        if part not in ("a", "b"):
            continue
        if target not in base_info.tensors:
            raise ModelFileError(f"{path}: adapter tensor {name} has no matching base tensor; wrong base model?")
        base_shape = base_info.tensors[target][0]
        if len(shape) < 2 or len(base_shape) < 2:
            continue
        expected = base_shape[0] if part == "a" else base_shape[1]
        actual = shape[0] if part == "a" else shape[1]
        if expected != actual:
            raise ModelFileError(f"{path}: adapter tensor {name} {shape} does not fit base tensor {target} "
                                 f"{base_shape}; the adapter was trained for another base model")
    return info


def _check_complete(info: GGUFInfo) -> None:
    if info.data_end > info.file_size:
        raise ModelFileError(f"{info.path}: file is truncated ({info.file_size} bytes, tensor data needs "
                             f"{info.data_end}); download or export it again")
