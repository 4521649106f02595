"""LoRA fine-tuning with TRL's SFTTrainer, the loss on the completion (the assistant's target) only.

    python -m training.finetune --dataset-dir runs/funccall/data --base-model smollm2-135m --num-epochs 3
    python -m training.finetune --config my_run.toml --max-steps 200 --batch-size 4 --lora-r 8

Each sample is rendered and tokenised exactly as the agent renders it at inference (`training.shared.samples`) and
handed to TRL as `input_ids` + `completion_mask`. `--trainer lean` trains the same LoRA on the same loss with a small
exact loop instead (`training.lean.trainer`: frozen lower layers run once and cached, shared prefix, padding-free,
loss-only logits; see docs/training.md).

Backends: unsloth on a CUDA GPU when it is importable (`pip install -r requirements-gpu.txt`), else transformers +
PEFT (`use_cpu` without a GPU). A GGUF base model (the embedded SmolLM2) is dequantised into a transformers model.
The run directory gets the adapter, checkpoints, `metrics.jsonl`, `loss_curves.png` and `summary.json`; `--resume`
continues an interrupted run from its last checkpoint.

On a CPU, fp32 is the fast choice unless the CPU has native bf16 (AVX512-BF16/AMX): elsewhere bf16 matmuls are
emulated (measured ~15x slower than fp32 on this project's 2-core AVX2 machine), so `--precision auto` picks fp32.
A step costs about one forward and one backward pass over every token, prompt included (the completion attends to
it); `--lora-last-layers N` stops backpropagation at the lowest adapted layer (measured 2.2x faster with 8 of 30).
`python -m training.throughput` measures each lever.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stage_cli import Section, run_stage
from training.config import FinetuneConfig, parse_stage, to_jsonable
from training.shared.base_model import resolve_base_model
from training.shared.curves import make_metrics_callback, plot_loss_curves
from training.shared.hardware import choose_backend, choose_precision, cpu_report, cpu_threads
from training.shared.lora import load_model_for_training
from training.shared.result import FinetuneResult, first_last
from training.shared.samples import ChatRenderer, DatasetError, load_splits, tokenize_samples

# ------------------------------------------------------------------------------------------------- training

def sft_arguments(config: FinetuneConfig, run_dir: Path, precision: str, on_gpu: bool):
    """TRL's settings for this run: completion-only loss, validation + checkpoint every `eval_steps` (or epoch),
    the best checkpoint loaded at the end."""
    from trl import SFTConfig

    strategy = "steps" if config.eval_steps > 0 else "epoch"
    return SFTConfig(
        output_dir=str(run_dir / "checkpoints"),
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup,
        weight_decay=config.weight_decay,
        max_length=config.max_length,
        completion_only_loss=True,  # labels are -100 wherever completion_mask is 0
        eval_strategy=strategy,
        eval_steps=config.eval_steps or None,
        save_strategy=strategy,
        save_steps=config.eval_steps or None,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not on_gpu,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        # Recomputing activations saves memory a small model on a big machine does not need, at ~20% more time
        # (unsloth checkpoints in its own way, set in get_peft_model).
        **{_checkpointing_flag(): False},
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )


def fine_tune(config: FinetuneConfig, callbacks: Sequence[Any] = ()) -> FinetuneResult:
    """Train a LoRA adapter on `config.dataset_dir`; returns where it went and what the losses did."""
    started = time.perf_counter()
    train_samples, eval_samples = load_splits(config.dataset_dir, config.max_train_samples, config.max_eval_samples)
    base = resolve_base_model(config.base_model)
    backend = choose_backend(config.backend)
    precision = choose_precision(config.precision)
    on_gpu = backend == "unsloth" or _cuda()

    import torch

    if not on_gpu:
        torch.set_num_threads(cpu_threads(config.threads))
    print(f"Base model {base.spec} ({base.source}: {base.location}); backend {backend}, "
          f"{'GPU' if on_gpu else f'CPU x{torch.get_num_threads()} threads'}, {precision}", file=sys.stderr)
    from transformers import set_seed

    set_seed(config.seed)  # the LoRA weights' initialisation too: the same seed trains the same adapter
    model, tokenizer = load_model_for_training(config, base, backend, precision)
    train_rows, eval_rows, dropped = tokenized_splits(config, train_samples, eval_samples, tokenizer)

    if config.trainer == "lean":
        from training.lean.selection import call_opening_ids
        from training.lean.trainer import train_lean

        return train_lean(config, base, backend, precision, model, train_rows, eval_rows, dropped, started,
                          call_openings=call_opening_ids(tokenizer))
    return train_trl(config, base, backend, precision, on_gpu, model, tokenizer, train_rows, eval_rows, dropped,
                     started, callbacks)


def tokenized_splits(config: FinetuneConfig, train_samples, eval_samples, tokenizer
                     ) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(train rows, validation rows, samples dropped per split) as the agent renders them; a split with no sample
    that fits in `--max-length` is a `DatasetError`."""
    renderer = ChatRenderer.from_tokenizer(tokenizer)
    train_rows, train_dropped = tokenize_samples(train_samples, renderer, tokenizer, config.max_length, "train")
    eval_rows, eval_dropped = tokenize_samples(eval_samples, renderer, tokenizer, config.max_length, "validation")
    if train_dropped or eval_dropped:
        print(f"Dropped {train_dropped} training and {eval_dropped} validation samples longer than "
              f"{config.max_length} tokens (raise --max-length to keep them)", file=sys.stderr)
    if not train_rows or not eval_rows:
        raise DatasetError(f"no {'training' if not train_rows else 'validation'} sample fits in --max-length "
                           f"{config.max_length}")
    return train_rows, eval_rows, {"train": train_dropped, "validation": eval_dropped}


