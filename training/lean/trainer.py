"""The lean trainer: a small exact training loop for LoRA on the top layers of a causal LM on a CPU.

    python -m training.finetune --config training/recipes/smollm2-135m-funccall-lean.toml
    python -m training.finetune --trainer lean --lora-last-layers 10 --no-share-prefix   # one lever off

It trains the same LoRA weights on the same completion-only loss as the TRL path (`training.finetune`), with AdamW,
the same schedule, warm-up and gradient clipping (1.0) as the Trainer, but computes each step with the exact levers
of `training.lean.model` (frozen lower layers run once and cached, shared prefix, padding-free, loss-only logits).
Each validation scores the completion loss and the first-token call decision (training/lean/selection.py); the
best adapter by `--select-by` (default: balanced decision accuracy, ties by loss) is saved as a PEFT adapter in
OUTPUT_DIR/adapter, so `python -m training.export` turns it into GGUF as before. `--resume` continues from
OUTPUT_DIR/lean-checkpoint.pt (written at every validation) in the same data order.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from training.config import FinetuneConfig, to_jsonable
from training.lean.hidden_cache import HiddenStateCache, cache_key
from training.lean.model import Levers, LossRow, batch_loss_sum, first_trainable_layer
from training.lean.selection import batch_count, grouped_order, prefix_groups, selection_score, validate
from training.shared.hardware import cpu_report
from training.shared.result import FinetuneResult


def precision_context(precision: str):
    """bf16 autocast on the CPU where chosen (master weights stay fp32, as in the Trainer), else nothing."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def levers_of(config: FinetuneConfig) -> Levers:
    return Levers(config.share_prefix, config.padding_free, config.loss_logits_only)


def batch_order(count: int, batch_size: int, seed: int, shuffle: bool = True) -> Iterator[tuple[int, list[int]]]:
    """(epoch, sample indices) of every batch, epoch after epoch; each epoch a new seeded permutation."""
    epoch = 0
    while True:
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch)).tolist() if shuffle \
            else list(range(count))
        for start in range(0, count, batch_size):
            yield epoch, order[start:start + batch_size]
        epoch += 1


def states_source(model, split: int, rows: Sequence[LossRow], folder: Path, model_name: str, precision: str):
    """A cached-states source for `rows` (built once, reused from disk), or None when nothing is below `split`."""
    if split == 0:
        return None, {}
    started = time.perf_counter()
    with precision_context(precision):
        cache = HiddenStateCache.build(model, split, rows, folder / cache_key(model_name, split, rows),
                                       progress=True)
    return cache.source(), {**cache.stats, "seconds": round(time.perf_counter() - started, 1)}


def optimiser_step(model, split: int, rows: Sequence[LossRow], micro_batches: Sequence[Sequence[int]],
                   levers: Levers, source, precision: str, params: Sequence[torch.nn.Parameter]) -> tuple[float, float]:
    """Gradients of the step's loss (summed over its micro-batches, divided by all their completion tokens, like
    the Trainer's `num_items_in_batch`), clipped to norm 1. Returns (loss, gradient norm); the caller steps."""
    tokens = sum(rows[i].loss_tokens for batch in micro_batches for i in batch)
    loss_value = 0.0
    for batch in micro_batches:
        with precision_context(precision):
            loss = batch_loss_sum(model, split, [rows[i] for i in batch], levers, source) / max(tokens, 1)
        loss.backward()
        loss_value += loss.item()
    norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    return loss_value, float(norm)


def warmup_steps(warmup: float, total_steps: int) -> int:
    return math.ceil(warmup * total_steps) if warmup < 1 else int(warmup)


