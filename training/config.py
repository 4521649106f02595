"""Settings of the training stages (fine-tune, export), and where their artifacts go.

Each stage reads these dataclasses from flags and `--config FILE` through `stage_cli.parse_sections`
(transformers.HfArgumentParser): one flag per field, its help text from the metadata. A recipe file
(training/recipes/*.toml) has one table per section (`[pipeline]` / `[dataset]` / `[finetune]` / `[export]`); a stage
skips the tables of the others, so every stage reads the same recipe.

Artifacts go under $TRAINING_OUTPUT_DIR (default `runs/`), so nothing is written into the source tree by accident.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from stage_cli import Section


# The tables of a training recipe; a stage skips those that are not its own.
RECIPE_TABLES = ("pipeline", "dataset", "finetune", "export", "finetome", "throughput")


def output_root() -> Path:
    """Where training artifacts go: $TRAINING_OUTPUT_DIR, else `runs/` in the working directory."""
    return Path(os.environ.get("TRAINING_OUTPUT_DIR") or "runs")


@dataclass
class FinetuneConfig:
    """Settings of `python -m training.finetune` (LoRA supervised fine-tuning, loss on the completion only)."""

    dataset_dir: Path = field(default_factory=lambda: output_root() / "funccall" / "data", metadata={
        "help": "Directory with train.jsonl and validation.jsonl (samples with a `messages` list whose last message "
                "is the assistant target), as written by `python -m training.dataset`."})
    base_model: str = field(default="smollm2-135m", metadata={
        "help": "The model to adapt: a catalogue name (models/catalogue.toml), a local .gguf file (dequantised on "
                "load), a local Hugging Face folder, or a Hub model id."})
    output_dir: Path = field(default_factory=lambda: output_root() / "funccall" / "model", metadata={
        "help": "Run directory: adapter/, checkpoints, metrics.jsonl, loss_curves.png and summary.json go here."})
    num_epochs: float = field(default=3.0, metadata={"help": "Passes over the training set."})
    max_steps: int = field(default=-1, metadata={
        "help": "Stop after this many optimiser steps (overrides --num-epochs when > 0)."})
    batch_size: int = field(default=8, metadata={"help": "Samples per device batch."})
    grad_accum: int = field(default=1, metadata={"help": "Batches accumulated per optimiser step."})
    max_length: int = field(default=2048, metadata={
        "help": "Longest sample in tokens (prompt + completion); longer samples are dropped, never cut, so no "
                "target loses its end-of-turn marker."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate of the LoRA weights."})
    lr_scheduler: str = field(default="cosine", metadata={
        "help": "Learning-rate schedule (transformers names: cosine, linear, constant, constant_with_warmup ...)."})
    warmup: float = field(default=0.05, metadata={
        "help": "Warm-up: a fraction of all steps when < 1, else a number of steps."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (the update is scaled by alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    lora_last_layers: int | None = field(default=None, metadata={
        "help": "Put LoRA weights only in the last N transformer layers (default: all). Backpropagation then stops "
                "at the lowest of them, which makes a CPU step up to ~2x faster."})
    target_modules: str = field(default="all-linear", metadata={
        "help": "Layers that get LoRA weights: `all-linear` or comma-separated module names (q_proj,v_proj,...)."})
    eval_steps: int = field(default=0, metadata={
        "help": "Validate every N optimiser steps; 0 validates once per epoch."})
    logging_steps: int = field(default=5, metadata={"help": "Log the training loss every N optimiser steps."})
    early_stopping_patience: int = field(default=3, metadata={
        "help": "Stop after this many validations without a better validation loss (0: never stop early). The best "
                "checkpoint is the one kept."})
    early_stopping_threshold: float = field(default=0.0, metadata={
        "help": "How much lower the validation loss must be to count as better."})
    eval_before_training: bool = field(default=True, metadata={
        "help": "Measure the validation loss of the untouched model first (step 0 of the curve)."})
    max_train_samples: int | None = field(default=None, metadata={
        "help": "Use only the first N training samples (a quick run)."})
    max_eval_samples: int | None = field(default=None, metadata={
        "help": "Use only the first N validation samples."})
    backend: Literal["auto", "unsloth", "transformers"] = field(default="auto", metadata={
        "help": "auto: unsloth when a CUDA GPU is present and unsloth is importable, else transformers + PEFT "
                "(on the CPU when there is no GPU)."})
    precision: Literal["auto", "bf16", "fp16", "fp32"] = field(default="auto", metadata={
        "help": "auto: bf16 on a GPU that has it or a CPU with native bf16 (AVX512-BF16/AMX), fp16 on older GPUs, "
                "else fp32."})
    load_in_4bit: bool = field(default=False, metadata={
        "help": "GPU only (unsloth): load the base in 4 bit (QLoRA) to save memory."})
    threads: int | None = field(default=None, metadata={
        "help": "CPU threads for torch (default: every core this process may use)."})
    seed: int = field(default=0, metadata={"help": "Random seed (LoRA init, data order)."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept on disk (the best is never deleted)."})
    trainer: Literal["trl", "lean"] = field(default="trl", metadata={
        "help": "trl: TRL's SFTTrainer. lean: a small exact loop (training/lean/trainer.py) that runs the frozen lower "
                "layers once and uses the levers below; same completion-only loss, LoRA config and PEFT adapter."})
    cache_lower_layers: bool = field(default=True, metadata={
        "help": "lean: compute the states entering the lowest LoRA layer once per sample and keep them on disk under "
                "OUTPUT_DIR/hidden-cache (needs --lora-last-layers); later epochs and validations read them back."})
    share_prefix: bool = field(default=True, metadata={
        "help": "lean: run the tokens that every sample of a batch starts with (the system prompt) once per batch."})
    padding_free: bool = field(default=True, metadata={
        "help": "lean: run each sample at its own length (no padding) instead of one padded batch."})
    loss_logits_only: bool = field(default=True, metadata={
        "help": "lean: compute the output norm and lm_head only where a completion token is predicted."})
    group_by_prefix: bool = field(default=True, metadata={
        "help": "lean: draw each batch from samples that share their system prompt (batches in random order), so "
                "--share-prefix runs the prompt once per batch."})
    select_by: Literal["decision", "loss"] = field(default="decision", metadata={
        "help": "lean: keep the checkpoint with the best validation balanced call/answer decision accuracy (ties: "
                "lower loss), or simply the lowest validation loss; early stopping follows the same score."})
    init_adapter: Path | None = field(default=None, metadata={
        "help": "Start the LoRA weights from this PEFT adapter folder (a previous run's OUTPUT_DIR/adapter, same r and "
                "layers) instead of fresh ones: a second stage on new data. Default: fresh weights."})
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in OUTPUT_DIR/checkpoints (weights, optimiser, schedule, data "
                "order), e.g. after an interrupted CPU run; the lean trainer's is OUTPUT_DIR/lean-checkpoint.pt."})


@dataclass
class ExportConfig:
    """Settings of `python -m training.export` (GGUF files from a fine-tuned LoRA adapter)."""

    run_dir: Path = field(default_factory=lambda: output_root() / "funccall" / "model", metadata={
        "help": "Fine-tuning run directory (holds adapter/ and summary.json), or a PEFT adapter directory."})
    base_model: str | None = field(default=None, metadata={
        "help": "Base model the adapter was trained on (default: the one recorded in the run's summary.json)."})
    export_dir: Path | None = field(default=None, metadata={
        "help": "Where the GGUF files go (default: RUN_DIR/gguf)."})
    name: str | None = field(default=None, metadata={
        "help": "File name stem of the exports (default: <base model>-<run name>, e.g. smollm2-135m-funccall)."})
    lora: bool = field(default=True, metadata={"help": "Write the LoRA adapter alone as a GGUF adapter."})
    merged: bool = field(default=True, metadata={"help": "Write the merged model (base + adapter) as GGUF."})
    quantizations: str = field(default="f16,q8_0,Q4_K_M", metadata={
        "help": "Comma-separated merged-model types: f16, bf16, f32, q8_0 (by the converter) and llama.cpp "
                "quantisations such as Q4_K_M, Q5_K_M, Q6_K (by llama_cpp.llama_model_quantize)."})
    llama_cpp_dir: Path | None = field(default=None, metadata={
        "help": "A llama.cpp checkout with convert_hf_to_gguf.py and gguf-py/ (default: the converters of the "
                "installed llama-cpp-python version, fetched from PyPI once and cached)."})
    push_to_hub: str | None = field(default=None, metadata={
        "help": "Upload the GGUF files to this Hub repository (owner/name); the token is read from HF_TOKEN."})
    private: bool = field(default=True, metadata={"help": "Create the Hub repository as private."})


def to_jsonable(config: Any) -> dict[str, Any]:
    """A settings dataclass as a JSON-ready dict (paths as strings), for summaries."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()}


def parse_stage(sections: list[Section], argv=None, description: str | None = None, prog: str | None = None) -> dict:
    """A training stage's settings (one instance per section, by name) from flags and `--config RECIPE`."""
    from stage_cli import parse_sections  # HfArgumentParser: imported by the stages, not by every user of the configs

    return parse_sections(sections, argv, description=description, prog=prog, ignored_tables=RECIPE_TABLES)
