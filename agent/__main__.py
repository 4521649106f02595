"""Drive the agent from the command line.

    python -m agent "What's the weather in Oslo?" --mode weather
    python -m agent "Who was Ada Lovelace?" --mode wiki --model smollm2-135m-funccall --json
    python -m agent --input prompts.jsonl --json      # one {"prompt": ..., "mode": ...} per line; model loaded once
    python -m agent --list-models
    python -m agent "Hi" --base-url http://127.0.0.1:8080/v1 --server-model llama   # an OpenAI-compatible server
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
from typing import Any

from agent.backends.base import DEFAULT_GENERATION, GenerationParams
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
    defaults = AgentSettings(generation=DEFAULT_GENERATION)
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", nargs="?", help="the user message")
    parser.add_argument("--mode", default="all", choices=list(MODES), help="which tools and persona (default: all)")
    parser.add_argument("--model", default=None, help="catalogue model name (default: the embedded model)")
    parser.add_argument("--max-llm-calls", type=int, default=defaults.max_llm_calls,
                        help="LLM calls per turn (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=defaults.generation.max_tokens,
                        help="new tokens per LLM call (default: %(default)s)")
    parser.add_argument("--temperature", type=float, default=defaults.generation.temperature,
                        help="sampling temperature (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.add_argument("--icl", action="store_true", help="add few-shot tool-use examples to the system prompt")
    parser.add_argument("--tool-eagerness", type=_eagerness, default=None, metavar="0-1",
                        help="how readily the model calls a tool: it calls when P(call) >= 1 - eagerness (1 always, "
                             "0 never; default: the threshold fitted for the model in the catalogue)")
    parser.add_argument("--free-numbers", action="store_true",
                        help="let an answer that retells an article write numbers nobody gave (agent/numbers.py)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    parser.add_argument("--input", help="JSONL file of prompts to run with the model loaded once")
    parser.add_argument("--list-models", action="store_true", help="print the catalogue's model names and exit")
    parser.add_argument("--base-url", help="use an OpenAI-compatible server at this URL instead of llama.cpp; with "
                        "--model, the prompt is rendered here from that model's GGUF and sent to /v1/completions")
    parser.add_argument("--server-model", default="default", help="model name to send to --base-url")
    parser.add_argument("--tool-role", choices=["ipython", "tool", "user"], default=None,
                        help="role of tool results sent to --base-url (default: the --model's catalogue tool_role, "
                             "else ipython: the role Llama 3.2 and this project's adapters are trained on)")
    return parser


def _eagerness(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {value:g}")
    return value


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

        tool_role, renderer = args.tool_role, None
        if args.model:  # the server serves a catalogue model: send the very prompt the in-process backend renders
            from agent.backends.load import prompt_renderer
            from models.catalogue import load_catalogue

            entry = load_catalogue().get(args.model)
            if entry is None:
                raise ValueError(f"unknown model {args.model!r} (see --list-models)")
            tool_role = tool_role or entry.tool_role
            renderer = prompt_renderer(args.model)
        return OpenAICompatibleLLM(args.base_url, args.server_model, tool_role=tool_role or "ipython",
                                   name=args.model or args.server_model, prompt_renderer=renderer)
    from agent.backends.load import load_llm
    from models.catalogue import default_model_name

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
        for marker in answer_markers(event):
            print(f"[{marker}]", file=err, flush=True)
        print(f"[{event.stats.summary()}]", file=err, flush=True)


def answer_markers(event: FinalAnswer) -> list[str]:
    """What the reader must know about an answer: no live data behind it, or cut short."""
    markers = []
    if event.without_live_data:
        markers.append("answered without live data")
    if event.truncated:
        markers.append("cut at the token limit")
    return markers


def main(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not faulthandler.is_enabled():
        try:  # a crash inside llama.cpp prints where it happened, not only "Segmentation fault"
            faulthandler.enable()
        except (AttributeError, OSError, RuntimeError, ValueError):  # stderr is no real file (captured output)
            pass
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
        tool_eagerness=args.tool_eagerness,
        ground_numbers=not args.free_numbers,
        generation=GenerationParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed),
    )
    tools = get_tools()
    for job in jobs:
        agent = Agent(llm, tools, mode=job["mode"], settings=settings)
        extra = {k: v for k, v in job.items() if k not in ("prompt", "mode")}
        for event in agent.run(job["prompt"]):
            print_event(event, args.json, extra, out, err)
        for notice in _new_backend_notices(llm):  # e.g. a server that refuses a grammar or the ipython role
            print_event(Notice(notice), args.json, extra, out, err)
    return 0


def _new_backend_notices(llm) -> list[str]:
    notices = getattr(llm, "notices", None)
    if not notices:
        return []
    fresh = list(notices)
    notices.clear()
    return fresh


if __name__ == "__main__":
    sys.exit(main())
