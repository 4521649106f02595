"""The decoding evaluation with a scripted fake that reports P(call) and honours the call threshold: records, the
threshold fit, offline variants, the sweep chart, the catalogue entry, whole turns and the results page."""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil

import pytest

from agent.backends.base import Usage
from evaluation import decisions as dec
from evaluation import decoding
from evaluation.cases import load_generated
from evaluation.turns import SERVER_PLACES, SERVER_TOPICS
from fakes.models import ScriptedLLM
from models.catalogue import CATALOGUE_PATH, load_catalogue, set_call_threshold
from tests.test_eval_funccall import write_bfcl_slice


class ProbabilityLLM(ScriptedLLM):
    """Calls for weather questions (P(call) 0.8) and, in Wikipedia mode, searches for a topic the fake Wikipedia holds
    (0.8); answers anything else in prose (P(call) 0.3, or 0.05 for plain chat); a threshold decides as the llama.cpp
    decoder does: a call when P(call) >= t, prose below. After a search it answers from the article's summary."""

    def __init__(self, name="fake"):
        super().__init__(name=name)
        self.thresholds = []

    def stream(self, messages, params):
        text = messages[-1].content.lower() if messages[-1].role == "user" else ""
        topic = next((t for t in SERVER_TOPICS if t.lower() in text), None)
        wiki = "search_wikipedia" in messages[0].content and "get_current_weather" not in messages[0].content
        p = 0.8 if "weather" in text or "rain" in text or (wiki and topic) else 0.3 if "?" in text else 0.05
        self.thresholds.append(params.call_threshold)
        calls = p >= 0.5 if params.call_threshold is None else p >= params.call_threshold
        answer = "Here is a plain answer for you."
        if messages[-1].role == "ipython":
            calls, p = False, 0.01
            summary = json.loads(messages[-1].content).get("summary") if wiki else None
            answer = f"From the article: {summary[:120]}" if summary else answer
        place = next((p for p in SERVER_PLACES if p.lower() in text), "London")
        query = topic or " ".join(re.findall(r"\w+", text)[-2:]) or "Oslo"
        call = f'[search_wikipedia(query="{query}")]' if wiki else f'[get_current_weather(location="{place}")]'
        self.enqueue(call if calls else answer)
        for chunk in super().stream(messages, params):
            if isinstance(chunk, Usage):
                chunk.call_probability, chunk.finish_reason = p, "stop"
            yield chunk


def record(p, should, free_calls=True, call='[f(a=1)]'):
    return dec.DecisionRecord("x", "gen:x", "generated", should, p, call if free_calls else "Prose.",
                              call if free_calls else "Prose.", call)


def test_the_fitted_threshold_maximises_balanced_accuracy():
    records = [record(0.9, True), record(0.7, True), record(0.6, False), record(0.2, False), record(0.1, False)]
    threshold, accuracy = dec.fit_threshold(records)
    assert 0.6 < threshold <= 0.7 and accuracy == 1.0
    points = dec.sweep(records)
    assert points[0][0] == 0.0 and points[-1][0] == math.inf
    assert points[0][1:] == (1.0, 0.0) and points[-1][1:] == (0.0, 1.0), "always calls, then never"


def test_a_threshold_turns_a_prose_reply_into_the_forced_call_and_a_call_into_prose():
    low = record(0.3, True, free_calls=False)
    high = record(0.9, False)
    assert dec.effective_reply(low, dec.Variant("t", threshold=0.2, grammar=True)) == "[f(a=1)]"
    assert dec.effective_reply(high, dec.Variant("t", threshold=0.95, grammar=True)) == ""
    assert dec.effective_reply(low, dec.Variant("free", grammar=True)) == "Prose."


@pytest.mark.parametrize(("k", "n"), [(0, 10), (5, 10), (10, 10), (40, 50)])
def test_wilson_intervals_hold_the_rate(k, n):
    p, low, high = dec.wilson(k, n)
    assert 0 <= low <= p <= high <= 1 and high - low < 0.7


def test_a_threshold_is_stored_in_the_catalogue_with_the_rest_kept(tmp_path):
    path = tmp_path / "catalogue.toml"
    shutil.copy(CATALOGUE_PATH, path)
    set_call_threshold("smollm2-135m-funccall", 0.61234567, path)
    set_call_threshold("smollm2-135m-funccall", 0.5, path)
    catalogue = load_catalogue(path)
    assert catalogue["smollm2-135m-funccall"].call_threshold == 0.5
    assert catalogue["smollm2-135m"].call_threshold is None and len(catalogue) == len(load_catalogue(CATALOGUE_PATH))
    assert path.read_text().count("call_threshold") == 1
    with pytest.raises(ValueError, match="no model named"):
        set_call_threshold("nope", 0.5, path)


