"""OpenAI-compatible backend (the `openai` SDK): the agent against llama-server, llama-cpp-python's server, vLLM.

Two ways to send a conversation. With a `prompt_renderer` (the CLI builds one from the catalogue model's GGUF:
`agent.backends.load.prompt_renderer`), the backend renders the prompt exactly as the in-process backend does and
streams `/v1/completions`: tool results arrive in the role the model was trained on (`ipython`), which chat endpoints
such as llama-cpp-python's refuse. Without one, it streams `/v1/chat/completions` and the server applies its own
chat template; tool results go with `tool_role` (a per-model catalogue setting, default `ipython`), and a server that
refuses that role gets an error naming the setting. Token usage comes from the server
(`stream_options.include_usage`); a server that reports none leaves the counts unknown, never 0.

Decoding controls (agent/backends/base.py): a server that honours llama.cpp's `grammar` field (llama-server,
`python -m llama_cpp.server`; probed once with a one-token request) gets the call grammar, combined with free prose;
a reply that must not open a call gets a grammar that forbids the opening. Other servers decode unconstrained, and the
backend says so once (`self.notices`). The probability of a call at the first token is not read from servers.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence

from agent.backends.base import BackendError, GenerationParams, Usage
from agent.messages import Message
from agent.redaction import redact

# The first character of a reply that would open a call in the pythonic format (`[f(...)]`) or Meta's python tag.
_PROSE_GRAMMAR = r'''root ::= prose
prose ::= [^\[<\x00] [^\x00]*
'''


def combined_grammar(call_grammar: str) -> str:
    """A whole-reply grammar for a server: a call under `call_grammar`, or prose that does not open like one."""
    renamed = re.sub(r"(?m)^root\s*::=", "call-root ::=", call_grammar, count=1)
    if renamed == call_grammar:
        raise ValueError("the call grammar has no root rule")
    return "root ::= call-root | prose\nprose ::= [^\\[<\\x00] [^\\x00]*\n" + renamed


class OpenAICompatibleLLM:
    """Streams `/v1/chat/completions` from an OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, context_length: int = 8192,
                 timeout_s: float = 120.0, tool_role: str = "ipython", name: str | None = None,
                 grammar: str = "auto", prompt_renderer: Callable[[Sequence[Message]], str] | None = None):
        if grammar not in ("auto", "on", "off"):
            raise ValueError("grammar must be auto, on or off")
        from openai import OpenAI

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name or model
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._secret = key or None
        # The SDK insists on a key; local servers ignore it. It lives in the client only, never in errors or reprs.
        self._client = OpenAI(base_url=self.base_url, api_key=key or "no-key", timeout=timeout_s, max_retries=0)
        self._context_length = context_length
        self.timeout_s = timeout_s
        self.tool_role = tool_role
        self._grammar_mode = grammar
        self._grammar_ok: bool | None = {"on": True, "off": False}.get(grammar)
        self.notices: list[str] = []
        self.prompt_renderer = prompt_renderer

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def context_length(self) -> int:
        return self._context_length

    def count_tokens(self, messages: Sequence[Message]) -> int:
        # The server's tokenizer is not at hand: about 4 characters per token, rounded up, is close enough to trim.
        return sum(len(m.content) // 4 + 8 for m in messages)

    def _payload_messages(self, messages: Sequence[Message]) -> list[dict[str, str]]:
        payload = []
        for index, m in enumerate(messages):
            item = {"role": self.tool_role if m.role == "ipython" else m.role, "content": m.content}
            if item["role"] == "tool":  # OpenAI's schema (and servers that validate it) wants an id per tool result
                item["tool_call_id"] = f"call_{index}"
            payload.append(item)
        return payload

    def _redact(self, text: str) -> str:
        # a server may echo the Authorization header back in its error page
        return redact(text, (self._secret,) if self._secret else ())

    def _error(self, exc: Exception) -> BackendError:
        import openai

        if isinstance(exc, openai.APIConnectionError):
            return BackendError(f"cannot reach {self.base_url}: {type(exc.__cause__ or exc).__name__}")
        if isinstance(exc, openai.APIStatusError):
            body = self._redact(exc.response.text[:300])
            hint = ""
            if exc.status_code in (400, 422, 500) and self.tool_role not in ("tool", "user") and self.tool_role in body:
                hint = (f" (the server refused the tool-result role {self.tool_role!r}: set this model's tool_role "
                        "in models/catalogue.toml, or --tool-role)")
            return BackendError(f"{self.base_url} answered HTTP {exc.status_code}: {body}{hint}")
        return BackendError(self._redact(f"{self.base_url}: {type(exc).__name__}: {exc}"))

    def grammar_supported(self) -> bool:
        """Does the server honour llama.cpp's `grammar` field? Asked once: a one-token reply forced to be `Q`."""
        if self._grammar_ok is None:
            import openai

            probe = {"model": self.model, "max_tokens": 1, "temperature": 0.0,
                     "extra_body": {"grammar": 'root ::= "Q"'}}
            try:
                if self.prompt_renderer is not None:
                    reply = self._client.completions.create(
                        prompt=self.prompt_renderer([Message("user", "Say hello.")]), **probe)
                    text = reply.choices[0].text
                else:
                    reply = self._client.chat.completions.create(
                        messages=[{"role": "user", "content": "Say hello."}], **probe)
                    text = reply.choices[0].message.content
                self._grammar_ok = (text or "").strip() == "Q"
            except openai.OpenAIError:
                self._grammar_ok = False
            if not self._grammar_ok:
                self.notices.append(f"{self.base_url} does not take a grammar: tool calls are decoded unconstrained.")
        return self._grammar_ok

    def _grammar_for(self, params: GenerationParams) -> str | None:
        never_call = params.call_threshold is not None and params.call_threshold > 1
        if not (never_call or params.call_grammar) or self._grammar_mode == "off" or not self.grammar_supported():
            return None
        return _PROSE_GRAMMAR if never_call else combined_grammar(params.call_grammar)

    def _open(self, messages: Sequence[Message], request: dict):
        """Start the streamed request. A chat endpoint that refuses the `ipython` role (llama-cpp-python's server:
        a validation error) gets the conversation again with role `tool`, and the user is told once."""
        import openai

        if self.prompt_renderer is not None:
            return self._client.completions.create(prompt=self.prompt_renderer(messages), **request)
        try:
            return self._client.chat.completions.create(messages=self._payload_messages(messages), **request)
        except openai.APIStatusError as exc:
            # llama-cpp-python's server answers a role it does not know with HTTP 500 and a validation error.
            body = exc.response.text
            refused = exc.status_code in (400, 422, 500) and self.tool_role == "ipython" and "'ipython'" in body
            if not refused or not any(m.role == "ipython" for m in messages):
                raise
        self.tool_role = "tool"
        self.notices.append(f"{self.base_url} refuses the tool-result role 'ipython', so tool results go as role "
                            "'tool', which a model trained on ipython may misread. Pass --model NAME so the prompt is "
                            "rendered here exactly as the model was trained.")
        return self._client.chat.completions.create(messages=self._payload_messages(messages), **request)

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        import openai

        extra_body = {}
        grammar = self._grammar_for(params)
        if grammar:
            extra_body["grammar"] = grammar
        request = dict(
            model=self.model,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=list(params.stop)[:4],  # OpenAI allows at most 4 stop strings
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra_body or None,
        )
        if params.seed is not None:
            request["seed"] = params.seed
        start, first = time.perf_counter(), None
        usage = Usage(token_counts_known=False)
        try:
            chunks = self._open(messages, request)
            with chunks:
                for chunk in chunks:
                    for choice in chunk.choices or []:
                        text = _choice_text(choice)
                        if text:
                            first = first or time.perf_counter()
                            yield text
                        if choice.finish_reason:
                            usage.finish_reason = "length" if choice.finish_reason == "length" else "stop"
                    if chunk.usage:
                        usage.token_counts_known = True
                        usage.prompt_tokens = chunk.usage.prompt_tokens or 0
                        usage.completion_tokens = chunk.usage.completion_tokens or 0
                        details = chunk.usage.prompt_tokens_details
                        usage.cached_tokens = (details.cached_tokens or 0) if details else 0
                    timings = (chunk.model_extra or {}).get("timings")  # llama-server's own counters
                    if timings:
                        usage.cached_tokens = timings.get("cache_n", usage.cached_tokens)
                        usage.prompt_eval_s = timings.get("prompt_ms", 0) / 1000
                        usage.decode_s = timings.get("predicted_ms", 0) / 1000
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        usage.duration_s = time.perf_counter() - start
        usage.time_to_first_token_s = (first or time.perf_counter()) - start
        yield usage


def _choice_text(choice) -> str | None:
    """The new text of a streamed choice: `delta.content` from chat completions, `text` from text completions."""
    delta = getattr(choice, "delta", None)
    return delta.content if delta is not None else getattr(choice, "text", None)
