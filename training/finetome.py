"""The general instruction-following fine-tune on FineTome-100k: prepare the data, train a LoRA adapter, export GGUF.

    python -m training.finetome                                    # the first 20k conversations, 2 epochs
    python -m training.finetome --source FineTome-100k.parquet     # a local copy (.parquet, .jsonl or .json)
    python -m training.finetome --num-samples 5000 --num-epochs 1 --max-steps 500 --stages prepare,finetune

FineTome-100k (mlabonne/FineTome-100k on the Hub) is in ShareGPT form (`conversations: [{"from": "human",
"value": ...}, ...]`); each conversation is standardised to this project's `messages` (roles system / user /
assistant) and cut after its last assistant turn, which becomes the target. The rows are ordered by quality score, so
the first N are the best N; validation uses the rows right after them. The fine-tune and export are the same stages as
`python -m training.funccall` uses; artifacts go under $TRAINING_OUTPUT_DIR/finetome/ (default runs/finetome/).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage_cli import Section
from training.config import ExportConfig, FinetuneConfig, output_root
from training.funccall import PipelineConfig

HUB_DATASET = "mlabonne/FineTome-100k"
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
STAGES = ("prepare", "finetune", "export")


@dataclass
class FineTomeConfig:
    """Where FineTome comes from and how much of it `python -m training.finetome` uses."""

    source: str = field(default=HUB_DATASET, metadata={
        "help": "A Hub dataset id, or a local .parquet / .jsonl / .json file with ShareGPT `conversations`."})
    num_samples: int = field(default=20000, metadata={"help": "Training conversations: the first N of the file."})
    validation_size: int = field(default=500, metadata={"help": "Validation conversations, the N after those."})


class ShareGPTError(ValueError):
    """A row that is not a ShareGPT conversation."""


def sharegpt_to_messages(conversation: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """ShareGPT turns (`from` / `value`) as messages, cut after the last assistant turn (the target).

    Also accepts turns already in `role` / `content` form. Raises `ShareGPTError` for unknown roles, empty
    conversations or ones without a user turn before an assistant answer."""
    messages = []
    for turn in conversation:
        role = turn.get("from", turn.get("role"))
        content = turn.get("value", turn.get("content"))
        if role not in SHAREGPT_ROLES or not isinstance(content, str):
            raise ShareGPTError(f"unknown turn {str(turn)[:80]!r}")
        messages.append({"role": SHAREGPT_ROLES[role], "content": content})
    last_answer = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    messages = messages[:last_answer + 1]
    if not any(m["role"] == "user" for m in messages[:last_answer]):
        raise ShareGPTError("no user turn before the assistant's answer")
    if not messages[-1]["content"].strip():
        raise ShareGPTError("the assistant's answer is empty")
    return messages


def read_rows(source: str, limit: int) -> Iterable[dict[str, Any]]:
    """The first `limit` rows of a local file or of the Hub dataset."""
    path = Path(source).expanduser()
    if path.suffix in (".jsonl", ".json", ".parquet"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
        if path.suffix == ".parquet":
            from datasets import load_dataset

            yield from load_dataset("parquet", data_files=str(path), split=f"train[:{limit}]")
            return
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text) if path.suffix == ".json" else (json.loads(line) for line in text.splitlines()
                                                                if line.strip())
        for index, row in enumerate(rows):
            if index >= limit:
                return
            yield row
        return
    if path.exists():
        raise ValueError(f"{path}: unsupported file type; use .parquet, .jsonl or .json")
    from datasets import load_dataset

    # The Hub dataset, first rows only (datasets downloads the parquet shard once into its cache).
    yield from load_dataset(source, split=f"train[:{limit}]")


def prepare(sections: dict, out: Path) -> dict[str, int]:
    """FineTome's first rows as train.jsonl / validation.jsonl samples in `out`."""
    from tqdm.auto import tqdm

    config: FineTomeConfig = sections["finetome"]
    wanted = config.num_samples + config.validation_size
    splits: dict[str, list] = {"train": [], "validation": []}
    skipped: Counter = Counter()
    for index, row in enumerate(tqdm(read_rows(config.source, wanted), total=wanted, desc="FineTome", unit="row")):
        split = "train" if index < config.num_samples else "validation"
        conversation = row.get("conversations") or row.get("messages")
        try:
            if not conversation:
                raise ShareGPTError("no `conversations`")
            messages = sharegpt_to_messages(conversation)
        except ShareGPTError as exc:
            skipped[str(exc).split(" '")[0]] += 1
            continue
        splits[split].append({"id": f"finetome-{index}", "category": row.get("source", ""), "split": split,
                              "mode": "chat", "score": row.get("score"), "messages": messages})
    if not splits["train"] or not splits["validation"]:
        raise ShareGPTError(f"{config.source}: too few usable conversations ({len(splits['train'])} train, "
                            f"{len(splits['validation'])} validation; skipped {dict(skipped)})")
    out.mkdir(parents=True, exist_ok=True)
    for split, samples in splits.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples),
                                            encoding="utf-8")
    counts = {split: len(samples) for split, samples in splits.items()}
    (out / "stats.json").write_text(json.dumps({"source": config.source, "counts": counts,
                                                "skipped": dict(skipped)}, indent=2) + "\n", encoding="utf-8")
    print(f"FineTome: {counts} conversations in {out}" + (f"; skipped {dict(skipped)}" if skipped else ""),
          file=sys.stderr)
    return counts


def sections() -> list[Section]:
    return [
        Section("pipeline", PipelineConfig, defaults={"stages": ",".join(STAGES)}),
        Section("finetome", FineTomeConfig),
        Section("finetune", FinetuneConfig, defaults={
            "dataset_dir": lambda: output_root() / "finetome" / "data",
            "output_dir": lambda: output_root() / "finetome" / "model",
            "num_epochs": 2.0,
            "eval_steps": 200,  # 20k samples: validate within the epoch, not only after it
            "logging_steps": 10,
        }),
        Section("export", ExportConfig, exclude=("run_dir",)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    from training.funccall import main as run_pipeline

    return run_pipeline(argv, sections(), prepare, STAGES, prog="python -m training.finetome", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
