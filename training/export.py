"""GGUF export of a fine-tuned LoRA adapter: the adapter alone, and the merged model as f16, q8_0 and Q4_K_M.

    python -m training.export --run-dir runs/funccall/model
    python -m training.export --run-dir runs/funccall/model --quantizations Q4_K_M --no-lora --push-to-hub me/smol-fc

The conversion uses llama.cpp's own scripts (`convert_lora_to_gguf.py`, `convert_hf_to_gguf.py`) with the `gguf-py`
that ships beside them, taken from the source distribution of the *installed* llama-cpp-python, so the files match
the llama.cpp that loads them. The sdist is fetched from PyPI once (`pip download`) and cached under
~/.cache/toolcall-agent/; `--llama-cpp-dir` points at a llama.cpp checkout instead. Quantisation runs in-process
through `llama_cpp.llama_model_quantize`, so no compiled llama-quantize is needed.

Both converters read the base model as a Hugging Face folder; a GGUF base (the embedded SmolLM2) is dequantised and
saved to one once (`training.finetune.base_model_folder`). Every file written is checked with `models.gguf` before
this command reports success.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from stage_cli import Section, run_stage
from training.config import ExportConfig, parse_stage, to_jsonable

CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")  # written by convert_hf_to_gguf.py directly
CACHE_NAME = "toolcall-agent"


class ExportError(RuntimeError):
    """An export step failed; the message says which and how to fix it."""


# ------------------------------------------------------------------------------------------------- converters

@dataclass(frozen=True)
class LlamaCppScripts:
    """llama.cpp's Python converters and the gguf-py package they must run with."""

    root: Path

    @property
    def convert_hf(self) -> Path:
        return self.root / "convert_hf_to_gguf.py"

    @property
    def convert_lora(self) -> Path:
        return self.root / "convert_lora_to_gguf.py"

    @property
    def gguf_py(self) -> Path:
        return self.root / "gguf-py"

    def check(self) -> LlamaCppScripts:
        for path in (self.convert_hf, self.convert_lora, self.gguf_py / "gguf" / "__init__.py"):
            if not path.exists():
                raise ExportError(f"{self.root} is not a llama.cpp checkout: {path.name} is missing")
        return self


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / CACHE_NAME


def installed_llama_cpp_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        raise ExportError("llama-cpp-python is not installed: pip install -r requirements.txt") from None


def _wanted(member: tarfile.TarInfo, prefix: str) -> bool:
    """The converter scripts, their `conversion` package and gguf-py: a few MB of a 75 MB source tree."""
    if not member.name.startswith(prefix):
        return False
    rest = member.name[len(prefix):]
    return (rest.endswith(".py") and "/" not in rest) or rest.startswith(("conversion/", "gguf-py/"))


