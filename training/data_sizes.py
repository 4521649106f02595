"""The data-size curve: validation call-decision accuracy and loss against the samples seen, one line per run.

    python -m training.data_sizes --runs runs/funccall/size-500 runs/funccall/size-1000 runs/funccall/model \
        --out docs/assets/training/data_sizes.png

Each run folder holds a fine-tune's metrics.jsonl and summary.json (any number of training samples, the same
validation split); a resumed run's repeated steps count once (the last log of a step wins).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage_cli import parse_config


@dataclass
class DataSizesConfig:
    runs: list[Path] = field(default_factory=list, metadata={
        "help": "Fine-tuning run folders (each with metrics.jsonl and summary.json)."})
    out: Path = field(default=Path("docs/assets/training/data_sizes.png"), metadata={"help": "The PNG to write."})


def run_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))


def validations(run_dir: Path) -> tuple[int, list[dict[str, Any]]]:
    """(training samples, the validations in step order: samples seen, decision accuracy, loss)."""
    train_samples = int(run_summary(run_dir)["train_samples"])
    by_step: dict[int, dict[str, Any]] = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line) if line.strip() else {}
        if "eval_loss" in entry:
            by_step[entry["step"]] = entry
    points = [{"samples_seen": round(e["epoch"] * train_samples), "decision": e.get("decision_accuracy"),
               "loss": e["eval_loss"]} for _, e in sorted(by_step.items())]
    return train_samples, points


def cpu_label(runs: Sequence[Path]) -> str:
    """Which CPU the runs trained on, as their summaries record it (runs from before it was recorded: this machine's,
    said so)."""
    from training.shared.hardware import cpu_report

    recorded = {(run_summary(r).get("cpu") or {}).get("name") for r in runs}
    names = sorted(name for name in recorded if name)
    if None not in recorded:
        return "trained on " + "; ".join(names)
    here = cpu_report()
    flags = ", ".join(flag for flag, present in here["flags"].items() if present) or "no AVX2"
    return (f"{'trained on ' + '; '.join(names) + '; ' if names else ''}CPU not recorded by "
            f"{'the other runs' if names else 'these runs'} (made here: {here['name']}, {flags})")


def plot(runs: Sequence[Path], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4), dpi=120)
    figure.suptitle(cpu_label(runs), fontsize=9)
    for run in runs:
        size, points = validations(Path(run))
        seen = [p["samples_seen"] for p in points]
        label = f"{size:,} training samples"
        left.plot(seen, [p["decision"] for p in points], marker="o", linewidth=1.4, label=label)
        right.plot(seen, [p["loss"] for p in points], marker="o", linewidth=1.4, label=label)
    left.set(xlabel="samples seen", ylabel="validation call decision (balanced accuracy, P >= 0.5)",
             title="Call decision by data size")
    right.set(xlabel="samples seen", ylabel="validation loss (nats/token)", title="Loss by data size")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(DataSizesConfig, argv, description=__doc__, prog="python -m training.data_sizes")
    if not config.runs:
        print("error: name at least one run folder with --runs", file=sys.stderr)
        return 2
    missing = [str(r) for r in config.runs if not (Path(r) / "metrics.jsonl").is_file()
               or not (Path(r) / "summary.json").is_file()]
    if missing:
        print(f"error: no metrics.jsonl and summary.json in {', '.join(missing)}", file=sys.stderr)
        return 2
    print(f"wrote {plot(config.runs, config.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
