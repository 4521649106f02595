"""A crash of the model process, seen from a real browser: an error on the page and in the log, never a lost
connection; the next question loads the model again. (`python app.py` with the real catalogue and embedded model.)"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fakes.app_process import chromium, running_app
from tests.test_browser import pytestmark  # noqa: F401 - same skips and marks


def worker_pids(parent: int) -> list[int]:
    """The app's model worker processes: its children started by multiprocessing's spawn (not its resource tracker)."""
    pids = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "multiprocessing.spawn" in cmdline and "resource_tracker" not in cmdline:
                pids.append(int(child))
    return pids


def test_a_crashed_model_process_shows_an_error_on_the_page_and_in_the_log(tmp_path):
    env = {"APP_DEFAULT_MODEL": "smollm2-135m", "HF_HUB_OFFLINE": "1", "TOOLS_CACHE_DIR": str(tmp_path / "cache")}
    with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(app.url)
        page.wait_for_selector("#message textarea")
        box = page.locator("#message textarea")
        box.fill("Write a long story about a lighthouse keeper and the sea, with many details.")
        box.press("Enter")
        page.wait_for_function("document.querySelector('#chatbot [data-testid=\"bot\"]')?.innerText.length > 40")
        pids = worker_pids(app.process.pid)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGSEGV)
        page.wait_for_selector("#chatbot :text('crashed')", timeout=60_000)
        assert "segmentation fault" in page.locator("#chatbot").inner_text()
        assert app.process.poll() is None  # the app itself lives on
        deadline = time.monotonic() + 10
        while "died: segmentation fault" not in app.log_tail(20_000) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "died: segmentation fault (SIGSEGV)" in app.log_tail(20_000)
        before = page.locator("#chatbot [data-testid='bot']").count()
        box.fill("Say hello.")
        box.press("Enter")
        deadline = time.monotonic() + 120
        while not worker_pids(app.process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        new_pids = worker_pids(app.process.pid)
        assert new_pids and new_pids != pids  # the model was loaded again, in a new process
        page.wait_for_function(f"document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length > {before}")
