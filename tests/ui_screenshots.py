"""Screenshots of the running app in headless Chromium, with the tools pointed at the local fake tool server.

    python -m tests.ui_screenshots --out docs/assets/ui        # the compare tab and a tool error (scripted fakes)
    python -m tests.ui_screenshots --readme assets/screenshot.png --model smollm2-135m-funccall
                                                                # the README's: a real turn of a real model

The first uses `tests.test_browser_ux:UxSource` (two scripted fakes, one "base", one "fine-tuned"), so the pictures
show the layout, not a model's luck. The second starts `python app.py` on the model catalogue: the prompt really goes
through the named model, and the screenshot shows whatever it did (check it before committing it).
Needs Debian's chromium (apt-get install chromium) and playwright.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fakes.app_process import chromium, running_app
from fakes.services import ToolServer


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.1)


def pick(page, menu: str, text: str) -> None:
    page.locator(f"{menu} input").click()
    page.locator("[data-testid='dropdown-option']:visible", has_text=text).first.click()


def stats_count(page, where: str) -> int:
    return page.locator(f"{where} .thought-group .title", has_text="📊").count()


def tool_error(page, out: Path, timeout_s: float) -> Path:
    """A weather question for a place that does not exist, asked of the fine-tuned fake."""
    pick(page, "#model", "FuncCall")
    time.sleep(1.0)
    page.locator("#mode label", has_text="Weather").click()
    box = page.locator("#message textarea")
    box.fill("Make three calls: Oslo and Atlantis")
    box.press("Enter")
    wait_for(lambda: stats_count(page, "#chatbot") >= 1, timeout_s, "the answer")
    time.sleep(1.0)
    path = out / "tool-error.png"
    page.screenshot(path=str(path))
    return path


def compare(page, out: Path, timeout_s: float, width: int = 1280) -> Path:
    page.set_viewport_size({"width": width, "height": 1100})
    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-mode label", has_text="Weather").click()
    pick(page, "#cmp-right", "FuncCall")
    page.locator("#cmp-prompt textarea").fill("What's the weather in Oslo?")
    page.locator("#cmp-run").click()
    wait_for(lambda: stats_count(page, "#cmp-left-chat") == 0, 30, "the new run clearing the panes")
    wait_for(lambda: stats_count(page, "#cmp-left-chat") >= 1 and stats_count(page, "#cmp-right-chat") >= 1,
             timeout_s, "both answers")
    time.sleep(1.0)
    path = out / f"compare-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def readme(page, path: Path, prompt: str, timeout_s: float, mode: str = "Weather") -> Path:
    """One real turn in the chat, its first tool call opened, as in the README."""
    page.locator("#mode label", has_text=mode).click()
    box = page.locator("#message textarea")
    box.fill(prompt)
    box.press("Enter")
    wait_for(lambda: stats_count(page, "#chatbot") >= 1, timeout_s, "the answer")
    calls = page.locator("#chatbot .thought-group .title", has_text="🔧")
    if calls.count():
        calls.first.click()
        time.sleep(0.8)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the compare and tool-error screenshots (scripted fakes)")
    parser.add_argument("--readme", type=Path, help="path of the README screenshot (a real model's turn)")
    parser.add_argument("--model", default="smollm2-135m-funccall", help="catalogue model for --readme")
    parser.add_argument("--prompt", default="What's the weather in Oslo right now?", help="question for --readme")
    parser.add_argument("--mode", default="Weather", help="the mode button to press for --readme (its label text)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for an answer")
    args = parser.parse_args(argv)
    if not args.out and not args.readme:
        parser.error("give --out, --readme or both")
    runs = []
    if args.out:
        runs.append(({"APP_MODEL_SOURCE": "tests.test_browser_ux:UxSource"}, "fakes"))
    if args.readme:
        runs.append(({"APP_DEFAULT_MODEL": args.model}, "readme"))
    with tempfile.TemporaryDirectory() as tmp, ToolServer() as tools, chromium() as browser:
        for env, kind in runs:
            env = {**tools.env(), **env, "TOOLS_CACHE_DIR": f"{tmp}/http-cache", "HF_HUB_OFFLINE": "1"}
            with running_app(env, Path(tmp) / f"{kind}.log") as app:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.set_default_timeout(60_000)
                page.goto(app.url)
                page.wait_for_selector("#message textarea")
                if kind == "fakes":
                    args.out.mkdir(parents=True, exist_ok=True)
                    print(tool_error(page, args.out, args.timeout))
                    print(compare(page, args.out, args.timeout))
                    print(compare(page, args.out, args.timeout, width=390))
                else:
                    args.readme.parent.mkdir(parents=True, exist_ok=True)
                    print(readme(page, args.readme, args.prompt, args.timeout, args.mode))
                page.close()


if __name__ == "__main__":
    main()
