"""Chat messages and their rendering to a model's wire format.

Roles are Meta's: `system`, `user`, `assistant`, and `ipython` for tool results. An assistant message that calls tools
holds the call text exactly as the model wrote it (`[get_weather(city="Oslo")]`), so a conversation re-rendered for the
next LLM call starts with the very tokens the model already has in its KV cache.

Llama 3.x models get Meta's layout from `render_llama3`; every other model is rendered by its own GGUF chat template
(`ChatTemplate`) with the same messages, system prompt and call syntax.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from jinja2.sandbox import ImmutableSandboxedEnvironment

Role = Literal["system", "user", "assistant", "ipython"]
ROLES = ("system", "user", "assistant", "ipython")


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {ROLES}")
        if not isinstance(self.content, str):
            raise TypeError(f"message content must be str, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(role=data["role"], content=data["content"])


def tool_result_message(result: Any) -> Message:
    """A tool result as the `ipython` message the model reads (JSON, as in Meta's docs)."""
    return Message("ipython", json.dumps(result, ensure_ascii=False))


def as_messages(items: Iterable[Message | dict[str, Any]]) -> list[Message]:
    return [m if isinstance(m, Message) else Message.from_dict(m) for m in items]


# ---------------------------------------------------------------------------------------------------- Llama 3 layout

LLAMA3_BOS = "<|begin_of_text|>"
LLAMA3_STOPS = ("<|eot_id|>", "<|eom_id|>")


def render_llama3(messages: Iterable[Message], add_generation_prompt: bool = True) -> str:
    """Meta's Llama 3.x prompt: header tokens, `ipython` role for tool results, `<|eot_id|>` after each message."""
    parts = [LLAMA3_BOS]
    for message in messages:
        parts.append(f"<|start_header_id|>{message.role}<|end_header_id|>\n\n{message.content}<|eot_id|>")
    if add_generation_prompt:
        parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def is_llama3_template(template: str | None) -> bool:
    return bool(template) and "<|start_header_id|>" in template


class ChatTemplate:
    """A GGUF/Hugging Face jinja chat template, rendered in a sandbox."""

    def __init__(self, template: str, bos_token: str = "", eos_token: str = ""):
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_template_error
        self.template = env.from_string(template)
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: Iterable[Message], add_generation_prompt: bool = True) -> str:
        return self.template.render(
            messages=[m.to_dict() for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )


def _raise_template_error(message: str):
    raise ValueError(f"chat template error: {message}")
