"""The `funccall` task: how well a model makes the agent's first LLM call (the tool decision).

Run:
    python -m evaluation funccall --model smollm2-135m --categories simple irrelevance --limit 20
    python -m evaluation funccall --model smollm2-135m-funccall --categories generated --samples 4 --temperature 0.6

Cases come from BFCL v4 files (`--bfcl-dir`, default `BFCL_DIR`, `data/bfcl` or `../shared/bfcl`) and from the
generated test split (`--split-file`, default `FUNCCALL_TEST_SPLIT`, else `runs/funccall/data/test.jsonl` where
`python -m training.dataset` writes it). Writes `results.json` and `report.md` to `--out-dir` (default
`runs/eval/funccall-<model>-<time>/`, under `EVAL_RUNS_DIR` if set).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.backends.base import LLM
from evaluation.cases import BFCL_CATEGORIES, GENERATED, EvalCase, limit_cases, load_bfcl, load_generated
from evaluation.cli import new_run_dir
from evaluation.metrics import ALL, METRIC_LABELS, CategoryMetrics, metrics_by_category
from evaluation.report import cell, code_cell, markdown_table, num, pct, write_json, write_text
from evaluation.runner import RunSettings, run_cases
from evaluation.scoring import CaseResult
from stage_cli import SettingsParser, settings_from

CATEGORY_CHOICES = [*BFCL_CATEGORIES, GENERATED]


@dataclass
class CaseSelection:
    """Which cases to run."""

    categories: list[str] = field(default_factory=lambda: list(CATEGORY_CHOICES), metadata={
        "help": "BFCL categories (simple multiple parallel irrelevance) and/or 'generated' (our test split).",
        "choices": CATEGORY_CHOICES})
    limit: int | None = field(default=None, metadata={"help": "At most this many cases per category (a seeded "
                                                                "random subset)."})
    bfcl_dir: str | None = field(default=None, metadata={
        "help": "Folder of BFCL v4 JSON-lines files (default: BFCL_DIR, data/bfcl, or ../shared/bfcl)."})
    split_file: str | None = field(default=None, metadata={
        "help": "Generated split JSONL (default: FUNCCALL_TEST_SPLIT, else the test.jsonl that "
                "`python -m training.dataset` writes: runs/funccall/data/test.jsonl)."})
    split: str = field(default="test", metadata={"help": "Keep only samples of this split from --split-file."})


@dataclass
class FunccallRun:
    """One model's results on a set of cases."""

    model: str
    settings: dict[str, Any]
    selection: dict[str, Any]
    results: list[CaseResult]
    wall_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, CategoryMetrics]:
        return metrics_by_category(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "funccall",
            "model": self.model,
            "settings": self.settings,
            "selection": self.selection,
            "wall_s": round(self.wall_s, 2),
            "notes": self.notes,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "cases": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunccallRun:
        return cls(data["model"], data["settings"], data["selection"],
                   [CaseResult.from_dict(c) for c in data["cases"]], data["wall_s"], data.get("notes", []))


def collect_cases(selection: CaseSelection, seed: int = 0) -> tuple[list[EvalCase], list[str]]:
    """The selected cases, and notes on what could not be loaded (a missing generated split is not fatal)."""
    cases, notes = [], []
    for category in selection.categories:
        if category == GENERATED:
            try:
                cases += load_generated(selection.split_file, selection.split)
            except FileNotFoundError as exc:
                notes.append(f"generated split skipped: {exc}")
        else:
            cases += load_bfcl(category, selection.bfcl_dir)
    return limit_cases(cases, selection.limit, seed), notes


def evaluate(llm: LLM, cases: Sequence[EvalCase], settings: RunSettings, selection: CaseSelection | None = None,
             notes: Sequence[str] = (), show_progress: bool = True) -> FunccallRun:
    notes = list(notes)
    if settings.samples > 1 and settings.temperature == 0:
        notes.append(f"{settings.samples} samples per prompt at temperature 0 are all the same greedy reply: "
                     "use --temperature above 0 for a meaningful vote")
    start = time.perf_counter()
    results = run_cases(llm, cases, settings, show_progress=show_progress, desc=getattr(llm, "name", "model"))
    return FunccallRun(getattr(llm, "name", "model"), asdict(settings), asdict(selection) if selection else {},
                       results, time.perf_counter() - start, notes)


# ------------------------------------------------------------------------------------------------------- report

TABLE_METRICS = ("accuracy", "format_valid", "relevance", "restraint", "name_accuracy", "ast_accuracy",
                 "mean_sample_accuracy", "consistency", "buried_call_rate", "llm_calls_per_turn")


def metrics_table(metrics: dict[str, CategoryMetrics], multi_sample: bool) -> str:
    names = [m for m in TABLE_METRICS if (multi_sample or m not in ("mean_sample_accuracy", "consistency"))
             and any(getattr(c, m) is not None for c in metrics.values())]
    headers = ["Category", "n", *[METRIC_LABELS[m] for m in names], "Latency (s)"]
    rows = []
    for category, m in metrics.items():
        values = [num(getattr(m, name)) if name == "llm_calls_per_turn" else pct(getattr(m, name)) for name in names]
        label = f"**{category}**" if category.endswith(ALL) else category
        rows.append([label, m.n, *values, num(m.mean_latency_s)])
    return markdown_table(headers, rows)


def failure_examples(results: Sequence[CaseResult], count: int = 8) -> str:
    failed = [r for r in results if not r.majority.correct]
    picked, seen = [], set()
    for result in failed:  # one per category first, then the rest
        if result.category not in seen:
            picked.append(result)
            seen.add(result.category)
    picked += [r for r in failed if r not in picked][: max(count - len(picked), 0)]
    rows = [[r.category, r.case_id, cell(r.prompt, 100), code_cell(r.expected, 100),
             code_cell(r.majority.reply, 100), cell(r.majority.error_type)] for r in picked[:count]]
    return markdown_table(["Category", "Case", "Prompt", "Expected", "Reply", "Error"], rows) if rows else "None."


def render_report(run: FunccallRun, command: str = "") -> str:
    metrics = run.metrics
    multi = run.settings.get("samples", 1) > 1
    n_replies = sum(len(r.samples) for r in run.results)
    lines = [
        f"# First-call evaluation: {run.model}",
        "",
        f"{len(run.results)} prompts, {n_replies} replies in {run.wall_s:.1f} s "
        f"(temperature {run.settings.get('temperature')}, {run.settings.get('samples')} sample(s) per prompt, "
        f"max {run.settings.get('max_tokens')} new tokens).",
    ]
    if command:
        lines += ["", f"Command: `{command}`"]
    lines += ["", "## Metrics per category", "", metrics_table(metrics, multi), ""]
    lines += ["Accuracy follows BFCL: a call case passes when the calls match the possible answer under the AST rules "
              "(`evaluation/ast_checker.py`); a no-call case passes when nothing parses as a call. "
              "LLM calls per turn are implied by the decision (1 for prose, 2 for a tool call or a malformed one)."]
    errors = metrics[ALL].error_types
    if errors:
        lines += ["", "## Why replies failed", "",
                  markdown_table(["Error", "Count"], sorted(errors.items(), key=lambda kv: -kv[1]))]
    lines += ["", "## Examples of failures", "", failure_examples(run.results)]
    if run.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in run.notes]]
    return "\n".join(lines)