def fetch_converters(version: str | None = None) -> LlamaCppScripts:
    """The converters of llama-cpp-python `version` (default: the installed one), from the cache or from PyPI."""
    version = version or installed_llama_cpp_version()
    root = cache_dir() / f"llama-cpp-python-{version}" / "llama.cpp"
    done = root / ".complete"
    if done.is_file():
        return LlamaCppScripts(root).check()
    print(f"Fetching llama.cpp's converters from the llama-cpp-python {version} sdist (PyPI, once) ...",
          file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "-d", tmp, f"llama-cpp-python=={version}"]
        completed = subprocess.run(command, capture_output=True, text=True)
        archives = sorted(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if completed.returncode != 0 or not archives:
            raise ExportError(f"could not download the llama-cpp-python {version} sdist from PyPI:\n"
                              f"{completed.stderr[-2000:]}\nor give --llama-cpp-dir (a llama.cpp checkout)")
        prefix = f"{archives[0].name[:-len('.tar.gz')]}/vendor/llama.cpp/"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                if member.isfile() and _wanted(member, prefix):
                    member.name = member.name[len(prefix):]
                    archive.extract(member, root, filter="data")
    scripts = LlamaCppScripts(root).check()
    done.write_text(version + "\n")  # written last: its presence means the extraction completed
    return scripts


def converters(llama_cpp_dir: str | os.PathLike | None = None) -> LlamaCppScripts:
    if llama_cpp_dir:
        return LlamaCppScripts(Path(llama_cpp_dir).expanduser()).check()
    return fetch_converters()


def run_converter(scripts: LlamaCppScripts, script: Path, args: Sequence[str], log_path: Path) -> None:
    """Run a converter with the gguf-py beside it first on PYTHONPATH (not PyPI's gguf, which may lag behind)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(scripts.gguf_py), str(scripts.root), env.get("PYTHONPATH", "")])
    env.pop("NO_LOCAL_GGUF", None)  # it would make the converters skip their own gguf-py
    # The converter runs from its own folder, so every path handed to it must be absolute.
    command = [sys.executable, str(script), *(str(a.resolve()) if isinstance(a, Path) else str(a) for a in args)]
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=scripts.root)
    if completed.returncode != 0:
        tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-25:])
        raise ExportError(f"{script.name} failed (exit {completed.returncode}); the end of {log_path}:\n{tail}")


# ------------------------------------------------------------------------------------------------- steps

def export_lora(scripts: LlamaCppScripts, adapter_dir: Path, base_folder: Path, out: Path, log: Path) -> Path:
    """The PEFT adapter as a GGUF LoRA adapter (f16)."""
    run_converter(scripts, scripts.convert_lora,
                  [adapter_dir, "--base", base_folder, "--outfile", out, "--outtype", "f16"], log)
    return out


def merge_adapter(base, adapter_dir: Path, out_folder: Path) -> Path:
    """Base + adapter merged into plain weights, saved as a Hugging Face folder (f16) for the converter."""
    import torch
    from peft import PeftModel

    from training.shared.base_model import load_causal_lm, load_tokenizer

    model = load_causal_lm(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged = merged.to(torch.float16)
    merged.save_pretrained(out_folder)
    load_tokenizer(base).save_pretrained(out_folder)
    return out_folder


def convert_merged(scripts: LlamaCppScripts, merged_folder: Path, out: Path, outtype: str, log: Path) -> Path:
    run_converter(scripts, scripts.convert_hf, [merged_folder, "--outfile", out, "--outtype", outtype], log)
    return out


def quantize(source: Path, out: Path, quant_type: str, threads: int | None = None) -> Path:
    """A llama.cpp quantisation (Q4_K_M, Q5_K_M, Q6_K, ...) of an f16/f32 GGUF, in-process."""
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant_type.upper()}", None)
    if ftype is None:
        raise ExportError(f"unknown quantisation {quant_type!r}; use one of f16, bf16, f32, q8_0 or a llama.cpp type "
                          "such as Q4_K_M, Q5_K_M, Q6_K")
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or 0
    llama_log = logging.getLogger("llama-cpp-python")  # llama.cpp's C log, one line per tensor
    level = llama_log.level
    llama_log.setLevel(logging.ERROR)
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params)
    finally:
        llama_log.setLevel(level)
    if status != 0:
        raise ExportError(f"llama_model_quantize {source.name} -> {quant_type} failed (status {status})")
    return out


def push_to_hub(repo_id: str, files: Sequence[Path], private: bool, card: str) -> str:
    """Upload the files (and a model card) to a Hub model repository; the token comes from HF_TOKEN."""
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ExportError("set HF_TOKEN (a write token) to push to the Hub")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    for path in files:
        print(f"Uploading {path.name} to {repo_id} ...", file=sys.stderr)
        api.upload_file(path_or_fileobj=str(path), path_in_repo=path.name, repo_id=repo_id)
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id)
    return str(url)


# ------------------------------------------------------------------------------------------------- the stage

@dataclass
class ExportResult:
    export_dir: Path
    lora_path: Path | None = None
    merged_paths: dict[str, Path] = field(default_factory=dict)
    hub_url: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def locate_run(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """(adapter directory, the run's summary or {}) for a run directory or a bare PEFT adapter directory."""
    run_dir = Path(run_dir)
    for adapter_dir in (run_dir / "adapter", run_dir):
        if (adapter_dir / "adapter_config.json").is_file():
            summary_path = adapter_dir.parent / "summary.json" if adapter_dir != run_dir else run_dir / "summary.json"
            summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
            return adapter_dir, summary
    raise ExportError(f"{run_dir}: no adapter found (expected {run_dir / 'adapter' / 'adapter_config.json'}); "
                      "fine-tune first: python -m training.finetune")


def default_name(base_short_name: str, run_dir: Path) -> str:
    run_name = run_dir.parent.name if run_dir.name in ("model", "adapter") else run_dir.name
    return f"{base_short_name}-{run_name}"


def model_card(name: str, base_spec: str, summary: dict[str, Any], files: Sequence[Path]) -> str:
    lines = [f"# {name}", "", f"A LoRA fine-tune of `{base_spec}` for tool calling in the Llama 3.2 function-calling "
             "format, exported to GGUF for llama.cpp.", "", "| file | size |", "|---|---|"]
    lines += [f"| `{p.name}` | {p.stat().st_size / 2**20:.1f} MiB |" for p in files]
    if summary:
        lines += ["", f"Training: {summary.get('train_samples')} samples, {summary.get('steps')} steps, validation "
                  f"loss {summary.get('validation_loss_before')} -> {summary.get('validation_loss_best')}."]
    return "\n".join(lines) + "\n"


def export(config: ExportConfig) -> ExportResult:
    """Write the GGUF files the config asks for; each is checked with `models.gguf` before it is reported."""
    from tqdm.auto import tqdm

    from models.gguf import check_lora_file
    from training.shared.base_model import base_model_folder, resolve_base_model

    started = time.perf_counter()
    adapter_dir, run_summary = locate_run(Path(config.run_dir))
    base_spec = base_model_spec(config, adapter_dir, run_summary)
    base = resolve_base_model(base_spec)
    name = config.name or default_name(base.short_name, Path(config.run_dir))
    export_dir = Path(config.export_dir or Path(config.run_dir) / "gguf")
    export_dir.mkdir(parents=True, exist_ok=True)
    log = export_dir / "export.log"
    log.write_text("")

    quant_types = [q.strip() for q in config.quantizations.split(",") if q.strip()] if config.merged else []
    steps = ["converters", "base folder"] + (["lora"] if config.lora else []) + (["merge"] if quant_types else []) \
        + quant_types
    result = ExportResult(export_dir)
    with tqdm(total=len(steps), desc="export", unit="step") as progress:
        def step(label: str):
            progress.set_postfix_str(label)

        step("llama.cpp converters")
        scripts = converters(config.llama_cpp_dir)
        progress.update()
        step("base model folder")
        base_folder = base_model_folder(base)
        progress.update()

        if config.lora:
            step("LoRA adapter")
            out = export_lora(scripts, adapter_dir, base_folder, export_dir / f"{name}-lora.gguf", log)
            if base.gguf_path:
                check_lora_file(out, base.gguf_path)
            result.lora_path = out
            progress.update()

        if quant_types:
            result.merged_paths.update(export_merged(scripts, base, adapter_dir, export_dir, name, quant_types, log,
                                                     progress))

    files = ([result.lora_path] if result.lora_path else []) + list(result.merged_paths.values())
    if config.push_to_hub:
        result.hub_url = push_to_hub(config.push_to_hub, files, config.private,
                                     model_card(name, base_spec, run_summary, files))
    result.summary = {
        "base_model": base_spec,
        "base_model_gguf": str(base.gguf_path) if base.gguf_path else None,
        "adapter_dir": str(adapter_dir),
        "lora_gguf": str(result.lora_path) if result.lora_path else None,
        "merged_gguf": {k: str(v) for k, v in result.merged_paths.items()},
        "sizes_mib": {p.name: round(p.stat().st_size / 2**20, 1) for p in files},
        "llama_cpp_scripts": str(scripts.root),
        "hub_url": result.hub_url,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "config": to_jsonable(config),
    }
    (export_dir / "export_summary.json").write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    return result


def base_model_spec(config: ExportConfig, adapter_dir: Path, run_summary: dict[str, Any]) -> str:
    """The base model: `--base-model`, else the run's summary, else the adapter's config."""
    base_spec = config.base_model or run_summary.get("base_model")
    if not base_spec:
        adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text())
        base_spec = adapter_config.get("base_model_name_or_path")
    if not base_spec:
        raise ExportError("the base model is unknown; give --base-model")
    return base_spec


def export_merged(scripts: LlamaCppScripts, base, adapter_dir: Path, export_dir: Path, name: str,
                  quant_types: list[str], log: Path, progress) -> dict[str, Path]:
    """The adapter merged into the base model, written as one checked GGUF per quantisation type asked for."""
    from models.gguf import check_model_file

    paths: dict[str, Path] = {}
    progress.set_postfix_str("merge")
    merged_folder = export_dir / "merged-hf"
    merge_adapter(base, adapter_dir, merged_folder)
    progress.update()
    f16 = export_dir / f"{name}-f16.gguf"
    for quant_type in quant_types:
        progress.set_postfix_str(quant_type)
        if quant_type.lower() in CONVERTER_TYPES:
            out = convert_merged(scripts, merged_folder, export_dir / f"{name}-{quant_type.lower()}.gguf",
                                 quant_type.lower(), log)
        else:
            if not f16.is_file():
                convert_merged(scripts, merged_folder, f16, "f16", log)
            out = quantize(f16, export_dir / f"{name}-{quant_type}.gguf", quant_type)
        check_model_file(out)
        paths[quant_type] = out
        progress.update()
    if f16.is_file() and "f16" not in [q.lower() for q in quant_types]:
        f16.unlink()  # only the source of the quantisations, not asked for
    shutil.rmtree(merged_folder, ignore_errors=True)
    return paths


def print_summary(summary: dict[str, Any], file=None) -> None:
    lines = [f"Exported GGUF files in {summary['wall_seconds']:.0f} s"]
    if summary["lora_gguf"]:
        base = summary["base_model_gguf"] or summary["base_model"]
        lines.append(f"  LoRA adapter    {summary['lora_gguf']}  (apply to {base})")
    for quant_type, path in summary["merged_gguf"].items():
        lines.append(f"  merged {quant_type:<8} {path}  ({summary['sizes_mib'][Path(path).name]} MiB)")
    if summary["hub_url"]:
        lines.append(f"  Hub             {summary['hub_url']}")
    print("\n".join(lines), file=file)


def parse_args(argv: Sequence[str] | None = None) -> ExportConfig:
    """The export's settings from flags and `--config RECIPE` (its [export] table; the others are skipped)."""
    return parse_stage([Section("export", ExportConfig)], argv, description=__doc__,
                       prog="python -m training.export")["export"]


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage(export, parse_args(argv), (ExportError, FileNotFoundError, ValueError), print_summary)


if __name__ == "__main__":
    sys.exit(main())