def train_trl(config: FinetuneConfig, base, backend: str, precision: str, on_gpu: bool, model, tokenizer,
              train_rows: list[dict], eval_rows: list[dict], dropped: dict[str, int], started: float,
              callbacks: Sequence[Any] = ()) -> FinetuneResult:
    """Train with TRL's SFTTrainer (best checkpoint by validation loss); saves the adapter, curves and summary."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    title = f"LoRA r={config.lora_r} on {base.short_name}: {Path(config.dataset_dir).name}"
    resume_from = last_checkpoint(run_dir / "checkpoints") if config.resume else None
    if config.resume and resume_from is None:
        print(f"No checkpoint in {run_dir / 'checkpoints'}; starting from the beginning", file=sys.stderr)
    metrics = make_metrics_callback(run_dir, title, int(resume_from.name.split("-")[-1]) if resume_from else None)
    args = sft_arguments(config, run_dir, precision, on_gpu)
    callbacks = [metrics, *callbacks]
    if config.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(config.early_stopping_patience, config.early_stopping_threshold))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    if config.eval_before_training and resume_from is None:
        trainer.evaluate()
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    # The best checkpoint was loaded at the end; its validation loss is known unless no validation ran yet.
    best_eval_loss = trainer.state.best_metric
    if best_eval_loss is None:
        best_eval_loss = trainer.evaluate().get("eval_loss")

    adapter_dir = run_dir / "adapter"
    trainer.save_model(str(adapter_dir))
    curves = plot_loss_curves(metrics.history, run_dir / "loss_curves.png", title)
    summary = trl_summary(config, base, backend, precision, on_gpu, trainer, train_output.metrics, metrics,
                          resume_from, train_rows, eval_rows, dropped, best_eval_loss, started, adapter_dir, curves)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return FinetuneResult(run_dir, adapter_dir, base, backend, precision, metrics.history, summary)


def trl_summary(config: FinetuneConfig, base, backend: str, precision: str, on_gpu: bool, trainer,
                train_metrics: dict[str, Any], metrics, resume_from: Path | None, train_rows: list[dict],
                eval_rows: list[dict], dropped: dict[str, int], best_eval_loss: float | None, started: float,
                adapter_dir: Path, curves: Path | None) -> dict[str, Any]:
    """What `summary.json` holds for a TRL run."""
    import torch

    history = metrics.history
    first_train, last_train = first_last(history, "loss")
    first_eval, _ = first_last(history, "eval_loss")
    steps = trainer.state.global_step
    steps_run = steps - (int(resume_from.name.split("-")[-1]) if resume_from else 0)
    train_seconds = train_metrics.get("train_runtime", 0.0)
    return {
        "base_model": base.spec,
        "base_model_source": base.source,
        "base_model_location": base.location,
        "backend": backend,
        "precision": precision,
        "threads": None if on_gpu else torch.get_num_threads(),
        "cpu": None if on_gpu else cpu_report(),
        "train_samples": len(train_rows),
        "validation_samples": len(eval_rows),
        "dropped_too_long": dropped,
        "completion_tokens": sum(sum(r["completion_mask"]) for r in train_rows),
        "total_tokens": sum(len(r["input_ids"]) for r in train_rows),
        "steps": steps,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "stopped_early": bool(config.max_steps <= 0 and trainer.state.epoch
                              and trainer.state.epoch < config.num_epochs - 1e-6),
        "train_loss_first": first_train,
        "train_loss_last": last_train,
        "validation_loss_before": first_eval if config.eval_before_training else None,
        "validation_loss_best": best_eval_loss,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / steps_run, 2) if steps_run else None,
        "resumed_from": str(resume_from) if resume_from else None,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "adapter_dir": str(adapter_dir),
        "loss_curves": str(curves) if curves else None,
        "metrics": str(metrics.path),
        "config": to_jsonable(config),
    }


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete `checkpoint-N` in `folder`, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return Path(get_last_checkpoint(str(folder))) if folder.is_dir() and get_last_checkpoint(str(folder)) else None


def _checkpointing_flag() -> str:
    """transformers 5.x renamed `gradient_checkpointing` to `activation_checkpointing` (the old name warns)."""
    import dataclasses

    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def print_summary(summary: dict[str, Any], file=None) -> None:
    def loss(value):
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

    lines = [
        f"Fine-tuned {summary['base_model']} with {summary['backend']} ({summary['precision']})",
        f"  samples         {summary['train_samples']} train, {summary['validation_samples']} validation",
        f"  steps           {summary['steps']} ({summary['epochs']} epochs"
        f"{', stopped early' if summary['stopped_early'] else ''})",
        f"  training loss   {loss(summary['train_loss_first'])} -> {loss(summary['train_loss_last'])}",
        f"  validation loss {loss(summary['validation_loss_before'])} -> {loss(summary['validation_loss_best'])}"
        " (best)",
        f"  time            {summary['wall_seconds']:.0f} s wall, {summary['seconds_per_step'] or 0:.2f} s/step",
        f"  throughput      {summary.get('samples_per_second') or '-'} samples/s, "
        f"{summary.get('loss_tokens_per_second') or '-'} loss tokens/s, {summary.get('tokens_per_second') or '-'} "
        "tokens/s",
        f"  adapter         {summary['adapter_dir']}",
        f"  loss curves     {summary['loss_curves']}",
        f"  summary         {Path(summary['adapter_dir']).parent / 'summary.json'}",
    ]
    print("\n".join(lines), file=file)


def parse_args(argv: Sequence[str] | None = None) -> FinetuneConfig:
    """The fine-tune's settings from flags and `--config RECIPE` (its [finetune] table; the others are skipped)."""
    sections = [Section("finetune", FinetuneConfig)]
    return parse_stage(sections, argv, description=__doc__, prog="python -m training.finetune")["finetune"]


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage(fine_tune, parse_args(argv), (DatasetError, FileNotFoundError, ValueError), print_summary)


if __name__ == "__main__":
    sys.exit(main())
