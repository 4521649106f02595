"""The performance benchmark: the fixed scripted set on a real model, this agent against the original demo's strategy.

    python -m bench                                   # embedded SmolLM2-135M, scripted tool decisions, 4 users
    python -m bench --model smollm2-135m-funccall --decisions model     # the fine-tuned adapter decides by itself
    python -m bench --users 0 --no-baseline           # only this agent's run
    python -m bench --config bench.toml --users 2     # settings from a file (JSON, YAML, TOML); flags override it

Tools run for real against the local fake Open-Meteo + Wikipedia server (fakes/services.py), with a fixed delay
per HTTP request. Writes `<output-dir>/bench-<model>.json` (with a `summary` object) and `bench-<model>.md`, and
prints the Markdown. docs/performance.md explains every number.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

from bench.runner import BenchConfig, run_benchmark
from bench.scenario import load_scenario
from stage_cli import SettingsParser


def build_parser() -> SettingsParser:
    return SettingsParser([BenchConfig], prog="python -m bench", description=__doc__)


def start_tool_server(latency_ms: float):
    """The local fake Open-Meteo + Wikipedia server, every request delayed by `latency_ms`; the tools pointed at it."""
    from fakes.services import FORECAST_PATH, GEOCODING_PATH, WIKI_PATH, ToolServer

    server = ToolServer().start()
    for path in (FORECAST_PATH, GEOCODING_PATH, WIKI_PATH):
        server.fault(path, "delay", seconds=latency_ms / 1000)
    os.environ.update(server.env())
    os.environ["TOOLS_CACHE_TTL_S"] = "0"  # every call goes to the server and pays the same latency
    os.environ["TOOLS_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-tools-")
    return server


def warm_up(llm, tools) -> None:
    """First calls pay one-off costs (imports, buffers) that are no part of a turn: pay them before timing."""
    from agent.backends.base import GenerationParams
    from agent.messages import Message

    for tool_ in tools:
        tool_.run({"query": "Ada Lovelace"} if tool_.name == "search_wikipedia" else {"location": "Oslo"})
    for _ in llm.stream([Message("user", "Hello")], GenerationParams(max_tokens=4, temperature=0.0)):
        pass
    llm.clear_cache()


def main(argv: list[str] | None = None) -> int:
    (config,) = build_parser().parse_settings(argv)
    from agent.backends.load import load_llm
    from models.catalogue import default_model_name
    from tools import get_tools

    config.model = config.model or default_model_name()
    scenario = load_scenario(config.conversations)
    server = start_tool_server(config.tool_latency_ms)
    try:
        def load():
            return load_llm(config.model, n_ctx=config.n_ctx, n_threads=config.threads,
                            ram_cache_mb=config.ram_cache_mb)

        llm = load()
        # The baseline gets its own instance of the same model, so the two strategies can take turns.
        baseline_llm = load() if config.baseline else None
        tools = get_tools()
        warm_up(llm, tools)
        if baseline_llm is not None:
            warm_up(baseline_llm, [])
        command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        report = run_benchmark(llm, tools, scenario, config, command=command.strip(),
                               progress=lambda line: print(line, file=sys.stderr, flush=True),
                               baseline_llm=baseline_llm)
    finally:
        server.stop()
    from bench.report import markdown_report

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"bench-{config.model}.json", out / f"bench-{config.model}.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown = markdown_report(report)
    md_path.write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
