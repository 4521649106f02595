"""Drive the agent from the command line.

    python -m agent "What's the weather in Oslo?" --mode weather
    python -m agent "Who was Ada Lovelace?" --mode wiki --model smollm2-135m-funccall --json
    python -m agent --input prompts.jsonl --json      # one {"prompt": ..., "mode": ...} per line; model loaded once
    python -m agent --list-models
    python -m agent "Hi" --base-url http://127.0.0.1:8080/v1 --server-model llama   # an OpenAI-compatible server
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agent.backends.base import GenerationParams
from agent.events import (
    AgentError,
    FinalAnswer,
    LLMCallFinished,
    Notice,
    Token,
    ToolCallFinished,
    ToolCallStarted,
    event_to_dict,
)
from agent.loop import Agent, AgentSettings
from agent.prompts import MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", nargs="?", help="the user message")
    parser.add_argument("--mode", default="all", choices=list(MODES), help="which tools and persona (default: all)")
    parser.add_argument("--model", default=None, help="catalogue model name (default: the embedded model)")
    parser.add_argument("--max-llm-calls", type=int, default=2, help="LLM calls per turn (default: 2)")
    parser.add_argument("--max-tokens", type=int, default=512, help="new tokens per LLM call (default: 512)")
    parser.add_argument("--temperature", type=float, default=0.2, help="sampling temperature (default: 0.2)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.add_argument("--icl", action="store_true", help="add few-shot tool-use examples to the system prompt")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    parser.add_argument("--input", help="JSONL file of prompts to run with the model loaded once")
    parser.add_argument("--list-models", action="store_true", help="print the catalogue's model names and exit")
    parser.add_argument("--base-url", help="use an OpenAI-compatible server at this URL instead of llama.cpp")
    parser.add_argument("--server-model", default="default", help="model name to send to --base-url")
    return parser


def list_models(out) -> None:
    from models.catalogue import is_available, load_catalogue

    catalogue = load_catalogue()
    for entry in catalogue.values():
        state = "ready" if is_available(entry.name, catalogue) else (
            "download on first use" if entry.source == "hub" else "missing")
        default = " (default)" if entry.default else ""
        print(f"{entry.name}\t{entry.label}{default}\t[{state}]", file=out)


def load_backend(args):
    if args.base_url:
        from agent.backends.openai_http import OpenAICompatibleLLM

        return OpenAICompatibleLLM(args.base_url, args.server_model)
    from models.catalogue import default_model_name
    from models.loader import load_llm

    return load_llm(args.model or default_model_name())


def read_jobs(args) -> list[dict[str, Any]]:
    if not args.input:
        if not args.prompt:
            raise SystemExit("error: give a prompt, or --input FILE, or --list-models (see --help)")
        return [{"prompt": args.prompt, "mode": args.mode}]
    jobs = []
    with open(args.input, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                job = json.loads(line)
            except ValueError as exc:
                raise SystemExit(f"error: {args.input}:{number} is not JSON: {exc}") from None
            if not isinstance(job, dict) or not isinstance(job.get("prompt"), str):
                raise SystemExit(f'error: {args.input}:{number} needs a "prompt" string')
            if job.setdefault("mode", args.mode) not in MODES:
                raise SystemExit(f"error: {args.input}:{number}: unknown mode {job['mode']!r}")
            jobs.append(job)
    return jobs


def print_event(event, as_json: bool, extra: dict[str, Any], out, err) -> None:
    if as_json:
        print(json.dumps({**extra, **event_to_dict(event)}, ensure_ascii=False, default=str), file=out, flush=True)
    elif isinstance(event, Token):
        print(event.text, end="", file=out, flush=True)
    elif isinstance(event, ToolCallStarted):
        print(f"→ {event.call.to_python()}", file=err, flush=True)
    elif isinstance(event, ToolCallFinished):
        result = json.dumps(event.result, ensure_ascii=False)
        print(f"← {event.call.name} ({event.duration_s:.2f}s): {result[:300]}", file=err, flush=True)
    elif isinstance(event, (Notice, AgentError)):
        print(f"! {getattr(event, 'text', None) or event.message}", file=err, flush=True)
    elif isinstance(event, LLMCallFinished):
        pass
    elif isinstance(event, FinalAnswer):
        print(file=out)
        print(f"[{event.stats.summary()}]", file=err, flush=True)


def main(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    if args.list_models:
        list_models(out)
        return 0
    jobs = read_jobs(args)
    from models.gguf import ModelFileError
    from tools import get_tools

    try:
        llm = load_backend(args)
    except (ModelFileError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    settings = AgentSettings(
        max_llm_calls=args.max_llm_calls,
        icl=args.icl,
        generation=GenerationParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed),
    )
    tools = get_tools()
    for job in jobs:
        agent = Agent(llm, tools, mode=job["mode"], settings=settings)
        extra = {k: v for k, v in job.items() if k not in ("prompt", "mode")}
        for event in agent.run(job["prompt"]):
            print_event(event, args.json, extra, out, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
