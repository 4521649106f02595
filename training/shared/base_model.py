"""Where a base model comes from (catalogue name, GGUF file, Hugging Face folder or Hub id) and how it is loaded.

A GGUF base (the embedded SmolLM2) is dequantised into a transformers model on load, and saved once as a Hugging Face
folder under $TRAINING_OUTPUT_DIR/base-models/ for the converters that need one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from training.config import output_root


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
