"""The Gradio 6 Blocks of the chat app: a Chat tab, a Compare tab, a Settings accordion and a `chat` API endpoint.

Gradio is imported inside `build_app`, so importing this module (or `app.py`) stays cheap. The handlers themselves live
in `ui/chat.py`; this file only lays out components and wires events to them.

    demo = build_app(manager, tools, config); launch(demo, config)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from agent.prompts import MODES
from tools.base import Tool
from ui import chat, render
from ui.compare import compare_turn
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
#busy { min-height: 1.5em; }
#mode label, #cmp-mode label { white-space: nowrap; }
.thought-group .title strong, .thought-group .title em { color: var(--error-text-color, #dc2626); }
footer { display: none !important; }
@media (max-width: 600px) {
  #model input, #cmp-left input, #cmp-right input { font-size: 13px; }
}
"""
EAGERNESS_INFO = "How readily the model calls a tool: 0 never, 1 always. Default: fitted for this model. Chat tab only."
# Gradio scopes the CSS above to its page content; the page's own side padding (32 px) is set outside it, so a
# phone's rule for it goes in the document head. On a 390 px phone those 48 px are what keeps a model's name whole.
HEAD = ("<style>@media (max-width: 600px) { .app { padding-left: 8px !important; padding-right: 8px !important; } }"
        "</style>")


def menu_label(label: str) -> str:
    """A model's label as short as a menu on a phone needs: no "Instruct", no quantisation tag ("Q4_1"). The full
    label is in the status line, the stats and the compare verdicts."""
    return re.sub(r"\s+", " ", re.sub(r"[- ]Instruct\b|\s+[QI]Q?\d\w*", "", label)).strip() or label


def _model_choices(manager: ModelManager, mark_loaded: bool = True) -> list[tuple[str, str]]:
    """A model menu: each model's short label; the chat's menu also marks the models in memory (instant to pick)."""
    loaded = {option.name for option in manager.options() if mark_loaded and manager.is_loaded(option.name)}
    return [(replace(option, label=menu_label(option.label), state="ready").display_label + " · loaded"
             if option.name in loaded else replace(option, label=menu_label(option.label)).display_label, option.name)
            for option in manager.options()]


def _second_model(manager: ModelManager, first: str) -> str:
    """The right side of the compare view: the fine-tuned adapter when the catalogue has it, else another model."""
    options = [o for o in manager.options() if o.name != first]
    tuned = [o.name for o in options if "funccall" in o.name and o.state == "ready"]
    ready = [o.name for o in options if o.state == "ready"]
    return (tuned or ready or [o.name for o in options] or [first])[0]


def model_status(manager: ModelManager, name: str) -> str:
    """The line under the model menu: which model answers in this chat and whether it is in memory yet."""
    label = render.escape_text(manager.label(name))
    state = "is loaded" if manager.is_loaded(name) else "loads on the first question (or is loading now)"
    return f"🧠 **{label}** {state} and answers in this chat." + chat.model_note(manager, name)


