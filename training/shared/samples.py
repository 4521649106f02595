"""Training samples: reading a JSONL split, and rendering + tokenising each sample exactly as the agent does.

Each sample's text is rendered exactly as the agent renders it at inference: Meta's layout for Llama 3.x models, the
model's own chat template otherwise (`agent.messages`). The prompt is every message but the last, followed by the
generation prompt; the completion is the target's content and the template's end-of-turn marker, so the model also
learns to stop. Both are tokenised the way the agent's backend tokenises (special tokens parsed, no extra BOS).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.messages import ROLES, ChatTemplate, Message, is_llama3_template, render_llama3


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
