"""The `copy-floor` task: calibrate `agent.places.COPY_FLOOR` on the generated validation split (never the test split).

Run (one model process, a few minutes on one core):
    python -m evaluation copy-floor --model smollm2-135m-funccall

Two groups of validation prompts, each run the way the decoding evaluation runs a case (`evaluation.decisions.
record_case`: temperature 0, the call grammar with the user's words as the place choices, the fixed date), with a call
forced (threshold 0) where the model answers in prose:

- (a) `named`: prompts whose wanted call has a place argument: the user named the place, the agent should run it;
- (b) `unnamed`: `missing_info` prompts: no place named, the agent should ask.

Per prompt, the mass at the start of its place values (`agent.places.value_start_masses`: the least probability the
model gave to what the grammar allowed there, 1.0 where the grammar never overruled it). A call whose place starts
below the floor is asked about instead of run, so the floor with the best balanced accuracy (the mean of (a) run and
(b) asked) separates them best; among equally good floors, the geometric middle of the best interval is chosen. The
figures are printed and written to --out as JSON.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.endings import USER_SUPPLIED
from agent.places import COPY_FLOOR, value_start_masses
from evaluation.cases import EvalCase, load_generated
from evaluation.cli import runs_dir
from evaluation.report import write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="smollm2-135m-funccall", help="Catalogue model (default: the adapter).")
    parser.add_argument("--split-dir", default=None, help="Folder of the generated splits (default: "
                        "$TRAINING_OUTPUT_DIR/funccall/data or runs/funccall/data).")
    parser.add_argument("--max-tokens", type=int, default=128, help="New tokens per reply (default: 128).")
    parser.add_argument("--limit", type=int, default=None, help="At most this many prompts per group.")
    parser.add_argument("--out", default=None, help="JSON of every prompt's mass and the fit (default: "
                        "$EVAL_RUNS_DIR/copy-floor/MODEL.json, EVAL_RUNS_DIR defaulting to runs/eval).")


def wants_place(case: EvalCase) -> bool:
    """Does the case's wanted call fill a place argument (so the user named one)?"""
    return any(name in USER_SUPPLIED for answer in case.expected for args in answer.values() for name in args)


def calibration_cases(cases: Sequence[EvalCase], limit: int | None = None) -> dict[str, list[EvalCase]]:
    """(a) `named` and (b) `unnamed` (see the module docstring), in file order."""
    named = [c for c in cases if c.should_call and wants_place(c)]
    unnamed = [c for c in cases if c.category == "gen:missing_info"]
    return {"named": named[:limit] if limit else named, "unnamed": unnamed[:limit] if limit else unnamed}


def balanced_accuracy(named: Sequence[float], unnamed: Sequence[float], floor: float) -> float:
    """Mean of (a) run (mass >= floor) and (b) asked (mass < floor)."""
    run = sum(m >= floor for m in named) / len(named) if named else 1.0
    asked = sum(m < floor for m in unnamed) / len(unnamed) if unnamed else 1.0
    return (run + asked) / 2


def fit_floor(named: Sequence[float], unnamed: Sequence[float]) -> tuple[float, float, tuple[float, float]]:
    """(floor, its balanced accuracy, the interval of equally good floors): every distinct mass is a cut; the best
    cuts' interval [lo, hi) is reported and its geometric middle chosen."""
    cuts = sorted({m for m in [*named, *unnamed] if m > 0} | {1e-6, 1.0 + 1e-9})
    scores = [balanced_accuracy(named, unnamed, cut) for cut in cuts]
    best = max(scores)
    first = scores.index(best)
    last = first
    while last + 1 < len(cuts) and math.isclose(scores[last + 1], best):
        last += 1
    # floors in (the mass below the first best cut, the last best cut] all score the same
    below = max([m for m in [*named, *unnamed] if m < cuts[first]], default=cuts[first] / 10)
    lo, hi = max(below, 1e-9), cuts[last]
    return math.sqrt(lo * hi), best, (lo, hi)


def main(args: argparse.Namespace, command: str = "", load_model=None) -> dict[str, Any]:
    from evaluation import decisions as dec
    from evaluation.decoding import one_date, split_dir
    from evaluation.loading import unload

    if load_model is None:
        from evaluation.loading import load_model
    cases = [one_date(c) for c in load_generated(split_dir(args) / "validation.jsonl", "validation")]
    groups = calibration_cases(cases, args.limit)
    llm = load_model(args.model)
    rows = []
    try:
        if not getattr(llm, "reports_grammar_overrides", False):
            raise SystemExit(f"{args.model}: this backend reports no grammar overrides; nothing to calibrate")
        for group, chosen in groups.items():
            for case in chosen:
                record = dec.record_case(llm, case, args.max_tokens, force_floor=0.0)
                masses = value_start_masses(record.reply_call, record.call_overrides)
                rows.append({"id": case.id, "category": case.category, "group": group, "free_call": record.free_calls,
                             "p_call": record.p_call, "reply": record.reply_call, "overrides": record.call_overrides,
                             "masses": masses, "mass": min(masses) if masses else None})
                print(f"{group:8} {case.id} free_call={record.free_calls!s:5} mass="
                      f"{rows[-1]['mass'] if masses else '-'} {record.reply_call.strip()[:90]}", flush=True)
    finally:
        unload(llm)
    named = [r["mass"] for r in rows if r["group"] == "named" and r["mass"] is not None]
    unnamed = [r["mass"] for r in rows if r["group"] == "unnamed" and r["mass"] is not None]
    unnamed_free = [r["mass"] for r in rows if r["group"] == "unnamed" and r["mass"] is not None and r["free_call"]]
    floor, accuracy, interval = fit_floor(named, unnamed)
    summary = {
        "model": args.model, "command": command or "python -m evaluation copy-floor", "n_named": len(named),
        "n_unnamed": len(unnamed), "n_unnamed_free_call": len(unnamed_free), "floor": floor,
        "balanced_accuracy": accuracy, "interval": interval,
        "named_run": sum(m >= floor for m in named), "unnamed_asked": sum(m < floor for m in unnamed),
        "unnamed_free_asked": sum(m < floor for m in unnamed_free),
        "current_floor": COPY_FLOOR, "current_accuracy": balanced_accuracy(named, unnamed, COPY_FLOOR),
        "named_masses": sorted(named), "unnamed_masses": sorted(unnamed),
    }
    for key in ("n_named", "n_unnamed", "n_unnamed_free_call", "floor", "balanced_accuracy", "interval", "named_run",
                "unnamed_asked", "unnamed_free_asked", "current_floor", "current_accuracy"):
        print(f"{key}: {summary[key]}")
    out = Path(args.out or runs_dir() / "copy-floor" / f"{args.model}.json")
    write_json(out, {"summary": summary, "rows": rows})
    print(f"wrote {out}")
    return summary
