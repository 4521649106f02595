"""Which models the app offers, and the few it keeps loaded (a small LRU), for the chat UI.

A `ModelSource` lists the choices and loads one by name; the production source is the model catalogue
(`models/catalogue.toml`), tests inject a source of scripted fakes so they never load a GGUF. `ModelManager` keeps up
to `max_loaded` models in memory, most recently used last, so switching back to a model is instant. Loading the same
model twice at once waits on one load; a failed load raises `ModelLoadError` and changes nothing that was loaded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from agent.backends.base import LLM


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is for the user and says why."""


@dataclass(frozen=True)
class ModelOption:
    """One entry of the model dropdown."""

    name: str
    label: str
    state: str = "ready"  # ready: on disk | download: fetched from the Hub on first use | missing: cannot load now
    note: str = ""

    @property
    def display_label(self) -> str:
        if self.state == "download":
            return f"{self.label} · downloads on first use"
        if self.state == "missing":
            return f"{self.label} · unavailable{': ' + self.note if self.note else ''}"
        return self.label


class ModelSource(Protocol):
    def options(self) -> list[ModelOption]:
        """The models to offer, in display order."""
        ...

    def default_name(self) -> str: ...

    def load(self, name: str) -> LLM:
        """Load a model by name; raises `ModelLoadError` with a message for the user."""
        ...


class CatalogueSource:
    """The models of `models/catalogue.toml`, each in its own worker process (`isolate`, the app's default) or
    in this one. In a worker, a llama.cpp crash ends the turn with an error and the model loads again next time."""

    def __init__(self, catalogue=None, isolate: bool = True):
        from models.catalogue import load_catalogue

        self.catalogue = catalogue or load_catalogue()
        self.isolate = isolate

    def default_name(self) -> str:
        from models.catalogue import default_model_name

        return default_model_name(self.catalogue)

    def options(self) -> list[ModelOption]:
        from models.catalogue import is_available

        options = []
        for entry in self.catalogue.values():
            if is_available(entry.name, self.catalogue):
                state, note = "ready", ""
            elif entry.source == "hub":
                state, note = "download", ""
            elif entry.is_adapter:
                state, note = "missing", "adapter not built yet"
            else:
                state, note = "missing", "file not found"
            options.append(ModelOption(entry.name, entry.label, state, note))
        return options

    def load(self, name: str) -> LLM:
        from agent.backends.base import BackendError
        from agent.backends.load import load_llm, start_worker
        from models.gguf import ModelFileError

        entry = self.catalogue.get(name)
        if entry is None:
            raise ModelLoadError(f"Unknown model {name!r}.")
        try:
            return (start_worker if self.isolate else load_llm)(name, self.catalogue)
        except ModelFileError as exc:
            # Only a missing adapter file is one to build; one that exists but does not fit needs another fix.
            missing_adapter = entry.is_adapter and str(exc).endswith("file not found") and \
                entry.lora.rsplit("/", 1)[-1] in str(exc)
            hint = " Build the adapter first (see models/adapters/README.md)." if missing_adapter else ""
            raise ModelLoadError(f"{exc}.{hint}") from None
        except (BackendError, ValueError, OSError) as exc:
            raise ModelLoadError(str(exc)) from None


class ModelManager:
    """Loaded models by name, least recently used first; at most `max_loaded` are kept."""

    def __init__(self, source: ModelSource, max_loaded: int = 2):
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1: the model in use has to stay loaded")
        self.source = source
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, LLM] = OrderedDict()
        self._guard = threading.Lock()  # guards _loaded and _load_locks, never held while a model loads
        self._load_locks: dict[str, threading.Lock] = {}
        self.load_seconds: dict[str, float] = {}

    # --------------------------------------------------------------------------------------------- what is offered
    def options(self) -> list[ModelOption]:
        return self.source.options()

    def default_name(self) -> str:
        return self.source.default_name()

    def label(self, name: str) -> str:
        return next((o.label for o in self.options() if o.name == name), name)

    # ---------------------------------------------------------------------------------------------- what is loaded
    def loaded_names(self) -> list[str]:
        """Loaded models, least recently used first."""
        with self._guard:
            return list(self._loaded)

    def is_loaded(self, name: str) -> bool:
        with self._guard:
            return name in self._loaded and getattr(self._loaded[name], "alive", True)

    def get(self, name: str) -> LLM:
        """The loaded model `name`, loading it first if needed (and evicting the least recently used)."""
        with self._guard:
            if name in self._loaded and not getattr(self._loaded[name], "alive", True):
                del self._loaded[name]  # its worker process died (and said so): load it again
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:  # a second user asking for the same model waits for this load instead of loading it twice
            with self._guard:
                if name in self._loaded:
                    self._loaded.move_to_end(name)
                    return self._loaded[name]
            start = time.perf_counter()
            try:
                llm = self.source.load(name)
            except ModelLoadError:
                raise
            except Exception as exc:  # a source that fails another way still must not take the app down
                raise ModelLoadError(f"{type(exc).__name__}: {exc}") from exc
            self.load_seconds[name] = time.perf_counter() - start
            with self._guard:
                self._loaded[name] = llm
                self._loaded.move_to_end(name)
                while len(self._loaded) > self.max_loaded:
                    # Only the reference is dropped, never closed: a turn still streaming from the evicted model
                    # keeps it alive until it ends, and then it is freed.
                    self._loaded.popitem(last=False)
            return llm
