"""The base model with fresh LoRA weights (or a saved adapter's, `--init-adapter`), for both trainers: unsloth on a
CUDA GPU, else transformers + PEFT."""

from __future__ import annotations

import sys

from training.config import FinetuneConfig
from training.shared.base_model import BaseModel, base_model_folder, load_causal_lm, load_tokenizer

LLAMA_LIKE_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


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
    model = get_peft_model(model, lora)
    if config.init_adapter:
        load_adapter_weights(model, config.init_adapter)
    return model, tokenizer


def load_adapter_weights(model, folder) -> None:
    """Copy a saved PEFT adapter's LoRA weights into `model` (fresh LoRA of the same shape); every tensor must fit."""
    from pathlib import Path

    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = Path(folder) / "adapter_model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"--init-adapter: no adapter_model.safetensors in {folder} "
                                "(a run's OUTPUT_DIR/adapter)")
    weights = load_file(str(path))
    wanted = {name for name, p in model.named_parameters() if "lora_" in name}
    try:
        result = set_peft_model_state_dict(model, weights)
    except RuntimeError as exc:  # a tensor of another shape (another rank, another model)
        raise ValueError(f"--init-adapter {folder} does not fit this LoRA (r, layers, modules): "
                         f"{str(exc).splitlines()[-1].strip()}") from None
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in (getattr(result, "missing_keys", []) or []) if "lora_" in k]
    if unexpected or missing or not wanted:
        raise ValueError(f"--init-adapter {folder} does not fit this LoRA (r, layers, modules): "
                         f"{len(unexpected)} unexpected and {len(missing)} missing tensors, e.g. "
                         f"{(unexpected or missing)[:2]}")
    print(f"LoRA weights initialised from {folder} ({len(weights)} tensors)", file=sys.stderr)


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
