"""The fine-tune's done-when targets against the call threshold: where each one holds, and whether all ever do.

Reads the decoding evaluation's records (`python -m evaluation decoding --stages records --groups test irrelevance`,
any --gen-limit / --bfcl-limit) and derives, for every threshold, what the agent runs (a call when P(call) >= t, then
not run when it names a place or a query nobody said): relevance on weather questions (current, forecast, two
calls), relevance on Wikipedia questions, restraint where no tool is needed and where information is missing, BFCL
irrelevance restraint, and balanced decision accuracy. Each model is marked at the threshold the catalogue stores
(fitted on the validation split). The curves are read on the test prompts themselves: an oracle view that shows
whether *any* threshold could meet every target at once, not a second fit.

"Not below the base beyond its interval": a rate's 95% Wilson interval must reach the base model's (recorded in the
same work dir, run as the catalogue runs it). Where the base was not recorded, that target is left out.

    python -m evaluation targets --models smollm2-135m-funccall --base smollm2-135m --work-dir runs/eval/s11
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from evaluation import decisions as dec
from evaluation.decoding import case_index, read_record, record_path
from evaluation.report import ci

# (label, record categories, does a call belong there, fixed target or None for "not below the base")
TARGETS = (
    ("weather questions called", ("gen:weather_current", "gen:weather_forecast", "gen:parallel_calls"), True, 0.95),
    ("Wikipedia questions called", ("gen:wiki_lookup",), True, 0.95),
    ("no tool needed: held back", ("gen:no_tool",), False, None),
    ("missing information: held back", ("gen:missing_info",), False, None),
    ("BFCL irrelevance: held back", ("bfcl:irrelevance",), False, 0.90),
)
BALANCED_TARGET = 0.90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", default=["smollm2-135m-funccall"], help="Catalogue models.")
    parser.add_argument("--base", default="smollm2-135m", help="The model no category may fall below.")
    parser.add_argument("--work-dir", default="runs/eval/decoding", help="The decoding evaluation's records.")
    parser.add_argument("--split-dir", default=None, help="Folder of the generated splits (as decoding).")
    parser.add_argument("--bfcl-dir", default=None, help="BFCL v4 folder (as decoding).")
    parser.add_argument("--out", default="docs/assets/targets.png", help="The chart.")


def group_records(model: str, args) -> tuple[list[dec.DecisionRecord], set[str]] | None:
    """Test-split and BFCL irrelevance records of one model and the CPUs they were made on ("CPU not recorded" for
    records from before they said), or None when either group is missing."""
    found, cpus = [], set()
    for group in ("test", "irrelevance"):
        data = read_record(record_path(args, model, group))
        if not data:
            return None
        found += dec.load_records(data["records"])
        cpus.add(data.get("cpu") or "CPU not recorded")
    return found, cpus


def asks_of(records: Sequence[dec.DecisionRecord], args) -> dict[str, set[str]]:
    asks: dict[str, set[str]] = {}
    for group in ("test", "irrelevance"):
        asks |= dec.asked_replies(records, case_index(group, args))
    return asks


def counts_at(records, asks, threshold: float | None) -> dict[str, tuple[int, int]]:
    """Per target: (right decisions, prompts) at `threshold` (None: the model decides freely)."""
    pairs = dec.decisions_at(records, threshold, asks)
    out = {}
    for label, categories, should, _ in TARGETS:
        picked = [calls for r, (_, calls) in zip(records, pairs, strict=True) if r.category in categories]
        out[label] = (sum(calls == should for calls in picked), len(picked))
    relevance, restraint = dec.rates([pair for r, pair in zip(records, pairs, strict=True)
                                      if r.category.startswith("gen:")])
    out["balanced"] = (relevance + restraint, 2)
    return out


def floor_of(base: tuple[int, int] | None, n: int) -> float | None:
    """The least rate of n prompts whose Wilson interval still reaches the base's (None: no base)."""
    if base is None or not base[1] or not n:
        return None
    low = dec.wilson(*base)[1]
    return next((k / n for k in range(n + 1) if dec.wilson(k, n)[2] >= low), 1.0)


def targets_for(counts: dict[str, tuple[int, int]], base: dict | None) -> dict[str, float | None]:
    return {label: fixed if fixed is not None else floor_of(base and base.get(label), counts[label][1])
            for label, _, _, fixed in TARGETS} | {"balanced": BALANCED_TARGET}


