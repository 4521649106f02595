"""Training throughput of a recipe, lever by lever: samples/s, loss-carrying tokens/s and all tokens/s.

    python -m training.throughput --config training/recipes/smollm2-135m-funccall.toml --steps 20
    python -m training.throughput --config training/recipes/smollm2-135m-funccall.toml --steps 2 \\
        --out runs/throughput-smoke                              # a smoke run that leaves docs/ alone

Every variant trains on exactly the same samples (the first steps x batch size of the recipe's training split, each
once): TRL's SFTTrainer (the path of the committed adapter), then the lean trainer with no lever, and with the levers
switched on one after another (loss-only logits, padding-free, shared prefix, cached lower-layer states). The cache is
built before its variant is timed and its build time is reported apart: it is paid once per run, not per epoch. When
the CPU has native bf16, the last variant is repeated in fp32 so the precision lever shows too. Run it on a quiet
machine: the figures mean nothing on a loaded CPU. It writes `throughput.json` and `throughput.png` to --out
(default docs/assets/training/) and names the CPU and its flags (amx_int8, avx512_bf16, avx2 ...).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage_cli import Section
from training.config import FinetuneConfig, output_root, parse_stage

LEAN_VARIANTS = (  # name, levers (share_prefix, padding_free, loss_logits_only), cache_lower_layers, grouped
    ("lean, no lever", (False, False, False), False, False),
    ("+ loss-only logits", (False, False, True), False, False),
    ("+ padding-free", (False, True, True), False, False),
    ("+ shared prefix", (True, True, True), False, False),
    ("+ cached lower layers", (True, True, True), True, False),
    ("+ batches share a prompt", (True, True, True), True, True),
)


@dataclass
class ThroughputConfig:
    """Settings of `python -m training.throughput`."""

    steps: int = field(default=20, metadata={"help": "Optimiser steps per variant (each sample is used once)."})
    out: Path = field(default=Path("docs/assets/training"), metadata={
        "help": "Folder for throughput.json and throughput.png."})
    skip_trl: bool = field(default=False, metadata={"help": "Do not measure the TRL path."})


def measure_trl(config: FinetuneConfig, samples: int, steps: int) -> dict[str, Any]:
    """Time TRL's optimiser steps (from the first step's start to the last step's end, no validation inside)."""
    from transformers import TrainerCallback

    from training.finetune import fine_tune

    class StepClock(TrainerCallback):
        first = last = None

        def on_step_begin(self, args, state, control, **kwargs):
            self.first = self.first or time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.last = time.perf_counter()

    clock = StepClock()
    trl_config = dataclasses.replace(
        config, trainer="trl", max_steps=steps, max_train_samples=samples, num_epochs=1,
        max_eval_samples=min(config.max_eval_samples or 2, 2), eval_steps=10**6, eval_before_training=False,
        early_stopping_patience=0, logging_steps=1, resume=False, output_dir=output_root() / "throughput" / "trl",
        grad_accum=1)
    result = fine_tune(trl_config, callbacks=[clock])
    return {"seconds": clock.last - clock.first, "precision": result.precision}


def lean_setup(config: FinetuneConfig, samples: int):
    """(model, precision, rows, validation-free tokenised rows) for the lean variants, loaded once."""
    import torch

    from training.lean.model import LossRow
    from training.shared.base_model import resolve_base_model
    from training.shared.hardware import choose_precision, cpu_threads
    from training.shared.lora import load_model_for_training
    from training.shared.samples import ChatRenderer, load_splits, tokenize_samples

    torch.set_num_threads(cpu_threads(config.threads))
    base = resolve_base_model(config.base_model)
    precision = choose_precision(config.precision, cuda=False)
    model, tokenizer = load_model_for_training(config, base, "transformers", precision)
    train, _ = load_splits(config.dataset_dir, samples, 1)
    rows, _ = tokenize_samples(train, ChatRenderer.from_tokenizer(tokenizer), tokenizer, config.max_length)
    return model, base, precision, [LossRow.from_row(r, i) for i, r in enumerate(rows)]


def measure_lean(model, base, rows, batch_size: int, levers, cache: bool, precision: str, folder: Path,
                 grouped: bool = False) -> dict:
    """Time one pass over `rows` in batches of `batch_size` with these levers (AdamW steps included); `grouped`
    draws each batch from samples that share their system prompt (as the lean trainer's `group_by_prefix`)."""
    import torch

    from training.lean.model import Levers, first_trainable_layer
    from training.lean.selection import grouped_batches, prefix_groups
    from training.lean.trainer import optimiser_step, states_source

    split = first_trainable_layer(model)
    source, cache_stats = (states_source(model, split, rows, folder, base.location + "|throughput", precision)
                           if cache else (None, {}))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    model.train()
    batches = (grouped_batches(prefix_groups(rows), batch_size, 0, 0) if grouped
               else [list(range(start, min(start + batch_size, len(rows)))) for start in range(0, len(rows),
                                                                                             batch_size)])
    started = time.perf_counter()
    for batch in batches:
        optimiser_step(model, split, rows, [batch], Levers(*levers), source, precision, params)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    result = {"seconds": time.perf_counter() - started, "precision": precision}
    if cache_stats:
        result["cache"] = cache_stats
    return result


