"""LoRA fine-tuning with TRL's SFTTrainer, the loss on the completion (the assistant's target) only.

    python -m training.finetune --dataset-dir runs/funccall/data --base-model smollm2-135m --num-epochs 3
    python -m training.finetune --config my_run.toml --max-steps 200 --batch-size 4 --lora-r 8

Each sample's text is rendered exactly as the agent renders it at inference: Meta's layout for Llama 3.x models, the
model's own chat template otherwise (`agent.messages`), with the same system prompt, call syntax and tool results.
The prompt is every message but the last, followed by the generation prompt; the completion is the target's content
and the template's end-of-turn marker, so the model also learns to stop. Both are tokenised here, the way the agent's
backend tokenises (special tokens parsed, no extra BOS), and handed to TRL as `input_ids` + `completion_mask`.

Backends: unsloth on a CUDA GPU when it is importable (`pip install -r requirements-gpu.txt`), else transformers +
PEFT (`use_cpu` without a GPU). A GGUF base model (the embedded SmolLM2) is dequantised into a transformers model.
The run directory gets the adapter, checkpoints, `metrics.jsonl`, `loss_curves.png` and `summary.json`; `--resume`
continues an interrupted run from its last checkpoint.

On a CPU, fp32 is the fast choice unless the CPU has native bf16 (AVX512-BF16/AMX): elsewhere bf16 matmuls are
emulated (measured ~15x slower than fp32 on this project's 2-core AVX2 machine), so `--precision auto` picks fp32.
A step costs about one forward and one backward pass over every token, prompt included (the completion attends to
it); `--lora-last-layers N` stops backpropagation at the lowest adapted layer (measured 2.2x faster with 8 of 30).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.messages import ROLES, ChatTemplate, Message, is_llama3_template, render_llama3
from training.config import FinetuneConfig, Section, output_root, parse_sections, to_jsonable

LLAMA_LIKE_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class DatasetError(ValueError):
    """A dataset file that cannot be trained on; the message says which file, which line, and what is wrong."""


# ------------------------------------------------------------------------------------------------- samples

def read_samples(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The samples of one JSONL split, each checked: a `messages` list of known roles ending with the target."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found; build the dataset first (python -m training.dataset --out "
                           f"{path.parent}) or give --dataset-dir")
    samples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc.msg}); expected one sample object per line") \
                    from None
            messages = sample.get("messages") if isinstance(sample, dict) else None
            if not isinstance(messages, list) or len(messages) < 2:
                raise DatasetError(f"{path}:{number}: a sample needs a `messages` list with a prompt and a target")
            for message in messages:
                if not isinstance(message, dict) or message.get("role") not in ROLES \
                        or not isinstance(message.get("content"), str):
                    raise DatasetError(f"{path}:{number}: bad message {str(message)[:80]!r}; each needs a role in "
                                       f"{ROLES} and string content")
            if messages[-1]["role"] != "assistant":
                raise DatasetError(f"{path}:{number}: the last message must be the assistant's target, "
                                   f"not {messages[-1]['role']!r}")
            samples.append(sample)
    if not samples:
        raise DatasetError(f"{path}: no samples")
    return samples


def load_splits(dataset_dir: str | os.PathLike, max_train: int | None = None,
                max_eval: int | None = None) -> tuple[list[dict], list[dict]]:
    """(train, validation) samples from `train.jsonl` and `validation.jsonl` in `dataset_dir`."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir}: dataset directory not found; build it with "
                           f"`python -m training.dataset --out {dataset_dir}` or give --dataset-dir")
    train = read_samples(dataset_dir / "train.jsonl")[:max_train]
    validation = read_samples(dataset_dir / "validation.jsonl")[:max_eval]
    return train, validation


# ------------------------------------------------------------------------------------------------- rendering

