"""The llama.cpp decoder (agent/backends/decoding.py): the call decision against a threshold, calls under the grammar,
the prose guard, the repetition guard, stop strings, and the KV cache reuse; plus the scripted `DecidingLLM` that
loop tests use in the model's place, held to the same rules."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from agent.backends.base import GenerationParams, Usage
from agent.backends.decoding import RepetitionGuard, TextStream
from agent.format import ToolCallParseError, classify_opening, parse_tool_calls, validate_call
from agent.grammar import grammar_for_tools
from agent.messages import Message
from agent.prompts import MODES, mode_system_prompt
from fakes.models import Choice, DecidingLLM, fake_tokenize
from tools import get_tools

TODAY = dt.date(2026, 11, 21)
PROMPTS = {
    "weather": ["What's the weather in Oslo?", "Write me a haiku about the sea.", "What's the weather like?"],
    "wiki": ["Who was Ada Lovelace?", "Hi there!"],
    "all": ["Will it rain in Paris tomorrow?", "Tell me about the Eiffel Tower."],
}


# ------------------------------------------------------------------------------------------ pure pieces

def test_the_repetition_guard_notices_loops_of_any_period_and_not_ordinary_text():
    for period in (1, 3, 7, 25, 60):
        guard, unit = RepetitionGuard(), list(range(100, 100 + period))
        fired = [guard.push(t) for t in (unit * 60)[:400]]
        assert any(fired), period
        assert fired.index(True) < max(3 * period, 32) + period  # soon after the loop is established
    words = fake_tokenize(open("README.md", encoding="utf-8").read())[:3000]
    ids: dict[str, int] = {}
    guard = RepetitionGuard()
    assert not any(guard.push(ids.setdefault(w, len(ids))) for w in words)


def test_the_text_stream_joins_split_utf8_and_cuts_at_a_stop_string_across_tokens():
    stream = TextStream(["<|im_end|>"])
    data = "Zürich 😀 ok".encode()
    out = "".join(stream.push(data[i:i + 1]) for i in range(len(data))) + stream.flush()
    assert out == "Zürich 😀 ok" and "\ufffd" not in out
    stream = TextStream(["STOP"])
    emitted = [stream.push(piece.encode()) for piece in ("Hello S", "T", "ill here. ST", "OP and more")]
    assert "".join(emitted) + stream.flush() == "Hello STill here. " and stream.stopped


# ------------------------------------------------------------------------------------ the scripted model

CALL = '[get_current_weather(location="Oslo")]'


def run(llm, params: GenerationParams) -> tuple[str, Usage]:
    *chunks, usage = llm.stream([Message("user", "What's the weather in Oslo?")], params)
    return "".join(chunks), usage


def test_the_deciding_scripted_model_calls_only_at_or_above_the_threshold():
    weather = grammar_for_tools(get_tools(MODES["weather"].tool_names))
    for threshold, calls in ((None, True), (0.5, True), (0.7, True), (0.71, False), (math.inf, False)):
        llm = DecidingLLM([Choice(call=CALL, prose="It is cold.", p=0.7)])
        text, usage = run(llm, GenerationParams(call_threshold=threshold, call_grammar=weather))
        assert (text == CALL) is calls and (text == "It is cold.") is not calls
        assert usage.call_probability == 0.7 and usage.finish_reason == "stop"


def test_the_deciding_scripted_model_answers_instead_of_a_forbidden_plain_call():
    text, usage = run(DecidingLLM([CALL]), GenerationParams(call_threshold=math.inf))
    assert not parse_tool_calls(text) and usage.call_probability == 0.9
    assert run(DecidingLLM([CALL]), GenerationParams())[0] == CALL


def test_the_deciding_scripted_model_cannot_do_what_the_decoder_cannot():
    weather = grammar_for_tools(get_tools(MODES["weather"].tool_names))
    with pytest.raises(AssertionError, match="impossible under the call grammar"):
        run(DecidingLLM(['[get_current_weather(city="Oslo")]']), GenerationParams(call_grammar=weather))
    with pytest.raises(AssertionError, match="no call was scripted"):
        run(DecidingLLM(["Just prose."]), GenerationParams(call_threshold=0.0))


def test_the_deciding_scripted_model_stops_at_max_tokens_and_at_repetition():
    text, usage = run(DecidingLLM(["one two three four five six"]), GenerationParams(max_tokens=5))
    assert usage.finish_reason == "length" and usage.completion_tokens == 5 and text == "one two three"
    text, usage = run(DecidingLLM(["la " * 200]), GenerationParams(max_tokens=512))
    assert usage.finish_reason == "repetition" and usage.completion_tokens < 64
    _, usage = run(DecidingLLM(["la " * 200]), GenerationParams(max_tokens=512, repetition_guard=False))
    assert usage.finish_reason == "stop" and usage.completion_tokens == 400


# ------------------------------------------------------------------------------------ the real model

def conversation(mode: str, question: str) -> list[Message]:
    specs = [t.spec for t in get_tools(MODES[mode].tool_names)]
    return [Message("system", mode_system_prompt(mode, specs, today=TODAY)), Message("user", question)]


def generate(llm, mode: str, question: str, **params) -> tuple[str, Usage]:
    params.setdefault("call_grammar", grammar_for_tools(get_tools(MODES[mode].tool_names)))
    *chunks, usage = llm.stream(conversation(mode, question), GenerationParams(**params))
    assert all(isinstance(c, str) for c in chunks) and isinstance(usage, Usage)
    return "".join(chunks), usage


@pytest.fixture(params=["base", "tuned"])
def any_llm(request, embedded_llm):
    return embedded_llm if request.param == "base" else request.getfixturevalue("tuned_llm")


@pytest.mark.model
def test_with_an_infinite_threshold_no_reply_opens_a_call(any_llm):
    runs = [(mode, question, 0.0) for mode, questions in PROMPTS.items() for question in questions]
    runs += [("weather", question, 1.0) for question in PROMPTS["weather"]]  # sampled hot, too
    for mode, question, temperature in runs:
        text, usage = generate(any_llm, mode, question, call_threshold=math.inf, max_tokens=12,
                               temperature=temperature, seed=1)
        assert classify_opening(text) != "call" and parse_tool_calls(text) == [], (question, text)
        assert 0.0 <= usage.call_probability <= 1.0


@pytest.mark.model
def test_with_a_zero_threshold_every_reply_is_a_valid_call_even_sampled_hot(any_llm):
    for mode, questions in PROMPTS.items():
        specs = {t.name: t.spec for t in get_tools(MODES[mode].tool_names)}
        for question in questions:
            text, usage = generate(any_llm, mode, question, call_threshold=0.0, max_tokens=48, temperature=1.0,
                                   seed=3)
            calls = parse_tool_calls(text)
            assert calls and all(validate_call(c, specs) == [] for c in calls), (question, text)
            assert usage.finish_reason == "stop"


@pytest.mark.model
def test_a_call_that_loops_inside_a_string_until_its_budget_still_ends_as_a_valid_call(tuned_llm):
    """BFCL irrelevance_216: the tuned model writes `to_currency="italian_restaurant_online_review_review_...` until
    max_tokens. Near the budget the decoder closes what is open; inside a string `)` and `]` are only more string, so
    the closing quote must come first (it once wrote `\')]}]]]]...` and the reply did not parse)."""
    from agent.endings import grammar_for
    from evaluation.cases import load_bfcl

    case = next(c for c in load_bfcl("irrelevance") if c.id == "irrelevance_216")
    for threshold in (None, 0.0):  # the model's own call, and a forced one
        params = GenerationParams(max_tokens=128, temperature=0.0, seed=0, call_threshold=threshold,
                                  call_grammar=grammar_for(case.functions))
        *chunks, usage = tuned_llm.stream(case.messages, params)
        text = "".join(chunks)
        calls = parse_tool_calls(text)
        assert calls and all(validate_call(c, case.specs) == [] for c in calls), (threshold, text[-80:])
        assert usage.completion_tokens <= 128


@pytest.mark.model
def test_the_call_probability_tells_the_tuned_model_from_the_base(embedded_llm, tuned_llm):
    question = "What's the weather in Oslo?"
    _, base = generate(embedded_llm, "weather", question, max_tokens=1, temperature=0.0)
    _, tuned = generate(tuned_llm, "weather", question, max_tokens=1, temperature=0.0)
    print(f"P(call) on {question!r} in weather mode: base {base.call_probability:.4f}, "
          f"tuned {tuned.call_probability:.4f}")
    assert 0.0 <= base.call_probability < 0.1 and 0.5 < tuned.call_probability <= 1.0


@pytest.mark.model
def test_without_a_threshold_the_model_decides_and_its_call_comes_out_valid(tuned_llm):
    text, usage = generate(tuned_llm, "weather", "What's the weather in Oslo?", max_tokens=48, temperature=0.0)
    # The v2 adapter (stopped at step 300) writes this call twice in one list; the agent runs it once. What the
    # decoder promises is a valid call to the right city: one distinct call, every element valid.
    calls = parse_tool_calls(text)
    assert calls and all(c == calls[0] for c in calls) and calls[0].arguments == {"location": "Oslo"}
    assert usage.call_probability > 0.5 and usage.finish_reason == "stop"


# Which prompt makes the greedy reply loop depends on the CPU's rounding: the "la" one on the AVX2 VM; on a Xeon with
# AMX the model apologises there instead ("I'm sorry for any confusion. ...") and loops on the count.
PROMPTS_THAT_LOOP = ("Say 'la' again and again without stopping: la la la la la la la la",
                     "Count by ones forever and never stop: 1, 1, 1, 1, 1, 1, 1, 1")


@pytest.mark.model
def test_a_reply_that_loops_stops_with_finish_reason_repetition(embedded_llm):
    stopped = []
    for prompt in PROMPTS_THAT_LOOP:
        messages = [Message("user", prompt)]
        *chunks, usage = embedded_llm.stream(messages, GenerationParams(max_tokens=48, temperature=0.0))
        *_, free = embedded_llm.stream(messages, GenerationParams(max_tokens=48, temperature=0.0,
                                                                 repetition_guard=False))
        if usage.finish_reason == "repetition":
            assert usage.completion_tokens < 48, "".join(chunks)
            assert free.finish_reason == "length" and free.completion_tokens == 48, "without the guard it runs on"
            stopped.append(prompt)
    assert stopped, "no prompt looped into the guard"


@pytest.mark.model
def test_a_stop_string_ends_the_reply_before_it(embedded_llm):
    messages = [Message("user", "What is the capital of France? Answer in one sentence.")]
    *chunks, usage = embedded_llm.stream(messages, GenerationParams(max_tokens=24, temperature=0.0))
    assert "Paris" in "".join(chunks)
    *chunks, usage = embedded_llm.stream(messages, GenerationParams(max_tokens=24, temperature=0.0, stop=("Paris",)))
    assert "Paris" not in "".join(chunks) and usage.finish_reason == "stop"


class ForceText:
    """A logits processor that makes the model write `text` token by token: the model's choice, scripted."""

    def __init__(self, llama, text: str):
        self.llama = llama
        self.tokens = llama.tokenize(text.encode(), add_bos=False, special=False)
        self.start = None

    def __call__(self, input_ids, logits):
        self.start = len(input_ids) if self.start is None else self.start
        step = len(input_ids) - self.start
        if step < len(self.tokens):
            logits[self.tokens[step]] += 50.0
        return logits


