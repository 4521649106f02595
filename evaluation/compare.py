"""The `compare` task: the first-call evaluation of two or more models in one report.

Run:
    python -m evaluation compare --models smollm2-135m smollm2-135m-funccall --limit 30
    python -m evaluation compare --runs runs/eval/funccall-a-*/ runs/eval/funccall-b-*/   # reuse earlier runs

The report has a table per category (one column per model), bar charts, a confusion matrix of decisions per model on
the generated split (no call / weather / wiki / other / malformed), the LLM calls per turn the decisions imply, and a
handful of side-by-side examples where the models differ. Charts are PNG files under `assets/` beside the report.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

from evaluation.cases import GENERATED
from evaluation.cli import new_run_dir
from evaluation.funccall import CaseSelection, FunccallRun, collect_cases, evaluate, write_run
from evaluation.metrics import ALL, METRIC_LABELS, confusion_matrix
from evaluation.plots import confusion, grouped_bars
from evaluation.report import cell, code_cell, markdown_table, num, pct, relative_link, write_json, write_text
from evaluation.runner import RunSettings
from stage_cli import SettingsParser, settings_from

COMPARED = ("accuracy", "format_valid", "relevance", "restraint", "name_accuracy", "ast_accuracy",
            "mean_sample_accuracy", "consistency", "buried_call_rate")
CHARTS = ("accuracy", "relevance", "restraint", "ast_accuracy", "format_valid")


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text)


def category_tables(runs: Sequence[FunccallRun]) -> str:
    """One table per category: metrics down, models across."""
    multi = any(r.settings.get("samples", 1) > 1 for r in runs)
    metric_names = [m for m in COMPARED if multi or m not in ("mean_sample_accuracy", "consistency")]
    per_run = [r.metrics for r in runs]
    categories = list(dict.fromkeys(c for m in per_run for c in m))
    parts = []
    for category in categories:
        n = next((m[category].n for m in per_run if category in m), 0)
        rows = []
        for name in metric_names:
            values = [pct(getattr(m[category], name)) if category in m else "–" for m in per_run]
            if all(v == "–" for v in values):
                continue
            rows.append([METRIC_LABELS[name], *values])
        rows.append([METRIC_LABELS["llm_calls_per_turn"],
                     *[num(m[category].llm_calls_per_turn) if category in m else "–" for m in per_run]])
        parts += [f"### {category} (n = {n})", "", markdown_table(["Metric", *[r.model for r in runs]], rows), ""]
    return "\n".join(parts).rstrip()


def headline_table(runs: Sequence[FunccallRun]) -> str:
    """Accuracy per category, one column per model (what a reader looks for first)."""
    per_run = [r.metrics for r in runs]
    categories = list(dict.fromkeys(c for m in per_run for c in m))
    rows = []
    for category in categories:
        n = next((m[category].n for m in per_run if category in m), 0)
        label = f"**{category}**" if category.endswith(ALL) else category
        rows.append([label, n, *[pct(m[category].accuracy) if category in m else "–" for m in per_run]])
    return markdown_table(["Category", "n", *[f"{r.model} accuracy" for r in runs]], rows)


def charts(runs: Sequence[FunccallRun], assets: Path, prefix: str = "") -> dict[str, Path]:
    """Bar charts per metric across categories, and a confusion matrix per model on the generated split."""
    out: dict[str, Path] = {}
    per_run = {r.model: r.metrics for r in runs}
    for metric in CHARTS:
        values = {model: {c: getattr(m, metric) for c, m in metrics.items() if not c.endswith(f":{ALL}")}
                  for model, metrics in per_run.items()}
        if all(v is None for series in values.values() for v in series.values()):
            continue
        out[metric] = grouped_bars(values, METRIC_LABELS[metric], assets / f"{prefix}{metric}.png")
    out["llm_calls_per_turn"] = grouped_bars(
        {model: {c: m.llm_calls_per_turn for c, m in metrics.items() if not c.endswith(f":{ALL}")}
         for model, metrics in per_run.items()},
        "LLM calls per turn (implied by the first call)", assets / f"{prefix}llm_calls_per_turn.png",
        ylabel="calls", percent=False)
    for run in runs:
        generated = [r for r in run.results if r.source == GENERATED]
        if generated:
            rows, cols, matrix = confusion_matrix(generated)
            out[f"confusion:{run.model}"] = confusion(rows, cols, matrix, f"Decisions of {run.model} (generated split)",
                                                      assets / f"{prefix}confusion_{_slug(run.model)}.png")
    return out


def side_by_side(runs: Sequence[FunccallRun], count: int = 6) -> str:
    """Cases where the models' majority replies differ in correctness (or, failing that, in text); with one model,
    its failures."""
    by_id = [{r.case_id: r for r in run.results} for run in runs]
    shared = [cid for cid in by_id[0] if all(cid in m for m in by_id[1:])]
    if len(runs) == 1:
        differ = [cid for cid in shared if not by_id[0][cid].majority.correct]
    else:
        differ = [cid for cid in shared if len({m[cid].majority.correct for m in by_id}) > 1]
    differ += [cid for cid in shared if cid not in differ and len({m[cid].majority.key or m[cid].majority.reply
                                                                   for m in by_id}) > 1]
    picked, seen = [], set()
    for cid in differ:  # spread the examples over categories
        category = by_id[0][cid].category
        if category not in seen:
            picked.append(cid)
            seen.add(category)
    picked += [cid for cid in differ if cid not in picked]
    rows = []
    for cid in picked[:count]:
        first = by_id[0][cid]
        replies = [f"{'✅' if m[cid].majority.correct else '❌'} {code_cell(m[cid].majority.reply, 90)}" for m in by_id]
        rows.append([first.category, cell(first.prompt, 90), code_cell(first.expected, 80), *replies])
    if not rows:
        return "No failures." if len(runs) == 1 else "The models answered every shared case the same way."
    return markdown_table(["Category", "Prompt", "Expected", *[r.model for r in runs]], rows)


def render_comparison(runs: Sequence[FunccallRun], out_dir: Path, assets: Path, title: str,
                      command: str = "", prefix: str = "") -> str:
    """The Markdown body of a comparison; charts are written under `assets`, linked relative to `out_dir`."""
    pictures = charts(runs, assets, prefix)
    overview_rows = [[r.model, len(r.results), pct(r.metrics[ALL].accuracy), pct(r.metrics[ALL].format_valid),
                      num(r.metrics[ALL].llm_calls_per_turn), f"{r.wall_s:.0f}"] for r in runs]
    lines = [f"# {title}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [markdown_table(["Model", "Prompts", "Accuracy", "Format validity", "LLM calls / turn", "Wall time (s)"],
                             overview_rows), ""]
    lines += ["## Accuracy by category", "", headline_table(runs), ""]
    lines += ["## Charts", ""]
    for key, path in pictures.items():
        label = key.replace("confusion:", "Confusion matrix, ").replace("_", " ")
        lines += [f"![{label}]({relative_link(path, out_dir)})", ""]
    lines += ["## Side by side", "", side_by_side(runs), ""]
    lines += ["## Per category", "", category_tables(runs), ""]
    notes = [n for r in runs for n in r.notes]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in dict.fromkeys(notes)], ""]
    return "\n".join(lines)


def run_models(models: Sequence[str], selection: CaseSelection, settings: RunSettings, show_progress: bool = True,
               out_dir: Path | None = None, load_model=None, is_available=None) -> tuple[list[FunccallRun], list[str]]:
    """Evaluate each available model on the same cases (models are loaded one at a time); unavailable ones are noted.

    `load_model(name) -> LLM` and `is_available(name) -> bool` default to the catalogue and llama.cpp.
    """
    from evaluation.loading import unload

    if load_model is None:
        from evaluation.loading import load_model
    if is_available is None:
        from models.catalogue import is_available

    cases, notes = collect_cases(selection, settings.seed)
    runs, skipped = [], []
    for name in models:
        if not is_available(name):
            skipped.append(f"{name}: not available here (its GGUF file or adapter is missing), so it was not run")
            continue
        llm = load_model(name)
        try:
            run = evaluate(llm, cases, settings, selection, notes, show_progress=show_progress)
        finally:
            unload(llm)
        if out_dir is not None:
            write_run(run, out_dir / "runs" / _slug(name))
        runs.append(run)
    return runs, skipped


def load_runs(paths: Sequence[str]) -> list[FunccallRun]:
    runs = []
    for path in paths:
        path = Path(path)
        file = path / "results.json" if path.is_dir() else path
        runs.append(FunccallRun.from_dict(json.loads(file.read_text(encoding="utf-8"))))
    return runs


def add_arguments(parser: SettingsParser) -> None:
    parser.add_argument("--models", nargs="+", default=None, help="Catalogue model names to run and compare.")
    parser.add_argument("--runs", nargs="+", default=None, help="Earlier funccall results (folders or results.json).")
    parser.add_argument("--out-dir", default=None, help="Where to write report.md, results.json and assets/.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_settings(CaseSelection)
    parser.add_settings(RunSettings)


def main(args: argparse.Namespace, command: str = "", load_model=None, is_available=None) -> Path:
    if not args.models and not args.runs:
        raise SystemExit("compare needs --models A B ... or --runs DIR DIR ...")
    out_dir = Path(args.out_dir or new_run_dir("compare", *(args.models or [])))
    runs = load_runs(args.runs) if args.runs else []
    skipped: list[str] = []
    if args.models:
        new_runs, skipped = run_models(args.models, settings_from(CaseSelection, args),
                                       settings_from(RunSettings, args), not args.quiet, out_dir,
                                       load_model, is_available)
        runs += new_runs
    if len(runs) < 1:
        raise SystemExit("no model could be run: " + "; ".join(skipped))
    for run in runs:
        run.notes += skipped
    text = render_comparison(runs, out_dir, out_dir / "assets", "First-call comparison", command)
    write_text(out_dir / "report.md", text)
    write_json(out_dir / "results.json", {"task": "compare", "skipped": skipped,
                                          "runs": {r.model: {k: v for k, v in r.to_dict().items() if k != "cases"}
                                                   for r in runs}})
    print(f"wrote {out_dir}/report.md")
    return out_dir