@dataclass(frozen=True)
class ChatRenderer:
    """The agent's renderer for one model: Meta's Llama 3 layout, or the model's jinja chat template."""

    chat_template: str | None
    bos_token: str = ""
    eos_token: str = ""

    @property
    def is_llama3(self) -> bool:
        return is_llama3_template(self.chat_template)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> ChatRenderer:
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):  # several named templates: the agent uses the default one
            template = template.get("default")
        if not template:
            raise DatasetError(f"{getattr(tokenizer, 'name_or_path', 'the model')} has no chat template; fine-tune "
                               "an instruct model (the agent renders prompts with the model's own template)")
        return cls(template, tokenizer.bos_token or "", tokenizer.eos_token or "")

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The text `LlamaCppLLM.render` produces for these messages."""
        if self.is_llama3:
            return render_llama3(messages, add_generation_prompt)
        return ChatTemplate(self.chat_template, self.bos_token, self.eos_token).render(messages, add_generation_prompt)

    def prompt_and_completion(self, messages: Sequence[Message | dict]) -> tuple[str, str]:
        """(prompt, completion): the agent's prompt for all but the last message, and the target as the model
        should write it, ending with the template's end-of-turn marker."""
        messages = [m if isinstance(m, Message) else Message.from_dict(m) for m in messages]
        *context, target = messages
        prompt = self.render(context, add_generation_prompt=True)
        full = self.render(messages, add_generation_prompt=False)
        if not full.startswith(prompt):
            raise DatasetError("this chat template renders a finished conversation differently from the prompt "
                               "the model continues at inference; prompt/completion training cannot match it")
        rest = full[len(prompt):]
        content = target.content if rest.startswith(target.content) else target.content.strip()
        if not rest.startswith(content):
            raise DatasetError(f"the chat template changes the assistant's text; cannot find {content[:60]!r} "
                               f"right after the prompt in {rest[:120]!r}")
        end_of_turn = rest[len(content):].rstrip()  # `<|im_end|>\n` -> `<|im_end|>`: generation stops there
        if not end_of_turn:
            raise DatasetError("the chat template writes no end-of-turn marker after the assistant's message")
        return prompt, content + end_of_turn


def tokenize_sample(renderer: ChatRenderer, tokenizer, messages: Sequence[Message | dict]) -> dict[str, list[int]]:
    """`input_ids` and a `completion_mask` (1 on the target's tokens), tokenised as the llama.cpp backend does:
    the prompt alone (the model generates from its last token), special tokens parsed, no BOS added."""
    prompt, completion = renderer.prompt_and_completion(messages)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return {"input_ids": prompt_ids + completion_ids,
            "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids)}


def tokenize_samples(samples: Sequence[dict], renderer: ChatRenderer, tokenizer, max_length: int,
                     desc: str = "tokenising") -> tuple[list[dict[str, list[int]]], int]:
    """Tokenised samples no longer than `max_length`, and how many were longer (dropped: cutting a sample would
    cut its target, or train on a prompt the agent never sends)."""
    from tqdm.auto import tqdm

    rows, too_long = [], 0
    for sample in tqdm(samples, desc=desc, unit="sample", leave=False):
        row = tokenize_sample(renderer, tokenizer, sample["messages"])
        if len(row["input_ids"]) > max_length:
            too_long += 1
            continue
        rows.append(row)
    return rows, too_long


# ------------------------------------------------------------------------------------------------- base models

@dataclass(frozen=True)
class BaseModel:
    """Where the base model's weights come from: a GGUF file (dequantised on load) or a transformers model."""

    spec: str  # what the user gave
    source: str  # "gguf" or "transformers"
    location: str  # GGUF file path, local folder or Hub id

    @property
    def gguf_path(self) -> Path | None:
        return Path(self.location) if self.source == "gguf" else None

    @property
    def short_name(self) -> str:
        name = self.spec if "/" not in self.spec and not self.spec.endswith(".gguf") else Path(self.location).stem
        return name.split("/")[-1]


def resolve_base_model(spec: str) -> BaseModel:
    """A catalogue name, a .gguf file, a Hugging Face folder or a Hub id, as a `BaseModel`; clear errors for the
    rest."""
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise FileNotFoundError(f"base model {spec}: file not found")
        from models.gguf import check_model_file

        check_model_file(path)
        return BaseModel(spec, "gguf", str(path.resolve()))
    if path.is_dir():
        if (path / "config.json").is_file():
            return BaseModel(spec, "transformers", str(path.resolve()))
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return resolve_base_model(str(ggufs[0]))
        raise FileNotFoundError(f"base model {spec}: folder has no config.json (a Hugging Face model) and not "
                                f"exactly one .gguf file")
    from models.catalogue import load_catalogue, resolve

    catalogue = load_catalogue()
    if spec in catalogue:
        resolved = resolve(spec, catalogue)
        if resolved.lora_path is not None:
            raise ValueError(f"base model {spec} is itself an adapter; fine-tune its base {catalogue[spec].base!r}")
        return BaseModel(spec, "gguf", str(resolved.model_path))
    if spec.count("/") == 1 and not path.exists():
        return BaseModel(spec, "transformers", spec)  # a Hub id, downloaded by transformers
    raise FileNotFoundError(f"base model {spec!r}: not a catalogue name ({', '.join(catalogue)}), a .gguf file, a "
                            "model folder or a Hub id (owner/name)")


def drop_gguf_quantizer(model) -> None:
    """A model loaded from GGUF is already dequantised; forget the GGUF "quantizer" so that PEFT, the Trainer and
    `save_pretrained` treat it as the plain model it is."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def load_tokenizer(base: BaseModel):
    from transformers import AutoTokenizer

    if base.source == "gguf":
        tokenizer = AutoTokenizer.from_pretrained(str(base.gguf_path.parent), gguf_file=base.gguf_path.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(base.location)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(base: BaseModel, dtype=None):
    """The base as a transformers model on the CPU (GGUF weights dequantised)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    if base.source == "gguf":
        model = AutoModelForCausalLM.from_pretrained(str(base.gguf_path.parent), gguf_file=base.gguf_path.name,
                                                     dtype=dtype)
        drop_gguf_quantizer(model)
    else:
        model = AutoModelForCausalLM.from_pretrained(base.location, dtype=dtype)
    return model


def base_model_folder(base: BaseModel) -> Path:
    """A Hugging Face folder of the base model (what llama.cpp's converters and unsloth read). A GGUF base is
    dequantised and saved once under $TRAINING_OUTPUT_DIR/base-models/."""
    if base.source == "transformers":
        if Path(base.location).is_dir():
            return Path(base.location)
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(base.location))
    stat = base.gguf_path.stat()
    folder = output_root() / "base-models" / f"{base.gguf_path.stem}-{stat.st_size:x}"
    done = folder / "complete"
    if done.is_file():
        return folder
    print(f"Saving the dequantised base {base.gguf_path.name} to {folder} (once)", file=sys.stderr)
    model = load_causal_lm(base)
    model.save_pretrained(folder)
    load_tokenizer(base).save_pretrained(folder)
    done.write_text(str(base.gguf_path) + "\n")  # written last: its presence means the folder is complete
    return folder


