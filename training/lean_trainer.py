"""The lean trainer: a small exact training loop for LoRA on the top layers of a causal LM on a CPU.

    python -m training.finetune --config training/recipes/smollm2-135m-funccall-lean.toml
    python -m training.finetune --trainer lean --lora-last-layers 10 --no-share-prefix   # one lever off

It trains the same LoRA weights on the same completion-only loss as the TRL path (`training.finetune`), with AdamW,
the same schedule, warm-up and gradient clipping (1.0) as the Trainer, but computes each step with the exact levers
of `training.lean_model` (frozen lower layers run once and cached, shared prefix, padding-free, loss-only logits).
The validation loss is the completion tokens' mean cross-entropy. The best adapter (lowest validation loss) is saved
as a PEFT adapter in OUTPUT_DIR/adapter, so `python -m training.export` turns it into GGUF as before. `--resume` is
the TRL path's only.
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
from training.hidden_cache import HiddenStateCache, cache_key
from training.lean_model import Levers, LossRow, batch_loss_sum, first_trainable_layer


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


def mean_loss(model, split: int, rows: Sequence[LossRow], levers: Levers, source, batch_size: int,
              precision: str) -> float:
    """The mean cross-entropy of every completion token of `rows`, without gradients."""
    total, tokens = 0.0, sum(r.loss_tokens for r in rows)
    was_training = model.training
    model.eval()
    with torch.no_grad(), precision_context(precision):
        for start in range(0, len(rows), batch_size):
            total += float(batch_loss_sum(model, split, rows[start:start + batch_size], levers, source))
    model.train(was_training)
    return total / max(tokens, 1)


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


def train_lean(config: FinetuneConfig, base, backend: str, precision: str, model, train_rows: Sequence[dict],
               eval_rows: Sequence[dict], dropped: dict[str, int], started: float):
    """Train `model` (PEFT, LoRA applied) on the tokenised rows; returns a `FinetuneResult` like the TRL path."""
    from transformers import get_scheduler

    from training.curves import plot_loss_curves
    from training.finetune import FinetuneResult

    if config.resume:
        raise ValueError("--resume works with --trainer trl only; the lean trainer starts from the beginning")
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
    train_source = eval_source = None
    cache_stats: dict[str, Any] = {}
    if config.cache_lower_layers:
        train_source, cache_stats["train"] = states_source(model, split, train, run_dir / "hidden-cache",
                                                           base.location, precision)
        eval_source, cache_stats["validation"] = states_source(model, split, evals, run_dir / "hidden-cache",
                                                               base.location, precision)

    step_samples = config.batch_size * config.grad_accum
    steps_per_epoch = math.ceil(len(train) / step_samples)
    total_steps = config.max_steps if config.max_steps > 0 else math.ceil(config.num_epochs * steps_per_epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler(config.lr_scheduler, optimizer, warmup_steps(config.warmup, total_steps), total_steps)
    eval_every = config.eval_steps if config.eval_steps > 0 else steps_per_epoch
    batches = batch_order(len(train), config.batch_size, config.seed)
    history: list[dict[str, Any]] = []
    metrics_path = run_dir / "metrics.jsonl"
    metrics_path.write_text("", encoding="utf-8")
    title = f"LoRA r={config.lora_r} on {base.short_name}: {Path(config.dataset_dir).name} (lean)"
    adapter_dir = run_dir / "adapter"

    def log(entry: dict[str, Any]) -> None:
        history.append(entry)
        with metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def evaluate(step: int, epoch: float) -> float:
        value = mean_loss(model, split, evals, levers, eval_source, config.batch_size, precision)
        log({"step": step, "epoch": round(epoch, 4), "eval_loss": value})
        plot_loss_curves(history, run_dir / "loss_curves.png", title)
        return value

    best, best_step, patience, stopped_early = math.inf, None, 0, False
    if config.eval_before_training:
        evaluate(0, 0.0)
    model.train()
    train_seconds = 0.0
    tokens = {"loss": 0, "total": 0, "samples": 0}
    for step in range(1, total_steps + 1):
        step_started = time.perf_counter()
        micro = [next(batches) for _ in range(config.grad_accum)]
        loss, norm = optimiser_step(model, split, train, [b for _, b in micro], levers, train_source, precision,
                                    params)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        train_seconds += time.perf_counter() - step_started
        for _, batch in micro:
            tokens["samples"] += len(batch)
            tokens["loss"] += sum(train[i].loss_tokens for i in batch)
            tokens["total"] += sum(train[i].ids.numel() for i in batch)
        epoch = step / steps_per_epoch
        if step == 1 or step % config.logging_steps == 0:
            log({"step": step, "epoch": round(epoch, 4), "loss": loss, "grad_norm": norm,
                 "learning_rate": scheduler.get_last_lr()[0]})
        if step % eval_every == 0 or step == total_steps:
            value = evaluate(step, epoch)
            if value < best - config.early_stopping_threshold:
                best, best_step, patience = value, step, 0
                model.save_pretrained(str(adapter_dir))  # the best adapter is the one kept
            else:
                patience += 1
                if config.early_stopping_patience and patience >= config.early_stopping_patience:
                    stopped_early = True
                    break
    curves = plot_loss_curves(history, run_dir / "loss_curves.png", title)
    train_values = [h["loss"] for h in history if "loss" in h]
    eval_values = [h["eval_loss"] for h in history if "eval_loss" in h]
    summary = {
        "base_model": base.spec, "base_model_source": base.source, "base_model_location": base.location,
        "backend": backend, "trainer": "lean", "precision": precision, "threads": torch.get_num_threads(),
        "levers": {**to_jsonable(levers_of(config)), "cache_lower_layers": config.cache_lower_layers},
        "split_layer": split, "hidden_cache": cache_stats,
        "train_samples": len(train), "validation_samples": len(evals),
        "dropped_too_long": dropped,
        "completion_tokens": sum(r.loss_tokens for r in train), "total_tokens": sum(r.ids.numel() for r in train),
        "steps": step, "epochs": round(step / steps_per_epoch, 3), "stopped_early": stopped_early,
        "train_loss_first": train_values[0] if train_values else None,
        "train_loss_last": train_values[-1] if train_values else None,
        "validation_loss_before": eval_values[0] if config.eval_before_training and eval_values else None,
        "validation_loss_best": best if best_step is not None else None,
        "best_checkpoint": f"step {best_step}" if best_step is not None else None,
        "train_seconds": round(train_seconds, 1), "seconds_per_step": round(train_seconds / step, 2),
        "samples_per_second": round(tokens["samples"] / train_seconds, 3) if train_seconds else None,
        "loss_tokens_per_second": round(tokens["loss"] / train_seconds, 1) if train_seconds else None,
        "tokens_per_second": round(tokens["total"] / train_seconds, 1) if train_seconds else None,
        "resumed_from": None, "wall_seconds": round(time.perf_counter() - started, 1),
        "adapter_dir": str(adapter_dir), "loss_curves": str(curves) if curves else None,
        "metrics": str(metrics_path), "config": to_jsonable(config),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"lean trainer: split at layer {split}, levers {summary['levers']}", file=sys.stderr)
    return FinetuneResult(run_dir, adapter_dir, base, backend, precision, history, summary)
