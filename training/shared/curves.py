"""Loss curves of a fine-tuning run: every log kept in metrics.jsonl, and the training/validation curve as a PNG."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_loss_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path | None:
    """Training and validation loss against the optimiser step, as a PNG; None when nothing was logged."""
    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    validation = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not train and not validation:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    if train:
        steps, losses = zip(*train, strict=True)
        axes.plot(steps, losses, label="training loss", color="tab:blue", linewidth=1.2)
    if validation:
        steps, losses = zip(*validation, strict=True)
        axes.plot(steps, losses, label="validation loss", color="tab:orange", marker="o", linewidth=1.5)
    axes.set_xlabel("optimiser step")
    axes.set_ylabel("cross-entropy on the completion (nats/token)")
    axes.set_title(title or "LoRA fine-tuning")
    axes.grid(alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    decisions = [(h["step"], h["decision_accuracy"], h.get("decision_accuracy_best")) for h in history
                 if h.get("decision_accuracy") is not None]
    if decisions:  # the lean trainer's validations also score the first-token call decision
        right = axes.twinx()
        steps, at_half, best = zip(*decisions, strict=True)
        right.plot(steps, at_half, color="tab:green", marker="s", linewidth=1.2,
                   label="validation decision accuracy (P(call) >= 0.5)")
        if all(b is not None for b in best):
            right.plot(steps, best, color="tab:green", linestyle="--", linewidth=1.0,
                       label="... at the best threshold")
        right.set_ylim(0.4, 1.02)
        right.set_ylabel("balanced call/answer decision accuracy")
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axes.legend(handles, labels, fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path


def make_metrics_callback(run_dir: Path, title: str, resume_step: int | None = None):
    """A TrainerCallback that keeps every log (train loss, eval loss) across `evaluate()` and `train()`, appends it
    to metrics.jsonl as it comes, and redraws the loss curves after each validation so a long run can be watched.
    When resuming from step N, the logs up to N are kept."""
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):
        def __init__(self):
            self.path = run_dir / "metrics.jsonl"
            self.history: list[dict[str, Any]] = []
            if resume_step is not None and self.path.is_file():
                lines = self.path.read_text(encoding="utf-8").splitlines()
                self.history = [e for e in map(json.loads, filter(None, lines)) if e["step"] <= resume_step]
            self.path.write_text("".join(json.dumps(e) + "\n" for e in self.history), encoding="utf-8")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs:
                return
            entry = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), **logs}
            self.history.append(entry)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
            if "eval_loss" in logs:
                plot_loss_curves(self.history, run_dir / "loss_curves.png", title)

    return MetricsCallback()