# ------------------------------------------------------------------------------------------------- hardware

def choose_backend(requested: str) -> str:
    """`unsloth` (CUDA GPU and unsloth importable) or `transformers`."""
    import importlib.util

    import torch

    if requested == "transformers":
        return "transformers"
    gpu = torch.cuda.is_available()
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if requested == "unsloth" and not (gpu and has_unsloth):
        raise SystemExit("backend unsloth needs a CUDA GPU and `pip install -r requirements-gpu.txt`; "
                         "use --backend transformers")
    return "unsloth" if gpu and has_unsloth else "transformers"


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPUs on which bf16 autocast is faster than fp32, not emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def choose_precision(requested: str) -> str:
    import torch

    if requested != "auto":
        if requested == "bf16" and not torch.cuda.is_available() and not cpu_has_native_bf16():
            print("warning: this CPU has no native bf16 (AVX512-BF16/AMX); bf16 matmuls are emulated and measured "
                  "~15x slower than fp32 here. Use --precision fp32 (or auto).", file=sys.stderr)
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def cpu_threads(requested: int | None) -> int:
    if requested:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------------- model + LoRA

def target_module_list(config: FinetuneConfig) -> str | list[str]:
    if config.target_modules == "all-linear":
        return "all-linear"
    return [name.strip() for name in config.target_modules.split(",") if name.strip()]


def load_model_for_training(config: FinetuneConfig, base: BaseModel, backend: str, precision: str):
    """(PEFT model with fresh LoRA weights, tokenizer) for the chosen backend."""
    if backend == "unsloth":
        from unsloth import FastLanguageModel  # imported before transformers/trl touch the model: it patches them

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(base_model_folder(base)), max_seq_length=config.max_length, dtype=None,
            load_in_4bit=config.load_in_4bit)
        targets = target_module_list(config)
        model = FastLanguageModel.get_peft_model(
            model, r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=list(LLAMA_LIKE_MODULES) if targets == "all-linear" else targets, bias="none",
            use_gradient_checkpointing="unsloth", random_state=config.seed,
            layers_to_transform=last_layers(model.config, config.lora_last_layers))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return model, tokenizer

    import torch
    from peft import LoraConfig, get_peft_model

    # fp32 master weights; bf16/fp16 is applied by autocast in the Trainer
    model = load_causal_lm(base, dtype=torch.float32)
    tokenizer = load_tokenizer(base)
    targets = target_module_list(config)
    if targets == "all-linear" and config.lora_last_layers:
        targets = linear_module_names(model)  # PEFT takes a layer subset only with named modules
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM",
                      layers_to_transform=last_layers(model.config, config.lora_last_layers))
    return get_peft_model(model, lora), tokenizer