def save_checkpoint(path: Path, model, optimizer, scheduler, state: dict[str, Any]) -> None:
    """The LoRA weights, optimiser, schedule and loop state after a validation, replaced atomically."""
    from peft import get_peft_model_state_dict

    temporary = path.with_suffix(".tmp")
    torch.save({"lora": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "state": state}, temporary)
    temporary.replace(path)


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict[str, Any]:
    from peft import set_peft_model_state_dict

    if not path.is_file():
        raise FileNotFoundError(f"--resume: no lean checkpoint at {path} (it is written at every validation)")
    saved = torch.load(path, weights_only=False)
    set_peft_model_state_dict(model, saved["lora"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    print(f"resuming from step {saved['state']['step']} ({path})", file=sys.stderr)
    return saved["state"]


def train_lean(config: FinetuneConfig, base, backend: str, precision: str, model, train_rows: Sequence[dict],
               eval_rows: Sequence[dict], dropped: dict[str, int], started: float, call_openings=None):
    """Train `model` (PEFT, LoRA applied) on the tokenised rows; returns a `FinetuneResult` like the TRL path.

    With `call_openings` (token ids that open a call), validations also score the first-token call decision."""
    from transformers import get_scheduler

    from training.shared.curves import plot_loss_curves

    torch.manual_seed(config.seed)
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    split = first_trainable_layer(model)
    attention = getattr(model.config, "_attn_implementation", "sdpa")
    if attention != "sdpa":  # the shared-prefix mask is boolean, which only SDPA reads that way
        raise ValueError(f"the lean trainer needs SDPA attention, not {attention!r}")
    levers = levers_of(config)
    train = [LossRow.from_row(r, i) for i, r in enumerate(train_rows)]
    evals = [LossRow.from_row(r, i) for i, r in enumerate(eval_rows)]
    train_source, eval_source, cache_stats = cached_sources(config, model, split, train, evals,
                                                            run_dir / "hidden-cache", base.location, precision)
    groups = prefix_groups(train) if config.group_by_prefix else [list(range(len(train)))]
    batches_per_epoch, steps_per_epoch, total_steps = step_plan(config, groups)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler(config.lr_scheduler, optimizer, warmup_steps(config.warmup, total_steps), total_steps)
    eval_every = config.eval_steps if config.eval_steps > 0 else steps_per_epoch
    batches = (grouped_order(groups, config.batch_size, config.seed) if config.group_by_prefix
               else batch_order(len(train), config.batch_size, config.seed))
    metrics_path, checkpoint = run_dir / "metrics.jsonl", run_dir / "lean-checkpoint.pt"
    title = f"LoRA r={config.lora_r} on {base.short_name}: {Path(config.dataset_dir).name} (lean)"
    adapter_dir = run_dir / "adapter"
    loop = starting_state(config, checkpoint, model, optimizer, scheduler, batches)
    metrics_path.write_text("".join(json.dumps(h) + "\n" for h in loop["history"]), encoding="utf-8")
    print(f"lean trainer: {len(train)} samples in {len(groups)} prompt groups, {batches_per_epoch} batches per "
          f"epoch, {total_steps} steps; split at layer {split}", file=sys.stderr)

    def log(entry: dict[str, Any]) -> None:
        loop["history"].append(entry)
        with metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def evaluate(step: int) -> dict[str, Any]:
        scores = validate(model, split, evals, levers, eval_source, config.batch_size, call_openings,
                          precision_context(precision))
        entry = {"step": step, "epoch": round(step / steps_per_epoch, 4), **scores}
        log(entry)
        plot_loss_curves(loop["history"], run_dir / "loss_curves.png", title)
        print(f"step {step}/{total_steps}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()
                                                        if isinstance(v, float)), file=sys.stderr)
        return entry

    stopped_early = False
    if config.eval_before_training and loop["step"] == 0:
        evaluate(0)
    model.train()
    for step in range(loop["step"] + 1, total_steps + 1):
        step_started = time.perf_counter()
        micro = [next(batches) for _ in range(config.grad_accum)]
        loss, norm = optimiser_step(model, split, train, [b for _, b in micro], levers, train_source, precision,
                                    params)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loop["train_seconds"] += time.perf_counter() - step_started
        count_tokens(loop["tokens"], train, [b for _, b in micro])
        loop["step"] = step
        if step == 1 or step % config.logging_steps == 0:
            log({"step": step, "epoch": round(step / steps_per_epoch, 4), "loss": loss, "grad_norm": norm,
                 "learning_rate": scheduler.get_last_lr()[0]})
        if step % eval_every == 0 or step == total_steps:
            stopped_early = keep_if_best(loop, selection_score(evaluate(step), config.select_by), step, model,
                                         adapter_dir, config.early_stopping_patience)
            save_checkpoint(checkpoint, model, optimizer, scheduler, loop)
            if stopped_early:
                break
    curves = plot_loss_curves(loop["history"], run_dir / "loss_curves.png", title)
    summary = run_summary(config, base, backend, precision, split, cache_stats, train, evals, dropped, loop,
                          steps_per_epoch, stopped_early, started, adapter_dir, curves, metrics_path)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return FinetuneResult(run_dir, adapter_dir, base, backend, precision, loop["history"], summary)


def starting_state(config: FinetuneConfig, checkpoint: Path, model, optimizer, scheduler,
                   batches: Iterator) -> dict[str, Any]:
    """The loop's state: fresh, or with `--resume` the checkpoint's, with `batches` advanced past the steps done."""
    if not config.resume:
        return {"step": 0, "history": [], "best": None, "best_step": None, "patience": 0, "train_seconds": 0.0,
                "tokens": {"loss": 0, "total": 0, "samples": 0}}
    loop = load_checkpoint(checkpoint, model, optimizer, scheduler)
    for _ in range(loop["step"] * config.grad_accum):  # the same data order as an uninterrupted run
        next(batches)
    return loop


def keep_if_best(loop: dict[str, Any], score: tuple, step: int, model, adapter_dir: Path, patience: int) -> bool:
    """Save the adapter when this validation's score is the best yet; True when `patience` validations in a row
    have not improved on it (stop early)."""
    if loop["best"] is None or score > tuple(loop["best"]):
        loop["best"], loop["best_step"], loop["patience"] = list(score), step, 0
        model.save_pretrained(str(adapter_dir))  # the best adapter is the one kept
        return False
    loop["patience"] += 1
    return bool(patience and loop["patience"] >= patience)


def cached_sources(config: FinetuneConfig, model, split: int, train: Sequence[LossRow], evals: Sequence[LossRow],
                   folder: Path, model_name: str, precision: str) -> tuple[Any, Any, dict[str, Any]]:
    """(training states source, validation states source, their cache stats): none without `--cache-lower-layers`."""
    train_source = eval_source = None
    cache_stats: dict[str, Any] = {}
    if config.cache_lower_layers:
        train_source, cache_stats["train"] = states_source(model, split, train, folder, model_name, precision)
        eval_source, cache_stats["validation"] = states_source(model, split, evals, folder, model_name, precision)
    return train_source, eval_source, cache_stats


def step_plan(config: FinetuneConfig, groups: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """(batches per epoch, optimiser steps per epoch, total steps): `--max-steps` when set, else the epochs'."""
    batches_per_epoch = batch_count(groups, config.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = config.max_steps if config.max_steps > 0 else math.ceil(config.num_epochs * steps_per_epoch)
    return batches_per_epoch, steps_per_epoch, total_steps


def count_tokens(tokens: dict[str, int], rows: Sequence[LossRow], batches: Sequence[Sequence[int]]) -> None:
    """Add a step's samples, loss tokens and all tokens to the running counts (for the throughput figures)."""
    for batch in batches:
        tokens["samples"] += len(batch)
        tokens["loss"] += sum(rows[i].loss_tokens for i in batch)
        tokens["total"] += sum(rows[i].ids.numel() for i in batch)


def run_summary(config, base, backend, precision, split, cache_stats, train, evals, dropped, loop, steps_per_epoch,
                stopped_early, started, adapter_dir, curves, metrics_path) -> dict[str, Any]:
    """What `summary.json` holds for a lean run (the same keys as the TRL path's, plus the levers and decisions)."""
    history, step, seconds, tokens = loop["history"], loop["step"], loop["train_seconds"], loop["tokens"]
    train_values = [h["loss"] for h in history if "loss" in h]
    evaluations = [h for h in history if "eval_loss" in h]
    best = next((h for h in evaluations if h["step"] == loop["best_step"]), None)
    return {
        "base_model": base.spec, "base_model_source": base.source, "base_model_location": base.location,
        "backend": backend, "trainer": "lean", "precision": precision, "threads": torch.get_num_threads(),
        "cpu": cpu_report(),
        "levers": {**to_jsonable(levers_of(config)), "cache_lower_layers": config.cache_lower_layers,
                   "group_by_prefix": config.group_by_prefix},
        "split_layer": split, "hidden_cache": cache_stats,
        "train_samples": len(train), "validation_samples": len(evals),
        "dropped_too_long": dropped,
        "completion_tokens": sum(r.loss_tokens for r in train), "total_tokens": sum(r.ids.numel() for r in train),
        "steps": step, "epochs": round(step / steps_per_epoch, 3), "stopped_early": stopped_early,
        "selected_by": config.select_by,
        "train_loss_first": train_values[0] if train_values else None,
        "train_loss_last": train_values[-1] if train_values else None,
        "validation_loss_before": evaluations[0]["eval_loss"] if config.eval_before_training and evaluations
        else None,
        "validation_before": evaluations[0] if config.eval_before_training and evaluations else None,
        "validation_loss_best": best["eval_loss"] if best else None,
        "validation_best": best,
        "best_checkpoint": f"step {loop['best_step']}" if loop["best_step"] is not None else None,
        "train_seconds": round(seconds, 1), "seconds_per_step": round(seconds / max(step, 1), 2),
        "samples_per_second": round(tokens["samples"] / seconds, 3) if seconds else None,
        "loss_tokens_per_second": round(tokens["loss"] / seconds, 1) if seconds else None,
        "tokens_per_second": round(tokens["total"] / seconds, 1) if seconds else None,
        "resumed_from": "lean-checkpoint.pt" if config.resume else None,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "adapter_dir": str(adapter_dir), "loss_curves": str(curves) if curves else None,
        "metrics": str(metrics_path), "config": to_jsonable(config),
    }