@pytest.mark.model
def test_prose_cannot_turn_into_a_bare_call_either(embedded_llm):
    bare = 'get_current_weather(location="Oslo")'
    messages = conversation("weather", "What's the weather in Oslo?")
    free = GenerationParams(max_tokens=16, temperature=0.0)
    *chunks, _ = embedded_llm.stream(messages, free, logits_processor=ForceText(embedded_llm.llama, bare))
    assert "".join(chunks).startswith(bare)  # the processor does steer the model
    forbid = GenerationParams(max_tokens=16, temperature=0.0, call_threshold=math.inf)
    *chunks, _ = embedded_llm.stream(messages, forbid, logits_processor=ForceText(embedded_llm.llama, bare))
    text = "".join(chunks)
    assert classify_opening(text) != "call", text
    try:
        assert parse_tool_calls(text) == []
    except ToolCallParseError:
        pytest.fail(f"prose read as a malformed call: {text!r}")


@pytest.mark.model
def test_reading_the_call_probability_costs_no_second_prefill(embedded_llm):
    import llama_cpp

    embedded_llm.clear_cache()
    messages = conversation("weather", "What's the weather in Oslo?")
    greedy = GenerationParams(max_tokens=4, temperature=0.0, call_threshold=0.5)
    *_, first = embedded_llm.stream(messages, greedy)
    prefilled = llama_cpp.llama_perf_context(embedded_llm.llama.ctx).n_p_eval
    assert first.cached_tokens == 0 and first.prompt_tokens - 1 <= prefilled <= first.prompt_tokens  # once
    *_, again = embedded_llm.stream(messages, greedy)
    assert again.cached_tokens == again.prompt_tokens - 1  # only the last prompt token is evaluated again
    assert llama_cpp.llama_perf_context(embedded_llm.llama.ctx).n_p_eval <= 1
    assert again.call_probability == pytest.approx(first.call_probability, abs=1e-6)
