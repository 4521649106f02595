"""What the chat shows is inert: model text and tool results cannot inject HTML, and stats read as numbers."""

from agent.events import Notice, ToolCallFinished, ToolCallStarted, TurnStats
from agent.format import ToolCall
from ui import render


def test_html_in_model_text_is_escaped_but_code_is_left_as_written():
    text = 'Hi <script>alert(1)</script> & `a<b` then\n```python\nif x < 3:\n    print("<ok>")\n```\n<img src=x>'
    shown = render.inert_markdown(text)
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "&amp;" in shown
    assert "`a<b`" in shown  # inline code renders verbatim, so it is not escaped twice
    assert 'if x < 3:\n    print("<ok>")' in shown
    assert shown.endswith("&lt;img src=x&gt;")


def test_an_unclosed_code_fence_keeps_the_rest_verbatim_and_a_closed_one_ends_it():
    assert render.inert_markdown("```\n<b>") == "```\n<b>"
    assert render.inert_markdown("```\nx\n```\n<b>") == "```\nx\n```\n&lt;b&gt;"


def test_a_tool_result_cannot_close_its_code_block():
    block = render.format_result({"text": "``` <script>x</script> ````"})
    fence = block.splitlines()[0].removesuffix("json")
    assert len(fence) == 5 and block.endswith("\n" + fence)
    assert block.count(fence) == 2


def test_a_tool_call_goes_from_pending_to_done_with_its_duration_and_result():
    call = ToolCall("get_current_weather", {"location": "Oslo <b>"})
    pending = render.tool_pending_message(ToolCallStarted(call, 0), "t0")
    done = render.tool_done_message(ToolCallFinished(call, 0, {"temperature_c": 3.5}, 0.1234, True), "t0")
    assert pending["metadata"]["title"] == '🔧 `get_current_weather(location="Oslo <b>")`'
    assert pending["metadata"]["status"] == "pending"
    assert done["metadata"]["status"] == "done" and done["metadata"]["duration"] == 0.123
    assert done["metadata"]["id"] == pending["metadata"]["id"]
    assert '"temperature_c": 3.5' in done["content"] and "log" not in done["metadata"]
    failed = render.tool_done_message(ToolCallFinished(call, 0, {"error": "boom"}, 0.0, False), "t0")
    assert failed["metadata"]["log"] == "error"


def test_a_call_title_is_a_code_span_that_backticks_in_arguments_cannot_close():
    title = render.tool_call_title(ToolCall("search_wikipedia", {"query": "a`b``c"}))
    assert title == '🔧 ```search_wikipedia(query="a`b``c")```'


def test_turn_stats_show_calls_tokens_cache_reuse_and_times():
    stats = TurnStats(llm_calls=2, tool_calls=1, prompt_tokens=900, cached_tokens=850, completion_tokens=40,
                      time_to_first_token_s=0.5, total_s=1.25)
    line = render.stats_line(stats)
    assert line == ("2 LLM calls · 1 tool call · prompt 900 tok (50 evaluated, 850 reused from cache) · 40 generated"
                    " · first token 0.50 s · total 1.25 s")
    message = render.stats_message(stats, "Small <model>")
    assert message["metadata"]["title"] == "📊 Small &lt;model&gt; · " + line
    assert "Small &lt;model&gt;" in message["content"]
    header = message["content"].splitlines()[0]
    assert all(cell.strip() for cell in header.strip("|").split("|")), f"an empty header cell: {header}"


def test_the_stats_count_tool_calls_run_failed_and_refused_apart_and_show_the_call_probability():
    stats = TurnStats(llm_calls=2, tool_calls=2, tool_calls_failed=1, tool_calls_refused=1, total_s=1.0)
    line = render.stats_line(stats, "M", first_visible_s=0.25, call_probability=0.973)
    assert line.startswith("M · 2 LLM calls · 3 tool calls (1 failed, 1 refused) · calls a tool: 97% · prompt ")
    assert "first token 0.25 s" in line
    assert render.percent(0.004) == "<1%" and render.percent(0.996) == ">99%" and render.percent(0.0) == "0%"


def test_a_failed_tool_call_says_why_in_its_title_as_literal_text():
    call = ToolCall("get_current_weather", {"location": "Atlantis"})
    failed = render.tool_done_message(ToolCallFinished(call, 0, {"error": "no place <b>*Atlantis*</b>\nfound"}, 0.2,
                                                       False), "t0")
    title = failed["metadata"]["title"]
    assert title == ('🔧 `get_current_weather(location="Atlantis")` · ❌ **failed**: '
                     '_no place \\<b\\>\\*Atlantis\\*\\</b\\> found_')
    refused = render.tool_done_message(ToolCallFinished(call, 0, {"error": "unknown argument"}, 0.0, False), "t0")
    assert refused["metadata"]["title"].endswith("❌ **not run**: _unknown argument_")


def test_a_notice_is_shown_as_its_own_escaped_message():
    message = render.notice_message(Notice("3 oldest <messages> were left out"))
    assert message["content"] == "ℹ️ _3 oldest &lt;messages&gt; were left out_"


def test_message_text_reads_our_messages_and_gradio_normalised_ones():
    assert render.message_text({"content": "hi"}) == "hi"
    assert render.message_text({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}) == "ab"