def list_ahead(items):
    """(item, is_last) for each item of an iterator, reading one ahead."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


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

        with gr.Tabs():
            # ------------------------------------------------------------------------------------------- Chat
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=True):
                    mode = gr.Radio(mode_choices, value=first_mode, label="Mode", scale=3, min_width=320,
                                    elem_id="mode")
                    model = gr.Dropdown(_model_choices(manager), value=default_model, label="Model", scale=2,
                                        min_width=280, elem_id="model")
                with gr.Row(equal_height=False, elem_id="eagerness-row"):
                    # Gradio's own reset button returns to the value the page opened with, not the picked model's:
                    # hidden, and ours beside it asks for the current model's fitted value.
                    eagerness = gr.Slider(0.0, 1.0, value=chat.fitted_eagerness(default_model), step=0.01,
                                          label="Tool eagerness", info=EAGERNESS_INFO, buttons=[], scale=6,
                                          min_width=240, elem_id="eagerness")
                    eagerness_reset = gr.Button("↺ Fitted value", size="sm", scale=1, min_width=120,
                                                elem_id="eagerness-reset")
                model_line = gr.Markdown(model_status(manager, default_model), elem_classes=["status-line"],
                                         elem_id="model-status")
                chatbot = gr.Chatbot(label="Conversation", height="64vh", min_height=420, elem_id="chatbot",
                                     allow_tags=False, sanitize_html=True, buttons=["copy", "copy_all"],
                                     feedback_options=None,
                                     placeholder="Ask about the weather, look something up, or just chat.")
                busy = gr.Markdown("", elem_classes=["status-line"], elem_id="busy")
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
                gr.Markdown("One prompt, two models side by side. They take turns step by step, so both stream at "
                            "once; the line above each side says whether its model called a tool and answered, and "
                            "the time of its own steps.")
                cmp_mode = gr.Radio(mode_choices, value=first_mode, label="Mode", elem_id="cmp-mode")
                with gr.Row(equal_height=True):
                    cmp_left = gr.Dropdown(_model_choices(manager, False), value=default_model, label="Left model",
                                           min_width=300, elem_id="cmp-left")
                    cmp_right = gr.Dropdown(_model_choices(manager, False), value=_second_model(manager, default_model),
                                            label="Right model", min_width=300, elem_id="cmp-right")
                with gr.Row():
                    cmp_prompt = gr.Textbox(value=examples[first_mode][0], show_label=False, scale=6,
                                            min_width=200, elem_id="cmp-prompt")
                    cmp_run = gr.Button("Compare", variant="primary", scale=1, min_width=100, elem_id="cmp-run")
                cmp_summary = gr.Markdown("", elem_classes=["status-line"], elem_id="cmp-summary")
                with gr.Row():
                    with gr.Column(min_width=320):
                        cmp_left_verdict = gr.Markdown("", elem_classes=["verdict"], elem_id="cmp-left-verdict")
                        cmp_left_chat = gr.Chatbot(label="Left", height=460, allow_tags=False, sanitize_html=True,
                                                   feedback_options=None, elem_id="cmp-left-chat")
                    with gr.Column(min_width=320):
                        cmp_right_verdict = gr.Markdown("", elem_classes=["verdict"], elem_id="cmp-right-verdict")
                        cmp_right_chat = gr.Chatbot(label="Right", height=460, allow_tags=False, sanitize_html=True,
                                                    feedback_options=None, elem_id="cmp-right-chat")

        with gr.Accordion("Settings", open=False, elem_id="settings"):
            with gr.Row():
                temperature = gr.Slider(0.0, 1.5, value=chat.DEFAULTS.generation.temperature, step=0.05,
                                        label="Temperature")
                max_tokens = gr.Slider(32, 2048, value=chat.DEFAULTS.generation.max_tokens, step=32,
                                       label="Max new tokens per LLM call")
                max_calls = gr.Slider(1, 4, value=chat.DEFAULTS.max_llm_calls, step=1, label="Max LLM calls per turn")
                icl = gr.Checkbox(chat.DEFAULTS.icl,
                                  label="In-context examples (few-shot tool use in the system prompt)")
        settings_inputs = [temperature, max_tokens, max_calls, icl]

        # ----------------------------------------------------------------------------------------- handlers
        def menu(value: str | None = None):
            if value is None:  # a compare menu
                return gr.Dropdown(choices=_model_choices(manager, mark_loaded=False))
            return gr.Dropdown(choices=_model_choices(manager), value=value)

        def take_message(text, conv):
            """Queue a typed message at once (also mid-answer); an empty one changes nothing."""
            if not chat.queue_message(conv, text):
                return gr.skip(), gr.skip(), gr.skip()
            return "", conv.view(), conv.busy_line()

        def respond(conv, mode_name, temp, tokens, calls, use_icl, eager, progress=gr.Progress(track_tqdm=True)):
            settings = chat.agent_settings(temp, tokens, calls, use_icl, chat.turn_eagerness(conv.model, eager))
            for state in chat.answer_inbox(manager, tools, conv, mode_name, settings):
                yield state.view(), state, state.busy_line(), gr.skip(), gr.skip()
            yield conv.view(), conv, conv.busy_line(), model_status(manager, conv.model), menu(conv.model)

        def change_model(name, conv, progress=gr.Progress(track_tqdm=True)):
            progress(None, desc=f"Loading {manager.label(name)}")
            steps = list_ahead(chat.switch_model(manager, conv, name))
            for (state, status), last in steps:  # the last status comes with the menu that marks the model loaded
                fitted = chat.fitted_eagerness(name) if last and state.model == name else gr.skip()
                yield state, status, menu(state.model) if last else gr.skip(), state.view(), fitted

        def change_mode(mode_name):
            return gr.Dataset(samples=[[e] for e in examples[mode_name]])

        def pick_example(sample):
            return sample[0] if sample else ""

        def clear_chat(conv):
            conv.reset()
            return conv, [], "", model_status(manager, conv.model)

        def stop_answer(conv, text):
            queued = conv.stop()
            box = "\n\n".join(part for part in ((text or "").strip(), queued) if part)
            return conv, conv.view(), "", box

        def compare(message, mode_name, left, right, temp, tokens, calls, use_icl,
                    progress=gr.Progress(track_tqdm=True)):
            settings = chat.agent_settings(temp, tokens, calls, use_icl)
            for view in compare_turn(manager, tools, message, mode_name, left, right, settings):
                yield view.left, view.right, view.left_verdict, view.right_verdict, view.summary
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()

        def refresh_models(conv):
            return menu(conv.model), menu(), menu(), model_status(manager, conv.model)

        submit_events = []
        for trigger in (textbox.submit, send.click):
            event = trigger(take_message, [textbox, conv_state], [textbox, chatbot, busy], queue=False,
                            api_visibility="private").then(
                respond, [conv_state, mode, *settings_inputs, eagerness],
                [chatbot, conv_state, busy, model_line, model],
                concurrency_limit=config.concurrency, concurrency_id="turns", show_progress_on=[chatbot],
                trigger_mode="multiple", api_visibility="private")
            submit_events.append(event)
        stop.click(stop_answer, [conv_state, textbox], [conv_state, chatbot, busy, textbox], cancels=submit_events,
                   queue=False, api_visibility="private")
        model.input(change_model, [model, conv_state], [conv_state, model_line, model, chatbot, eagerness],
                    concurrency_limit=config.concurrency, concurrency_id="loads", show_progress_on=[model_line],
                    api_visibility="private")
        eagerness_reset.click(lambda conv: chat.fitted_eagerness(conv.model), [conv_state], [eagerness], queue=False,
                              api_visibility="private")
        mode.change(change_mode, [mode], [example_set], queue=False, api_visibility="private")
        example_set.click(pick_example, [example_set], [textbox], queue=False, api_visibility="private")
        for clear_trigger in (new_chat.click, chatbot.clear):
            clear_trigger(clear_chat, [conv_state], [conv_state, chatbot, busy, model_line], cancels=submit_events,
                          queue=False, api_visibility="private")
        compare_inputs = [cmp_prompt, cmp_mode, cmp_left, cmp_right, *settings_inputs]
        compare_outputs = [cmp_left_chat, cmp_right_chat, cmp_left_verdict, cmp_right_verdict, cmp_summary]
        for trigger in (cmp_run.click, cmp_prompt.submit):
            trigger(compare, compare_inputs, compare_outputs, concurrency_limit=config.concurrency,
                    concurrency_id="turns", api_visibility="private")
        demo.load(refresh_models, [conv_state], [model, cmp_left, cmp_right, model_line], queue=False,
                  api_visibility="private")

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
    return demo.launch(theme=gr.themes.Soft(), css=CSS, head=HEAD, **kwargs)