def with_rates(name: str, measured: dict, samples: int, tokens: int, loss_tokens: int) -> dict[str, Any]:
    seconds = measured["seconds"]
    rates = {"name": name, **measured, "seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 3),
             "loss_tokens_per_s": round(loss_tokens / seconds, 1), "tokens_per_s": round(tokens / seconds, 1)}
    if "cache" in measured:  # a one-epoch run pays the build once: its rate with the build included
        rates["samples_per_s_with_cache_build"] = round(samples / (seconds + measured["cache"]["seconds"]), 3)
    return rates


def plot(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = report["variants"]
    names = [v["name"] + (f" ({v['precision']})" if v["precision"] != "fp32" else "") for v in variants][::-1]
    rates = [v["samples_per_s"] for v in variants][::-1]
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(names) + 1.6), dpi=120)
    bars = axes.barh(names, rates, color="tab:blue")
    for bar, variant in zip(bars, variants[::-1], strict=True):
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                  f" {variant['loss_tokens_per_s']:.1f} loss tok/s", va="center", fontsize=8)
    cpu = report["cpu"]
    axes.set_xlabel("training samples per second (higher is better)")
    axes.set_title(f"LoRA training throughput, {report['base_model']} on {cpu['name']} x{report['threads']}",
                   fontsize=9)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def run(config: FinetuneConfig, settings: ThroughputConfig) -> dict[str, Any]:
    import torch

    from training.shared.hardware import cpu_report

    samples = settings.steps * config.batch_size
    model, base, precision, rows = lean_setup(config, samples)
    tokens, loss_tokens = sum(r.ids.numel() for r in rows), sum(r.loss_tokens for r in rows)
    variants = []
    folder = output_root() / "throughput" / "hidden-cache"
    for name, levers, cache, grouped in LEAN_VARIANTS:
        print(f"measuring {name} ...", file=sys.stderr)
        measured = measure_lean(model, base, rows, config.batch_size, levers, cache, precision, folder, grouped)
        variants.append(with_rates(name, measured, len(rows), tokens, loss_tokens))
        print_row(variants[-1], file=sys.stderr)  # each figure as soon as it is measured
    if precision == "bf16":  # the precision lever: the same best variant in fp32
        measured = measure_lean(model, base, rows, config.batch_size, LEAN_VARIANTS[-1][1], True, "fp32", folder,
                                True)
        variants.append(with_rates("all levers, fp32", measured, len(rows), tokens, loss_tokens))
    del model
    if not settings.skip_trl:
        print("measuring trl ...", file=sys.stderr)
        variants.insert(0, with_rates("TRL SFTTrainer", measure_trl(config, len(rows), -(-len(rows) //
                                                                                         config.batch_size)),
                                      len(rows), tokens, loss_tokens))
        print_row(variants[0], file=sys.stderr)
    reference = variants[0]["samples_per_s"]
    for variant in variants:
        variant["speedup"] = round(variant["samples_per_s"] / reference, 2)
    return {"cpu": cpu_report(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "base_model": base.spec, "precision_auto": precision,
            "batch_size": config.batch_size, "lora_last_layers": config.lora_last_layers, "samples": len(rows),
            "tokens": tokens, "loss_tokens": loss_tokens, "variants": variants}


def print_table(report: dict[str, Any], file=None) -> None:
    cpu = report["cpu"]
    flags = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu["flags"].items())
    print(f"CPU {cpu['name']} ({report['threads']} threads); {flags}", file=file)
    print(f"{report['samples']} samples, {report['tokens']} tokens ({report['loss_tokens']} carry loss), "
          f"batch {report['batch_size']}, auto precision {report['precision_auto']}", file=file)
    print(f"{'variant':28} {'s':>8} {'samples/s':>10} {'loss tok/s':>11} {'tok/s':>9} {'speedup':>8}", file=file)
    for v in report["variants"]:
        print_row(v, file)


def print_row(v: dict[str, Any], file=None) -> None:
    extra = (f"  (cache built in {v['cache']['seconds']} s; {v['samples_per_s_with_cache_build']} samples/s "
             "with the build)") if "cache" in v else ""
    speedup = f"{v['speedup']:7.2f}x" if "speedup" in v else f"{'':8}"
    print(f"{v['name']:28} {v['seconds']:8.1f} {v['samples_per_s']:10.3f} {v['loss_tokens_per_s']:11.1f} "
          f"{v['tokens_per_s']:9.1f} {speedup}{extra}", file=file, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> dict:
    """Settings by section: [throughput] and the pipeline's (a recipe's [pipeline], [dataset], [export] are read and
    ignored: only its [finetune] settings are measured)."""
    from training.funccall import pipeline_sections

    sections = [Section("throughput", ThroughputConfig), *pipeline_sections()]
    return parse_stage(sections, argv, description=__doc__, prog="python -m training.throughput")


def main(argv: Sequence[str] | None = None) -> int:
    parsed = parse_args(argv)
    config, settings = parsed["finetune"], parsed["throughput"]
    report = run(config, settings)
    settings.out.mkdir(parents=True, exist_ok=True)
    (settings.out / "throughput.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, settings.out / "throughput.png")
    print_table(report)
    print(f"wrote {settings.out / 'throughput.json'} and {settings.out / 'throughput.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