def test_the_invented_functions_group_holds_calls_declines_and_asks_of_functions_no_mode_offers(tmp_path):
    from agent.prompts import MODES
    from training.dataset.generate import main as build_dataset

    parser = argparse.ArgumentParser()
    decoding.add_arguments(parser)
    args = parser.parse_args(["--split-dir", str(tmp_path / "data"), "--groups", "invented"])
    with pytest.raises(FileNotFoundError, match="--other-tools-share 0.5"):
        decoding.group_cases("invented", args)
    command = decoding.BUILD_INVENTED.format(dir=tmp_path / "data-invented").split()[3:]
    build_dataset([arg.replace("400", "100") for arg in command])
    cases = decoding.group_cases("invented", args)
    assert len(cases) == 50 and {c.should_call for c in cases} == {True, False}
    own = {name for mode in MODES.values() for name in mode.tool_names}
    assert all(c.functions and not {f["name"] for f in c.functions} & own for c in cases)
    assert "invented" not in decoding.GROUPS, "opt-in: 200 prompts that share no system prompt are slow to record"


def test_the_decoding_task_end_to_end_with_a_fake_model(tmp_path, tool_env, monkeypatch):
    from training.dataset.generate import main as build_dataset

    split_dir = tmp_path / "data"
    build_dataset(["--out", str(split_dir), "--seed", "0", "--size", "300", "--validation-size", "60",
                   "--test-size", "60"])
    bfcl = tmp_path / "bfcl"
    bfcl.mkdir()
    write_bfcl_slice(bfcl)
    catalogue = tmp_path / "catalogue.toml"
    shutil.copy(CATALOGUE_PATH, catalogue)
    monkeypatch.setenv("MODEL_CATALOGUE", str(catalogue))
    parser = argparse.ArgumentParser()
    decoding.add_arguments(parser)
    out = tmp_path / "docs" / "results.md"
    args_list = ["--models", "smollm2-135m-funccall", "--split-dir", str(split_dir), "--bfcl-dir", str(bfcl),
                 "--gen-limit", "4", "--turn-limit", "2", "--work-dir", str(tmp_path / "w"), "--quiet"]
    args = parser.parse_args([*args_list, "--out", str(out), "--write-catalogue"])
    loaded = []
    decoding.main(args, "python -m evaluation decoding ...", load_model=lambda name: loaded.append(name) or
                  ProbabilityLLM(name))
    assert loaded == ["smollm2-135m-funccall"], "one model process, loaded once"
    fitted = load_catalogue(catalogue)["smollm2-135m-funccall"].call_threshold
    saved = json.loads((tmp_path / "w" / "smollm2-135m-funccall" / "validation.json").read_text())["records"]
    records = dec.load_records(saved)  # the catalogue gets the threshold fitted with asking, as the agent runs
    asks = dec.asked_replies(records, decoding.case_index("validation", args))
    assert fitted == pytest.approx(dec.fit_threshold(records, asks)[0], rel=1e-5)
    assert fitted in (pytest.approx(0.175), pytest.approx(0.55)), "between two of the fake's P(call) levels"
    page = out.read_text()
    for heading in ("fitted on the validation split", "generated test split", "BFCL simple", "Whole turns",
                    "Done-when check", "Asking instead of guessing"):
        assert heading in page
    assert (out.parent / "assets" / "decision_sweep.png").stat().st_size > 1000
    quiet = tmp_path / "other" / "results.md"  # records alone write neither the page nor its chart
    decoding.main(parser.parse_args([*args_list, "--out", str(quiet), "--stages", "records"]),
                  load_model=lambda name: pytest.fail("the records are there: no model is loaded"))
    assert not quiet.parent.exists()
    turns = json.loads((tmp_path / "w" / "smollm2-135m-funccall" / "turns.json").read_text())["records"]
    assert turns and all(t["ended_in_answer"] for t in turns if t["variant"] == "on")
    up = [t for t in turns if t["variant"] == "on" and t["server"] == "up" and t["ok_calls"]]
    assert up and all(t["faithful"] for t in up), "answers after a successful call state its temperature or article"
    searched = [t for t in up if t["mode"] == "wiki"]
    assert searched and all(t["calls"][0].startswith("search_wikipedia(") for t in searched)
    down = [t for t in turns if t["variant"] == "on" and t["server"] == "down" and t["mode"] == "wiki"]
    assert down and all(t["faithful"] and t["failed_calls"] for t in down), "a failed search is said"
    assert "States the article (after success)" in page
    # a second run reuses every record: no model is loaded
    loaded.clear()
    decoding.main(args, "again", load_model=lambda name: loaded.append(name) or ProbabilityLLM(name))
    assert loaded == []
    assert len(load_generated(split_dir / "test.jsonl", "test")) > 0


