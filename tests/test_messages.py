"""Rendering to the wire format, pinned against the documented Llama 3.2 example, and the GGUF template path."""

import datetime as dt

import pytest
from jinja2.exceptions import SecurityError

from agent.messages import ChatTemplate, Message, render_llama3, tool_result_message
from agent.prompts import MODES, icl_examples, mode_system_prompt, system_prompt
from tools.base import tool

# Meta's "Zero shot function calling E2E format" example (llama_models/llama3_2/text_prompt_format.md), verbatim.
DOCUMENTED_E2E_PROMPT = '''<|begin_of_text|><|start_header_id|>system<|end_header_id|>

You are an expert in composing functions. You are given a question and a set of possible functions.
Based on the question, you will need to make one or more function/tool calls to achieve the purpose.
If none of the function can be used, point it out. If the given question lacks the parameters required by the function,
also point it out. You should only return the function call in tools call sections.

If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]
You SHOULD NOT include any other text in the response.

Here is a list of functions in JSON format that you can invoke.

[
    {
        "name": "get_weather",
        "description": "Get weather info for places",
        "parameters": {
            "type": "dict",
            "required": [
                "city"
            ],
            "properties": {
                "city": {
                    "type": "string",
                    "description": "The name of the city to get the weather for"
                },
                "metric": {
                    "type": "string",
                    "description": "The metric for weather. Options are: celsius, fahrenheit",
                    "default": "celsius"
                }
            }
        }
    }
]<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in SF?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

<|python_tag|>[get_weather(city="San Francisco", metric="celsius")]<|eot_id|><|start_header_id|>ipython<|end_header_id|>

"25 C"<|eot_id|><|start_header_id|>assistant<|end_header_id|>

'''


@tool
def get_weather(city: str, metric: str = "celsius") -> str:
    """Get weather info for places

    Args:
        city: The name of the city to get the weather for
        metric: The metric for weather. Options are: celsius, fahrenheit
    """
    return "25 C"


def test_llama32_rendering_matches_the_documented_example_exactly():
    messages = [
        Message("system", system_prompt([get_weather.spec])),
        Message("user", "What is the weather in SF?"),
        Message("assistant", '<|python_tag|>[get_weather(city="San Francisco", metric="celsius")]'),
        tool_result_message("25 C"),
    ]
    assert render_llama3(messages) == DOCUMENTED_E2E_PROMPT


def test_mode_prompts_carry_persona_date_and_only_the_modes_tools():
    spec = get_weather.spec
    prompt = mode_system_prompt("weather", [spec], today=dt.date(2026, 11, 21))
    assert "Today Date: 21 November 2026" in prompt
    assert "weather assistant" in prompt
    assert '"name": "get_weather"' in prompt
    assert prompt.endswith("]")  # the function list closes the prompt, as in Meta's layout
    chat = mode_system_prompt("chat", [], today=dt.date(2026, 11, 21))
    assert "function" not in chat and "21 November 2026" in chat
    assert set(MODES) == {"weather", "wiki", "chat", "all"}


def test_system_prompt_has_no_clock_time_so_its_prefix_is_stable_all_day():
    a = mode_system_prompt("all", [get_weather.spec], today=dt.date(2026, 1, 2))
    b = mode_system_prompt("all", [get_weather.spec], today=dt.date(2026, 1, 2))
    assert a == b and ":" not in a.split("Today Date:")[1].splitlines()[0]


def test_icl_examples_only_use_available_tools():
    text = icl_examples(["search_wikipedia"])
    assert "search_wikipedia" in text and "get_current_weather" not in text
    prompt = system_prompt([get_weather.spec], icl=True)
    assert "Examples of how to respond" in prompt


def test_gguf_chat_template_renders_the_same_messages():
    chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
              "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
              "{% endif %}")
    text = ChatTemplate(chatml).render([Message("system", "S"), Message("user", "Hi"), tool_result_message({"t": 5})])
    assert text == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    '<|im_start|>ipython\n{"t": 5}<|im_end|>\n<|im_start|>assistant\n')


def test_templates_cannot_reach_python_internals():
    evil = "{{ messages.__class__.__mro__ }}"
    with pytest.raises(SecurityError):
        ChatTemplate(evil).render([Message("user", "x")])


def test_unknown_roles_are_refused():
    with pytest.raises(ValueError, match="unknown role"):
        Message("tool", "x")  # type: ignore[arg-type]
