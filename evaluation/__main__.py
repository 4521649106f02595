"""Evaluation entry point: `python -m evaluation <task> [options]` (`--help` on any task lists its options).

Tasks:
    funccall  the agent's first LLM call of one model on BFCL and the generated test split
    compare   the same for two or more models in one report, with charts
    judge     pairwise LLM-as-judge over an OpenAI-compatible endpoint, both orders per pair
    arc       ARC-Challenge accuracy from answer-letter log-probabilities
    results   the results page docs/results.md (base vs fine-tuned) with charts under docs/assets/
    sweep     fit the call threshold per model on the validation split, plot relevance vs restraint
    decoding  each decoding piece on and off (first calls, whole turns): docs/results.md
    targets   the fine-tune's done-when targets against the call threshold: where each holds (a chart)
    copy-floor  calibrate agent.places.COPY_FLOOR (a copied place from a forced one) on the validation split

Examples:
    python -m evaluation funccall --model smollm2-135m --categories simple irrelevance --limit 20
    python -m evaluation results --models smollm2-135m smollm2-135m-funccall --out docs/results.md
    python -m evaluation funccall --config my_eval.toml --limit 5     # settings from a file; flags override it
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from stage_cli import SettingsParser

TASKS = {
    "funccall": ("evaluation.funccall", "First-call (tool decision) accuracy of one model."),
    "compare": ("evaluation.compare", "First-call evaluation of two or more models in one report."),
    "judge": ("evaluation.judge", "Pairwise LLM-as-judge, every pair in both orders."),
    "arc": ("evaluation.arc", "ARC-Challenge accuracy from answer-letter log-probabilities."),
    "results": ("evaluation.results", "Write docs/results.md: base vs fine-tuned, with charts."),
    "sweep": ("evaluation.sweep", "Fit each model's call threshold on the validation split; plot the sweep."),
    "decoding": ("evaluation.decoding", "Each decoding piece on and off, first calls and whole turns: the page."),
    "targets": ("evaluation.targets", "Where each done-when target holds as the call threshold moves (a chart)."),
    "copy-floor": ("evaluation.copy_floor", "Calibrate the floor below which a place is asked for (validation)."),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # Each task's parser is a SettingsParser: flags from its settings dataclasses, and `--config FILE`.
    sub = parser.add_subparsers(dest="task", required=True, metavar="TASK", parser_class=SettingsParser)
    for name, (module, help_text) in TASKS.items():
        task = sub.add_parser(name, help=help_text, description=importlib.import_module(module).__doc__)
        importlib.import_module(module).add_arguments(task)
    return parser


def main(argv: list[str] | None = None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = "python -m evaluation " + shlex.join(argv)
    return importlib.import_module(TASKS[args.task][0]).main(args, command)


if __name__ == "__main__":
    main()