def evaluate(model: str, args, base: dict | None) -> dict | None:
    from models.catalogue import load_catalogue

    found = group_records(model, args)
    if found is None:
        return None
    records, cpus = found
    asks = asks_of(records, args)
    stored = load_catalogue()[model].call_threshold
    cuts = sorted({0.0, *[round(i / 200, 3) for i in range(1, 200)], *([stored] if stored is not None else [])})
    curve = [(t, counts_at(records, asks, t)) for t in cuts]
    at_stored = counts_at(records, asks, stored)
    goals = targets_for(at_stored, base)
    every = [t for t, c in curve if all(meets(c[key], goal) for key, goal in goals.items())]
    return {"model": model, "stored": stored, "curve": curve, "at_stored": at_stored, "goals": goals,
            "all_hold": every, "cpu": "; ".join(sorted(cpus)),
            "n_test": sum(r.category.startswith("gen:") for r in records),
            "n_bfcl": sum(r.category == "bfcl:irrelevance" for r in records)}


def rate(count: tuple[int, int]) -> float:
    k, n = count
    return k / n if n else math.nan


def meets(count: tuple[int, int], goal: float | None) -> bool:
    return goal is None or rate(count) >= goal - 1e-12


def describe(result: dict) -> list[str]:
    c, goals = result["at_stored"], result["goals"]
    at = "deciding freely (no threshold stored)" if result["stored"] is None else f"at its stored threshold " \
        f"{result['stored']}"
    lines = [f"{result['model']} {at} (records from {result['cpu']}):"]
    for label, _, _, _ in TARGETS:
        k, n = c[label]
        goal = goals[label]
        verdict = "no target (no base)" if goal is None else ("met" if meets(c[label], goal) else "NOT met")
        lines.append(f"  {label}: {k}/{n} = {ci(dec.wilson(k, n))}, target "
                     f"{'-' if goal is None else f'{100 * goal:.1f}%'}: {verdict}")
    lines.append(f"  balanced decision accuracy (generated test split): {100 * rate(c['balanced']):.1f}%, target "
                 f"{100 * BALANCED_TARGET:.0f}%")
    spans = result["all_hold"]
    lines.append("  thresholds where every target holds: " +
                 (f"{len(spans)} of the {len(result['curve'])} tried, {min(spans):.3g}-{max(spans):.3g}"
                  if spans else f"none of the {len(result['curve'])} tried (0 to 0.995)"))
    return lines


def plot(results: list[dict], path: Path) -> Path:
    from evaluation.plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(len(results), 1, figsize=(7.6, 4.2 * len(results)), squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
        ts = [t for t, _ in result["curve"]]
        for i, key in enumerate([label for label, *_ in TARGETS] + ["balanced"]):
            colour = f"C{i}"
            ax.plot(ts, [100 * rate(c[key]) for _, c in result["curve"]], color=colour, label=key, linewidth=1.4)
            goal = result["goals"].get(key)
            if goal is not None:
                ax.axhline(100 * goal, color=colour, linestyle=":", linewidth=1)
        for t in result["all_hold"]:
            ax.axvspan(t - 0.0025, t + 0.0025, color="green", alpha=0.15, linewidth=0)
        if result["stored"] is not None:
            ax.axvline(result["stored"], color="black", linestyle="--", linewidth=1)
            ax.annotate(f"stored t = {result['stored']:.3g}", (result["stored"], 32), xytext=(4, 0),
                        textcoords="offset points", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(30, 101)  # below 30%, only the far ends of the threshold range
        ax.set_xlabel("call threshold t (a call when P(call) >= t)")
        ax.set_ylabel("% right (dotted: its target)")
        verdict = "no threshold meets every target" if not result["all_hold"] else "green: every target holds"
        ax.set_title(f"{result['model']}: {verdict}\n({result['n_test']} test-split and {result['n_bfcl']} BFCL "
                     "irrelevance prompts)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Records made on " + "; ".join(sorted({r["cpu"] for r in results})), fontsize=8)
    fig.tight_layout()
    return _save(fig, plt, path)


def main(args: argparse.Namespace, command: str = "") -> Path:
    from models.catalogue import load_catalogue

    base = None
    found = group_records(args.base, args) if args.base else None
    if found is not None:
        base_records = found[0]
        base = counts_at(base_records, asks_of(base_records, args), load_catalogue()[args.base].call_threshold)
    else:
        print(f"no records of the base {args.base} in {args.work_dir}: 'not below the base' is left out")
    results = []
    for model in args.models:
        result = evaluate(model, args, base)
        if result is None:
            raise SystemExit(f"no test and irrelevance records of {model} in {args.work_dir}; record them: "
                             f"python -m evaluation decoding --models {model} --work-dir {args.work_dir} "
                             "--stages records --groups test irrelevance")
        results.append(result)
        print("\n".join(describe(result)))
    path = plot(results, Path(args.out))
    print(f"wrote {path}")
    return path
