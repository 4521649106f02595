"""Settings of the training stages (fine-tune, export) and how they are read: flags, a config file, or both.

Every stage reads its settings from dataclasses with help text. `parse_sections` builds one command line from one or
more of them (each as an argument group, optionally with a flag prefix) and lets `--config FILE` (JSON, YAML or TOML)
supply values first; flags given on the command line win. A config file is flat (`{"lora_r": 8}`) or has one table
per section (`[finetune]` / `[export]` / `[dataset]`).

Artifacts go under $TRAINING_OUTPUT_DIR (default `runs/`), so nothing is written into the source tree by accident.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


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
        "help": "trl: TRL's SFTTrainer. lean: a small exact loop (training/lean_trainer.py) that runs the frozen lower "
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
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in OUTPUT_DIR/checkpoints (weights, optimiser, schedule, data "
                "order), e.g. after an interrupted CPU run."})


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


# ------------------------------------------------------------------------------------------------- config files

def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON, YAML or TOML file as a dict; a clear error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            raise SystemExit(f"{path}: unknown config format {suffix!r}; use .json, .yaml/.yml or .toml")
    except (ValueError, ImportError) as exc:  # json/toml/yaml parse errors are ValueError subclasses or YAMLError
        raise SystemExit(f"{path}: could not parse: {exc}") from None
    except Exception as exc:  # yaml.YAMLError is not a ValueError
        raise SystemExit(f"{path}: could not parse: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of setting names to values at the top level")
    return data


# ------------------------------------------------------------------------------------------------- flags

@dataclass(frozen=True)
class Section:
    """One settings dataclass on a combined command line: its name (a config-file table) and flag prefix."""

    name: str
    cls: type
    prefix: str = ""
    exclude: tuple[str, ...] = ()  # fields the caller sets itself (no flag)
    defaults: dict[str, Any] = field(default_factory=dict)  # this command's defaults, where they differ

    def default(self, f: dataclasses.Field) -> Any:
        if f.name in self.defaults:
            value = self.defaults[f.name]
            return value() if callable(value) else value
        return field_default(f)

    def key(self, field_name: str) -> str:
        """The flag's name without dashes, which is also its flat key in a config file."""
        return self.prefix.replace("-", "_") + field_name

    def flag(self, field_name: str) -> str:
        return "--" + self.key(field_name).replace("_", "-")


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def field_converter(annotation: Any, name: str):
    """(function from text or a config-file value to the field's value, choices) for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"field {name!r}: only `X | None` unions can be flags, got {annotation!r}")
        convert, choices = field_converter(inner[0], name)

        def optional(text):
            if text is None or (isinstance(text, str) and text.lower() in ("none", "null", "")):
                return None
            return convert(text)

        return optional, choices
    if origin is Literal:
        values = typing.get_args(annotation)
        return type(values[0]), list(values)
    if annotation is bool:
        return _to_bool, None
    if annotation in (str, int, float, Path):
        return annotation, None
    raise TypeError(f"field {name!r}: unsupported setting type {annotation!r}; "
                    "use str, int, float, bool, Path, Literal")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _init_fields(section: Section):
    hints = typing.get_type_hints(section.cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(section.cls) if f.init and f.name not in section.exclude]


def _with_default(help_text: str, default: Any) -> str:
    """The help text and the default, unless the text already says what the default is."""
    if default is None or "(default" in help_text:
        return help_text
    return f"{help_text} (default: {default})"


def build_parser(sections: Sequence[Section], description: str | None = None,
                 prog: str | None = None) -> argparse.ArgumentParser:
    """One parser, one argument group per section, one flag per dataclass field (help from its metadata).

    A field that an earlier section already has (same flag) is shared: one flag sets both, e.g. the base model of
    the fine-tune and of the export."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="Read settings from a JSON, YAML or TOML file first; flags override it.")
    seen = set()
    for section in sections:
        group = parser.add_argument_group(f"{section.name} settings", section.cls.__doc__)
        for f, annotation in _init_fields(section):
            key = section.key(f.name)
            if key in seen:
                continue
            seen.add(key)
            default = section.default(f)
            help_text = f.metadata.get("help", "").replace("%", "%%")  # argparse %-formats help strings
            if annotation is bool:
                group.add_argument(section.flag(f.name), dest=key, default=None,
                                   action=argparse.BooleanOptionalAction, help=_with_default(help_text, default))
                continue
            convert, choices = field_converter(annotation, f.name)
            group.add_argument(section.flag(f.name), dest=key, type=convert, choices=choices, default=None,
                               metavar=None if choices else f.name.upper(), help=_with_default(help_text, default))
    return parser


def parse_sections(sections: Sequence[Section], argv: Sequence[str] | None = None,
                   description: str | None = None, prog: str | None = None) -> dict[str, Any]:
    """Parse flags (and `--config FILE`) into one dataclass instance per section, keyed by section name.

    Precedence: a flag on the command line, then the config file (its section table, then its flat keys), then the
    field's default."""
    parser = build_parser(sections, description, prog)
    flags = vars(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))
    from_file = load_config_file(flags["config"]) if flags.get("config") else {}
    section_names = {s.name for s in sections}
    tables = {name: from_file.get(name) or {} for name in section_names if isinstance(from_file.get(name), dict)}
    flat = {k: v for k, v in from_file.items() if k not in tables}

    known_flat, known_in_table = set(), {name: set() for name in section_names}
    result = {}
    for section in sections:
        values = {}
        table = tables.get(section.name, {})
        for f, annotation in _init_fields(section):
            key = section.key(f.name)
            known_flat.add(key)
            known_in_table[section.name].add(f.name)
            value = flags.get(key)
            if value is None:
                raw = table.get(f.name, flat.get(key))
                if raw is not None:
                    convert, choices = field_converter(annotation, f.name)
                    try:
                        value = convert(raw)
                    except (TypeError, ValueError) as exc:
                        parser.error(f"config file: bad value for {key!r}: {exc}")
                    if choices and value not in choices:
                        parser.error(f"config file: {key!r} must be one of {choices}, not {value!r}")
            if value is None and f.name in section.defaults:
                value = section.default(f)
            if value is not None:
                values[f.name] = value
        result[section.name] = section.cls(**values)

    unknown = [k for k in flat if k not in known_flat]
    unknown += [f"{name}.{k}" for name, table in tables.items() for k in table if k not in known_in_table[name]]
    if unknown:
        parser.error(f"config file {flags['config']}: unknown settings {sorted(unknown)}")
    return result


def to_jsonable(config: Any) -> dict[str, Any]:
    """A settings dataclass as a JSON-ready dict (paths as strings), for summaries."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()}
