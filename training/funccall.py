"""The function-calling fine-tune end to end: generate the dataset, train a LoRA adapter, export GGUF files.

    python -m training.funccall                                       # SmolLM2-135M, the default dataset, 3 epochs
    python -m training.funccall --dataset-size 3000 --num-epochs 2 --batch-size 8 --max-length 2048 \\
        --lora-r 16 --lora-alpha 32 --learning-rate 2e-4
    python -m training.funccall --stages finetune,export --dataset-dir runs/funccall/data   # an existing dataset
    python -m training.funccall --config funccall.toml                # [dataset] / [finetune] / [export] tables

Each stage also runs alone: `python -m training.dataset`, `python -m training.finetune`, `python -m training.export`.
Artifacts go under $TRAINING_OUTPUT_DIR/funccall/ (default runs/funccall/): data/, model/ (adapter, curves, summary)
and model/gguf/ (the GGUF adapter and merged models).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stage_cli import Section
from training.config import ExportConfig, FinetuneConfig, parse_stage

STAGES = ("generate", "finetune", "export")  # finetome.py calls its first stage "prepare"


@dataclass
class PipelineConfig:
    """Which stages `python -m training.funccall` runs."""

    stages: str = field(default="generate,finetune,export", metadata={
        "help": "Comma-separated stages to run, in order: the data (generate, or prepare for FineTome), finetune, "
                "export."})


def pipeline_sections() -> list[Section]:
    from training.dataset.generate import DatasetConfig

    return [
        Section("pipeline", PipelineConfig),
        # The dataset is written where the fine-tune reads it (--dataset-dir), so it has no output flag of its own.
        Section("dataset", DatasetConfig, prefix="dataset_", exclude=("out",)),
        Section("finetune", FinetuneConfig),
        # The export reads the fine-tune's run directory; --base-model is shared with the fine-tune.
        Section("export", ExportConfig, exclude=("run_dir",)),
    ]


def parse_stages(text: str, known: Sequence[str] = STAGES) -> list[str]:
    stages = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in stages if s not in known]
    if unknown or not stages:
        raise SystemExit(f"unknown stages {unknown}; choose from {', '.join(known)}")
    return [s for s in known if s in stages]


def generate(sections: dict, out: Path) -> dict:
    """The synthetic function-calling dataset, written to `out`."""
    from training.dataset.generate import build, write

    dataset_config = sections["dataset"]
    dataset_config.out = out
    splits, stats = build(dataset_config)
    write(splits, stats, out)
    counts = {split: len(samples) for split, samples in splits.items()}
    print(f"Dataset: {counts} samples in {out}", file=sys.stderr)
    return counts


def run(sections: dict, prepare=generate, known_stages: Sequence[str] = STAGES) -> dict:
    """Run the chosen stages (`prepare(sections, dataset_dir)` writes the data); returns what each produced."""
    from training import export as export_stage
    from training import finetune as finetune_stage

    started = time.perf_counter()
    stages = parse_stages(sections["pipeline"].stages, known_stages)
    finetune_config: FinetuneConfig = sections["finetune"]
    export_config: ExportConfig = sections["export"]
    export_config.run_dir = finetune_config.output_dir
    if export_config.base_model is None:
        export_config.base_model = finetune_config.base_model
    report: dict = {"stages": stages}
    if known_stages[0] in stages:
        report["dataset"] = prepare(sections, Path(finetune_config.dataset_dir))
    if "finetune" in stages:
        result = finetune_stage.fine_tune(finetune_config)
        finetune_stage.print_summary(result.summary)
        report["finetune"] = result.summary
    if "export" in stages:
        result = export_stage.export(export_config)
        export_stage.print_summary(result.summary)
        report["export"] = result.summary
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    return report


def parse_args(argv: Sequence[str] | None = None, sections: list[Section] | None = None,
               prog: str = "python -m training.funccall", description: str | None = None) -> dict:
    """The pipeline's settings by section (pipeline, dataset, finetune, export) from flags and `--config RECIPE`."""
    return parse_stage(sections or pipeline_sections(), argv, description=description or __doc__, prog=prog)


def main(argv: Sequence[str] | None = None, sections: list[Section] | None = None, prepare=generate,
         known_stages: Sequence[str] = STAGES, prog: str = "python -m training.funccall",
         description: str | None = None) -> int:
    from training.export import ExportError
    from training.shared.samples import DatasetError

    parsed = parse_args(argv, sections, prog, description)
    try:
        report = run(parsed, prepare, known_stages)
    except (DatasetError, ExportError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(parsed["finetune"].output_dir)
    if out.is_dir():
        (out / "pipeline_summary.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Done in {report['wall_seconds'] / 60:.1f} min: stages {', '.join(report['stages'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
