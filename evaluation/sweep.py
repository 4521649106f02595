"""The `sweep` task: fit each model's call threshold on the generated validation split, plot relevance against
restraint as the threshold rises (one curve per model, the chosen point marked), and store it with --write-catalogue.

Run:
    python -m evaluation sweep --models smollm2-135m smollm2-135m-funccall --write-catalogue

P(call) is recorded once per prompt (one prefill) and kept under --work-dir, so a second sweep costs no model time;
`python -m evaluation decoding` reuses the same records for the results page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation import decoding


def add_arguments(parser: argparse.ArgumentParser) -> None:
    decoding.add_arguments(parser)
    parser.set_defaults(stages=["records"], groups=["validation"])


def main(args: argparse.Namespace, command: str = "", load_model=None) -> Path:
    args.stages = [s for s in args.stages if s != "page"]
    return decoding.main(args, command, load_model)