def linear_module_names(model) -> list[str]:
    """The names of the model's linear layers inside its transformer blocks (what `all-linear` means)."""
    import torch

    output = model.get_output_embeddings()
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear) and module is not output})


def last_layers(model_config, count: int | None) -> list[int] | None:
    """Indices of the last `count` transformer layers (None: every layer)."""
    if not count:
        return None
    total = model_config.num_hidden_layers
    if not 0 < count <= total:
        raise ValueError(f"--lora-last-layers must be between 1 and {total} (the model's layer count), not {count}")
    return list(range(total - count, total))


# ------------------------------------------------------------------------------------------------- curves

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
    axes.legend()
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


# ------------------------------------------------------------------------------------------------- training

@dataclass
class FinetuneResult:
    run_dir: Path
    adapter_dir: Path
    base_model: BaseModel
    backend: str
    precision: str
    history: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


def _first_last(history, key) -> tuple[float | None, float | None]:
    values = [h[key] for h in history if key in h]
    return (values[0], values[-1]) if values else (None, None)


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
    model, tokenizer = load_model_for_training(config, base, backend, precision)
    renderer = ChatRenderer.from_tokenizer(tokenizer)

    train_rows, train_dropped = tokenize_samples(train_samples, renderer, tokenizer, config.max_length, "train")
    eval_rows, eval_dropped = tokenize_samples(eval_samples, renderer, tokenizer, config.max_length, "validation")
    if train_dropped or eval_dropped:
        print(f"Dropped {train_dropped} training and {eval_dropped} validation samples longer than "
              f"{config.max_length} tokens (raise --max-length to keep them)", file=sys.stderr)
    if not train_rows or not eval_rows:
        raise DatasetError(f"no {'training' if not train_rows else 'validation'} sample fits in --max-length "
                           f"{config.max_length}")

    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    title = f"LoRA r={config.lora_r} on {base.short_name}: {Path(config.dataset_dir).name}"
    resume_from = last_checkpoint(run_dir / "checkpoints") if config.resume else None
    if config.resume and resume_from is None:
        print(f"No checkpoint in {run_dir / 'checkpoints'}; starting from the beginning", file=sys.stderr)
    metrics = make_metrics_callback(run_dir, title, int(resume_from.name.split("-")[-1]) if resume_from else None)
    strategy = "steps" if config.eval_steps > 0 else "epoch"
    args = SFTConfig(
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

    history = metrics.history
    first_train, last_train = _first_last(history, "loss")
    first_eval, _ = _first_last(history, "eval_loss")
    steps = trainer.state.global_step
    steps_run = steps - (int(resume_from.name.split("-")[-1]) if resume_from else 0)
    train_seconds = train_output.metrics.get("train_runtime", 0.0)
    summary = {
        "base_model": base.spec,
        "base_model_source": base.source,
        "base_model_location": base.location,
        "backend": backend,
        "precision": precision,
        "threads": None if on_gpu else torch.get_num_threads(),
        "train_samples": len(train_rows),
        "validation_samples": len(eval_rows),
        "dropped_too_long": {"train": train_dropped, "validation": eval_dropped},
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
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return FinetuneResult(run_dir, adapter_dir, base, backend, precision, history, summary)


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


def print_summary(summary: dict[str, Any], file=sys.stdout) -> None:
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
        f"  adapter         {summary['adapter_dir']}",
        f"  loss curves     {summary['loss_curves']}",
        f"  summary         {Path(summary['adapter_dir']).parent / 'summary.json'}",
    ]
    print("\n".join(lines), file=file)


def main(argv: Sequence[str] | None = None) -> int:
    sections = [Section("finetune", FinetuneConfig)]
    config = parse_sections(sections, argv, description=__doc__, prog="python -m training.finetune")["finetune"]
    try:
        result = fine_tune(config)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(result.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
