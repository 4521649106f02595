"""The chat app: wires the model catalogue, the tools, the agent and the Gradio UI together.

Run it:   python app.py                      (http://127.0.0.1:7860)
          GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py
          python app.py --help               (settings; each also has an APP_* environment variable)

Nothing heavy happens at import time: models load on first use (the default one in the background at start).
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import threading
from collections.abc import Sequence

from ui.config import AppConfig, parse_config
from ui.model_manager import CatalogueSource, ModelLoadError, ModelManager, ModelSource

log = logging.getLogger("app")


def make_source(config: AppConfig) -> ModelSource:
    """The catalogue, or the source named by `--model-source module:attribute` (an object or a factory of one)."""
    if not config.model_source:
        return CatalogueSource()
    module_name, _, attribute = config.model_source.partition(":")
    if not attribute:
        raise SystemExit(f"--model-source {config.model_source!r}: expected module:attribute")
    source = getattr(importlib.import_module(module_name), attribute)
    return source() if isinstance(source, type) or not hasattr(source, "load") else source


def preload(manager: ModelManager, name: str) -> None:
    """Load the default model in the background so the first question does not wait for it."""

    def load():
        try:
            manager.get(name)
            log.info("loaded %s in %.1f s", name, manager.load_seconds.get(name, 0.0))
        except ModelLoadError as exc:
            log.warning("could not preload %s: %s", name, exc)
        from agent.gazetteer import prepare

        prepare()  # the city index for misspelt places (about 1 s), before the first question needs it

    threading.Thread(target=load, name=f"preload-{name}", daemon=True).start()


class RedactingFormatter(logging.Formatter):
    """Log lines, tracebacks included, with the values of secret environment variables (HF_TOKEN, ...) hidden."""

    def format(self, record: logging.LogRecord) -> str:
        from agent.redaction import redact

        return redact(super().format(record))


def main(argv: Sequence[str] | None = None) -> None:
    faulthandler.enable()  # a native crash in this process still leaves its stack in the log
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own health checks, one line per request
    config = parse_config(argv)
    from tools import get_tools
    from ui.gradio_app import build_app, launch

    manager = ModelManager(make_source(config), max_loaded=config.max_loaded_models)
    default = config.default_model or manager.default_name()
    if config.preload:
        preload(manager, default)
    demo = build_app(manager, get_tools(), config)
    launch(demo, config)


if __name__ == "__main__":
    main()