def test_an_icl_model_is_its_catalogue_model_prompted_with_the_few_shot_examples(tmp_path):
    """`--models smollm2-135m+icl`: the catalogue model is loaded, and every prompt's system message ends with the
    examples `--icl` puts there; the zero-shot model's prompts have none."""
    bfcl = tmp_path / "bfcl"
    bfcl.mkdir()
    write_bfcl_slice(bfcl)
    parser = argparse.ArgumentParser()
    decoding.add_arguments(parser)
    seen = {}

    class Recording(ProbabilityLLM):
        def stream(self, messages, params):
            seen.setdefault(self.name, []).append(messages[0].content)
            yield from super().stream(messages, params)

    loaded = []
    for model in ("smollm2-135m+icl", "smollm2-135m"):
        args = parser.parse_args(["--models", model, "--bfcl-dir", str(bfcl), "--groups", "simple", "irrelevance",
                                  "--stages", "records", "--work-dir", str(tmp_path / "w"), "--quiet"])
        decoding.record_model(model, args, load_model=lambda name, model=model: loaded.append(name) or
                              Recording(model))
    assert loaded == ["smollm2-135m", "smollm2-135m"], "the ICL variant runs the catalogue model"
    assert seen["smollm2-135m+icl"] and all(s.endswith("User: What is 12 times 7?\nAssistant: 12 times 7 is 84.")
                                            for s in seen["smollm2-135m+icl"]), "the examples close the prompt"
    assert not any("Examples of how to respond:" in s for s in seen["smollm2-135m"])
    assert (tmp_path / "w" / "smollm2-135m+icl" / "simple.json").exists()


def test_a_turn_asks_for_the_place_in_the_agents_question_or_the_models_own():
    from evaluation.turns import TurnRecord, asks_for_place

    def turn(answer, ending="answer", calls=()):
        return TurnRecord("t", "missing_info", "on", "up", "Will it snow?", answer, ending, list(calls), 0, 0, False,
                          False, True, None, 1, 0.1)

    assert asks_for_place(turn("Which city or place should I check?", ending="asked"))
    assert asks_for_place(turn("Happy to help. Which city should I look up?"))
    assert asks_for_place(turn("Where should I check the weather?"))
    assert not asks_for_place(turn("A light jacket is a good idea."))
    assert not asks_for_place(turn("Where in Oslo? 4 °C.", calls=['get_current_weather(location="Oslo")']))


def wiki_turn_record(text: str, call: str, answer: str):
    from evaluation.turns import TurnRecord

    return TurnRecord("t-1", "wiki_lookup", "on", "up", text, answer, "answer", [call], 1, 0, False, False, True,
                      True, 2, 1.0, "wiki")


@pytest.mark.parametrize("answer, adds", [
    ("Ada Lovelace (1770–1852) was an English mathematician and writer.", True),  # the article gives no dates
    ("Ada Lovelace was an English mathematician and writer, known for Babbage's engine.", False),
    ("According to Wikipedia, Oslo has a population of about 720,000.", False),  # the article's own figure
    ("Oslo has about 720,000 people and was founded in 1040.", True),
])
def test_a_wikipedia_answer_adds_numbers_when_it_states_one_neither_the_user_nor_the_article_gave(answer, adds):
    from evaluation.turns import adds_numbers, turn_metrics

    topic = "Oslo" if "Oslo" in answer else "Ada Lovelace"
    record = wiki_turn_record(f"Tell me about {topic}", f'search_wikipedia(query="{topic}")', answer)
    assert adds_numbers(record) is adds
    metrics = turn_metrics([record])
    assert metrics["states_article"][0] == 1.0 and metrics["states_article_only"][0] == (0.0 if adds else 1.0)
