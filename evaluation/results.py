"""The results page: base vs fine-tuned on the generated test split and on BFCL simple / multiple / irrelevance.

Run (`--limit`, default 25, bounds the cases per category: about 250 prompts of 450-700 tokens per model, so
roughly 10-15 minutes for two models on 2 free CPU cores; twice that on a busy machine):
    python -m evaluation results --models smollm2-135m smollm2-135m-funccall --out docs/results.md

Writes the page and its charts (`docs/assets/results_*.png`, plus `results.json` with the metrics). A model that is not
available here (for example an adapter not trained yet) is listed on the page as not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

from evaluation.compare import render_comparison, run_models
from evaluation.funccall import CaseSelection
from evaluation.report import write_json, write_text
from evaluation.runner import RunSettings
from stage_cli import SettingsParser, settings_from

DEFAULT_MODELS = ("smollm2-135m", "smollm2-135m-funccall")
DEFAULT_CATEGORIES = ("generated", "simple", "multiple", "irrelevance")
DEFAULT_LIMIT = 25

METHOD = """## How these numbers are made

- Each prompt gets the agent's **first LLM call** only, the one that decides whether to call a tool: BFCL prompts
  with Meta's zero-shot function-calling system prompt listing the entry's functions, generated-split prompts with the
  sample's own messages. A reply is read exactly as the agent reads it (`agent.format.parse_tool_calls`).
- **Accuracy** follows BFCL's rules: a call case passes when the calls match the possible answer under the AST
  checks (required parameters, no unknown ones, types with int→float allowed, accepted values, BFCL's string
  normalisation, parallel calls in any order; `evaluation/ast_checker.py`); a no-call case (BFCL irrelevance, prose
  targets of the generated split) passes when nothing parses as a call.
- **Relevance**: a call was made where one was wanted. **Restraint**: no call where none was wanted.
  **Format validity**: the reply is prose or well-formed calls. **LLM calls per turn**: 1 when the first reply is
  prose, 2 when it calls a tool (or writes a malformed call), under the agent's two-call budget.
- The confusion matrix counts the decision of each reply on the generated split: no call, a weather tool, the
  Wikipedia tool, something else, or a malformed call.
- Greedy decoding, one sample per prompt unless stated; each category is a seeded random subset of at most
  `--limit` cases, the same cases for every model."""


def add_arguments(parser: SettingsParser) -> None:
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="Catalogue models to compare "
                        f"(default: {' '.join(DEFAULT_MODELS)}).")
    parser.add_argument("--out", default="docs/results.md", help="The page to write; charts go to assets/ beside it.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_settings(CaseSelection)
    parser.add_settings(RunSettings)
    parser.set_defaults(categories=list(DEFAULT_CATEGORIES), limit=DEFAULT_LIMIT)


def main(args: argparse.Namespace, command: str = "", load_model=None, is_available=None) -> Path:
    selection = settings_from(CaseSelection, args)
    settings = settings_from(RunSettings, args)
    page = Path(args.out)
    assets = page.parent / "assets"
    start = time.perf_counter()
    runs, skipped = run_models(args.models, selection, settings, not args.quiet, None, load_model, is_available)
    if not runs:
        raise SystemExit("no model could be run: " + "; ".join(skipped))
    for run in runs:
        run.notes = list(dict.fromkeys([*run.notes, *skipped]))
    wall = time.perf_counter() - start
    body = render_comparison(runs, page.parent, assets, "Results: base vs fine-tuned tool calling",
                             command or "python -m evaluation results", prefix="results_")
    stamp = dt.date.today().isoformat()
    machine = f"{platform.machine()} CPU, {os.cpu_count()} cores, Python {platform.python_version()}"
    header = (f"_Generated on {stamp} by `python -m evaluation results` on {machine}, in {wall / 60:.1f} minutes. "
              f"Models run: {', '.join(r.model for r in runs)}._")
    if skipped:
        header += "\n\n" + "\n".join(f"> **Not run:** {note}" for note in skipped)
    title, rest = body.split("\n", 1)
    write_text(page, "\n".join([title, "", header, rest, METHOD]))
    write_json(assets / "results.json", {"generated": stamp, "wall_s": round(wall, 1), "settings": asdict(settings),
                                         "selection": asdict(selection), "skipped": skipped,
                                         "runs": {r.model: {name: m.to_dict() for name, m in r.metrics.items()}
                                                  for r in runs}})
    print(f"wrote {page} and charts under {assets} ({wall:.0f} s)")
    return page
