"""The Gradio 6 Blocks of the chat app: a Chat tab, a Compare tab, a Settings accordion and a `chat` API endpoint.

Gradio is imported inside `build_app`, so importing this module (or `app.py`) stays cheap. The handlers themselves live
in `ui/chat.py`; this file only lays out components and wires events to them.

    demo = build_app(manager, tools, config); launch(demo, config)
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.prompts import MODES
from tools.base import Tool
from ui import chat
from ui.config import AppConfig
from ui.model_manager import ModelManager

TITLE = "Tool-calling chat · small GGUF models on CPU"
INTRO = (
    "A chat agent in the **Llama 3.2 function-calling format**: the model writes `[get_current_weather(...)]`, the app "
    "runs the tool and the model answers from its result. Pick a **mode** (which tools it gets) and a **model**; each "
    "tool call appears as it happens, and every answer ends with its token and timing stats."
)
CSS = """
.status-line p { margin: 0; }
footer { display: none !important; }
"""


def _model_choices(manager: ModelManager) -> list[tuple[str, str]]:
    return [(option.display_label, option.name) for option in manager.options()]


def _second_model(manager: ModelManager, first: str) -> str:
    """The right side of the compare view: the fine-tuned adapter when the catalogue has it, else another model."""
    options = [o for o in manager.options() if o.name != first]
    tuned = [o.name for o in options if "funccall" in o.name and o.state == "ready"]
    ready = [o.name for o in options if o.state == "ready"]
    return (tuned or ready or [o.name for o in options] or [first])[0]


def build_app(manager: ModelManager, tools: Sequence[Tool], config: AppConfig | None = None):
    """Lay out the app and wire its events; returns a `gr.Blocks` (not launched)."""
    import gradio as gr

    config = config or AppConfig()
    default_model = config.default_model or manager.default_name()
    examples = chat.mode_examples()
    mode_choices = [(mode.label, mode.name) for mode in MODES.values()]
    first_mode = "weather"

    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        conv_state = gr.State(chat.Conversation(model=default_model))  # deep-copied for each browser session
        pending_message = gr.State("")

        with gr.Tabs():
            # ------------------------------------------------------------------------------------------- Chat
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=True):
                    mode = gr.Radio(mode_choices, value=first_mode, label="Mode", scale=3, elem_id="mode")
                    model = gr.Dropdown(_model_choices(manager), value=default_model, label="Model", scale=2,
                                        elem_id="model")
                model_status = gr.Markdown("", elem_classes=["status-line"], elem_id="model-status")
                chatbot = gr.Chatbot(label="Conversation", height="64vh", min_height=420, elem_id="chatbot",
                                     allow_tags=False, sanitize_html=True, buttons=["copy", "copy_all"],
                                     feedback_options=None,
                                     placeholder="Ask about the weather, look something up, or just chat.")
                with gr.Row():
                    textbox = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, scale=6,
                                         autofocus=True, elem_id="message", max_lines=6, submit_btn=False)
                    send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="send")
                    stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="stop")
                example_set = gr.Dataset(components=[textbox], samples=[[e] for e in examples[first_mode]],
                                         label="Examples", elem_id="examples")
                new_chat = gr.Button("🗑️ New chat", size="sm", elem_id="new-chat")

            # ---------------------------------------------------------------------------------------- Compare
            with gr.Tab("Compare", id="compare"):
                gr.Markdown("One prompt, two models side by side: the left runs first, then the right.")
                with gr.Row(equal_height=True):
                    cmp_mode = gr.Radio(mode_choices, value=first_mode, label="Mode", scale=2, elem_id="cmp-mode")
                    cmp_left = gr.Dropdown(_model_choices(manager), value=default_model, label="Left model",
                                           elem_id="cmp-left")
                    cmp_right = gr.Dropdown(_model_choices(manager), value=_second_model(manager, default_model),
                                            label="Right model", elem_id="cmp-right")
                with gr.Row():
                    cmp_prompt = gr.Textbox(value=examples[first_mode][0], show_label=False, scale=6,
                                            elem_id="cmp-prompt")
                    cmp_run = gr.Button("Compare", variant="primary", scale=1, elem_id="cmp-run")
                with gr.Row():
                    cmp_left_chat = gr.Chatbot(label="Left", height=460, allow_tags=False, sanitize_html=True,
                                               feedback_options=None, elem_id="cmp-left-chat")
                    cmp_right_chat = gr.Chatbot(label="Right", height=460, allow_tags=False, sanitize_html=True,
                                                feedback_options=None, elem_id="cmp-right-chat")

        with gr.Accordion("Settings", open=False, elem_id="settings"):
            with gr.Row():
                temperature = gr.Slider(0.0, 1.5, value=0.2, step=0.05, label="Temperature")
                max_tokens = gr.Slider(32, 2048, value=512, step=32, label="Max new tokens per LLM call")
                max_calls = gr.Slider(1, 4, value=2, step=1, label="Max LLM calls per turn")
                icl = gr.Checkbox(False, label="In-context examples (few-shot tool use in the system prompt)")
        settings_inputs = [temperature, max_tokens, max_calls, icl]

        # ----------------------------------------------------------------------------------------- handlers
        def take_message(text):
            return "", text

        def respond(message, conv, mode_name, temp, tokens, calls, use_icl):
            settings = chat.agent_settings(temp, tokens, calls, use_icl)
            yield list(conv.display), conv
            for state in chat.run_turn(manager, tools, conv, message, mode_name, settings):
                yield list(state.display), state

        def change_model(name, conv):
            for state, status in chat.switch_model(manager, conv, name):
                yield state, status, gr.Dropdown(value=state.model)

        def change_mode(mode_name):
            return gr.Dataset(samples=[[e] for e in examples[mode_name]])

        def pick_example(sample):
            return sample[0] if sample else ""

        def clear_chat(conv):
            return conv.cleared(), [], ""

        def compare(message, mode_name, left, right, temp, tokens, calls, use_icl):
            settings = chat.agent_settings(temp, tokens, calls, use_icl)
            for left_display, right_display in chat.compare_turn(manager, tools, message, mode_name, left, right,
                                                                 settings):
                yield list(left_display), list(right_display)

        def refresh_models():
            choices = _model_choices(manager)
            return gr.Dropdown(choices=choices), gr.Dropdown(choices=choices), gr.Dropdown(choices=choices)

        turn_inputs = [pending_message, conv_state, mode, *settings_inputs]
        submit_events = []
        for trigger in (textbox.submit, send.click):
            event = trigger(take_message, [textbox], [textbox, pending_message], queue=False,
                            api_visibility="private").then(
                respond, turn_inputs, [chatbot, conv_state], concurrency_limit=config.concurrency,
                concurrency_id="turns", api_visibility="private")
            submit_events.append(event)
        stop.click(None, cancels=submit_events, api_visibility="private")
        model.input(change_model, [model, conv_state], [conv_state, model_status, model],
                    concurrency_limit=config.concurrency, concurrency_id="loads", api_visibility="private")
        mode.change(change_mode, [mode], [example_set], queue=False, api_visibility="private")
        example_set.click(pick_example, [example_set], [textbox], queue=False, api_visibility="private")
        new_chat.click(clear_chat, [conv_state], [conv_state, chatbot, model_status], queue=False,
                       api_visibility="private")
        chatbot.clear(clear_chat, [conv_state], [conv_state, chatbot, model_status], queue=False,
                      api_visibility="private")
        cmp_run.click(compare, [cmp_prompt, cmp_mode, cmp_left, cmp_right, *settings_inputs],
                      [cmp_left_chat, cmp_right_chat], concurrency_limit=config.concurrency, concurrency_id="turns",
                      api_visibility="private")
        cmp_prompt.submit(compare, [cmp_prompt, cmp_mode, cmp_left, cmp_right, *settings_inputs],
                          [cmp_left_chat, cmp_right_chat], concurrency_limit=config.concurrency,
                          concurrency_id="turns", api_visibility="private")
        demo.load(refresh_models, None, [model, cmp_left, cmp_right], queue=False, api_visibility="private")

        def api_chat(message: str, mode: str = "all", model: str = "") -> str:
            """One question, one answer (no history). mode: weather, wiki, chat or all; model: a catalogue name
            (empty: the default)."""
            return chat.answer_once(manager, tools, message, mode, model or default_model)

        gr.api(api_chat, api_name="chat", concurrency_limit=config.concurrency, concurrency_id="turns")
    return demo


def launch(demo, config: AppConfig | None = None, **kwargs):
    """Queue and serve the app; host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT."""
    import gradio as gr

    config = config or AppConfig()
    demo.queue(default_concurrency_limit=config.concurrency)
    return demo.launch(theme=gr.themes.Soft(), css=CSS, **kwargs)