def write_run(run: FunccallRun, out_dir: str | Path, command: str = "") -> Path:
    out_dir = Path(out_dir)
    write_json(out_dir / "results.json", run.to_dict())
    write_text(out_dir / "report.md", render_report(run, command))
    return out_dir


# ---------------------------------------------------------------------------------------------------------- CLI

def add_arguments(parser: SettingsParser) -> None:
    parser.add_argument("--model", default=None, help="Catalogue model name (default: the catalogue's default).")
    parser.add_argument("--out-dir", default=None, help="Where to write results.json and report.md.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_settings(CaseSelection)
    parser.add_settings(RunSettings)


def main(args: argparse.Namespace, command: str = "", load_model=None) -> Path:
    """Run the task; `load_model(name) -> LLM` defaults to loading the catalogue model with llama.cpp."""
    from evaluation.loading import unload
    from models.catalogue import default_model_name

    if load_model is None:
        from evaluation.loading import load_model

    selection = settings_from(CaseSelection, args)
    settings = settings_from(RunSettings, args)
    cases, notes = collect_cases(selection, settings.seed)
    if not cases:
        raise SystemExit("no cases to run: " + ("; ".join(notes) or "check --categories"))
    name = args.model or default_model_name()
    llm = load_model(name)
    try:
        run = evaluate(llm, cases, settings, selection, notes, show_progress=not args.quiet)
    finally:
        unload(llm)
    out_dir = write_run(run, args.out_dir or new_run_dir("funccall", name), command)
    print(metrics_table(run.metrics, settings.samples > 1))
    print(f"\nwrote {out_dir}/report.md and results.json ({run.wall_s:.1f} s)")
    return out_dir
