"""OpenAI-compatible HTTP backend: the same agent against llama.cpp's `llama-server`, vLLM or Ollama.

The server applies its own chat template. Tool results go as role `tool` (which Llama 3.x templates render as
`ipython`) unless `tool_role="ipython"` is asked for; assistant tool calls go as their plain text.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence

import requests

from agent.backends.base import BackendError, GenerationParams, Usage
from agent.messages import Message


class OpenAICompatibleLLM:
    """Streams `/v1/chat/completions` from an OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, context_length: int = 8192,
                 timeout_s: float = 120.0, tool_role: str = "tool", name: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name or model
        # The key is kept on the session only: it never appears in errors or reprs.
        self._session = requests.Session()
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if key:
            self._session.headers["Authorization"] = f"Bearer {key}"
        self._secret = key or None
        self._context_length = context_length
        self.timeout_s = timeout_s
        self.tool_role = tool_role

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def context_length(self) -> int:
        return self._context_length

    def count_tokens(self, messages: Sequence[Message]) -> int:
        # The server's tokenizer is not at hand: about 4 characters per token, rounded up, is close enough to trim.
        return sum(len(m.content) // 4 + 8 for m in messages)

    def _payload_messages(self, messages: Sequence[Message]) -> list[dict[str, str]]:
        return [{"role": self.tool_role if m.role == "ipython" else m.role, "content": m.content} for m in messages]

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        payload = {
            "model": self.model,
            "messages": self._payload_messages(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop)[:4],  # OpenAI allows at most 4 stop strings
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            payload["seed"] = params.seed
        start = time.perf_counter()
        first = None
        usage = Usage()
        try:
            response = self._session.post(f"{self.base_url}/chat/completions", json=payload, stream=True,
                                          timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise BackendError(f"cannot reach {self.base_url}: {type(exc).__name__}") from None
        with response:
            if response.status_code != 200:
                body = response.text[:200]
                if self._secret:  # a server may echo the Authorization header back in its error page
                    body = body.replace(self._secret, "[redacted]")
                raise BackendError(f"{self.base_url} answered HTTP {response.status_code}: {body}")
            for line in response.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    raise BackendError(f"{self.base_url} sent a malformed stream event") from None
                for choice in event.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        first = first or time.perf_counter()
                        yield text
                if event.get("usage"):
                    u = event["usage"]
                    usage.prompt_tokens = u.get("prompt_tokens", 0)
                    usage.completion_tokens = u.get("completion_tokens", 0)
                    usage.cached_tokens = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0
                timings = event.get("timings")  # llama-server's own counters
                if timings:
                    usage.cached_tokens = timings.get("cache_n", usage.cached_tokens)
                    usage.prompt_eval_s = timings.get("prompt_ms", 0) / 1000
                    usage.decode_s = timings.get("predicted_ms", 0) / 1000
        usage.duration_s = time.perf_counter() - start
        usage.time_to_first_token_s = (first or time.perf_counter()) - start
        yield usage
