"""The `funccall` task end to end with the scripted fake model: BFCL files, the generated split, voting, reports."""

from __future__ import annotations

import json

import pytest

from agent.format import parse_tool_calls
from evaluation.__main__ import build_parser
from evaluation.cases import EvalCase, limit_cases, load_bfcl, load_generated, possible_answer_of
from evaluation.funccall import CaseSelection, collect_cases, evaluate
from evaluation.funccall import main as funccall_main
from evaluation.runner import RunSettings, first_call
from evaluation.scoring import find_buried_call, score_reply, vote
from fakes.models import ScriptedLLM


def _fn(name, required, **properties):
    return {"name": name, "description": f"{name} does something.",
            "parameters": {"type": "dict", "required": required,
                           "properties": {k: {"type": t, "description": k} for k, t in properties.items()}}}


def _question(qid, text, *functions):
    return {"id": qid, "question": [[{"role": "user", "content": text}]], "function": list(functions)}


AREA = _fn("calculate_triangle_area", ["base", "height"], base="integer", height="integer", unit="string")
BMI = _fn("determine_body_mass_index", ["weight", "height"], weight="float", height="float")
PLAY = _fn("spotify.play", ["artist", "duration"], artist="string", duration="integer")
SEARCH = _fn("search_hotels", ["city"], city="string", stars="integer")


def write_bfcl_slice(folder):
    """A BFCL v4 slice in the real files' format: 3 simple, 1 multiple, 1 parallel, 2 irrelevance."""
    files = {
        "BFCL_v4_simple_python.json": [
            _question("simple_python_0", "Area of a triangle with base 10 and height 5?", AREA),
            _question("simple_python_1", "Area of a triangle with base 3 and height 4 in cm?", AREA),
            _question("simple_python_2", "Area of a triangle with base 7 and height 2?", AREA),
        ],
        "possible_answer_BFCL_v4_simple_python.json": [
            {"id": "simple_python_0", "ground_truth": [{"calculate_triangle_area": {"base": [10], "height": [5],
                                                                                    "unit": ["units", ""]}}]},
            {"id": "simple_python_1", "ground_truth": [{"calculate_triangle_area": {"base": [3], "height": [4],
                                                                                    "unit": ["cm"]}}]},
            {"id": "simple_python_2", "ground_truth": [{"calculate_triangle_area": {"base": [7], "height": [2],
                                                                                    "unit": [""]}}]},
        ],
        "BFCL_v4_multiple.json": [_question("multiple_0", "Find 4-star hotels in Rome.", SEARCH, AREA)],
        "possible_answer_BFCL_v4_multiple.json": [
            {"id": "multiple_0", "ground_truth": [{"search_hotels": {"city": ["Rome"], "stars": [4]}}]}],
        "BFCL_v4_parallel.json": [_question("parallel_0", "Play Taylor Swift for 20 minutes and Maroon 5 for 15.",
                                            PLAY)],
        "possible_answer_BFCL_v4_parallel.json": [
            {"id": "parallel_0", "ground_truth": [{"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
                                                  {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]}],
        "BFCL_v4_irrelevance.json": [_question("irrelevance_0", "What is the capital of France?", BMI),
                                     _question("irrelevance_1", "Solve x^2 = 4.", BMI)],
    }
    for name, rows in files.items():
        (folder / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


@pytest.fixture
def bfcl_dir(tmp_path):
    return write_bfcl_slice(tmp_path)


WEATHER_SYSTEM = ("You are a weather assistant.\n\nHere is a list of functions in JSON format that you can invoke.\n\n"
                  + json.dumps([_fn("get_current_weather", ["location"], location="string", unit="string"),
                                _fn("search_wikipedia", ["query"], query="string")], indent=4))


def _sample(sid, category, messages, split="test"):
    return {"id": sid, "category": category, "split": split, "mode": "all", "messages": messages}


def write_split(folder):
    """A tiny generated split: two first calls with a tool target, one with prose, and samples to be skipped."""
    system = {"role": "system", "content": WEATHER_SYSTEM}
    samples = [
        _sample("w1", "weather", [system, {"role": "user", "content": "How warm is it in Oslo?"},
                                  {"role": "assistant", "content": '[get_current_weather(location="Oslo")]'}]),
        _sample("k1", "wiki", [system, {"role": "user", "content": "Who was Ada Lovelace?"},
                               {"role": "assistant", "content": '[search_wikipedia(query="Ada Lovelace")]'}]),
        _sample("c1", "chat", [system, {"role": "user", "content": "Write a haiku about rain."},
                               {"role": "assistant", "content": "Rain taps on the roof."}]),
        _sample("w1-answer", "weather", [system, {"role": "user", "content": "How warm is it in Oslo?"},
                                         {"role": "assistant", "content": '[get_current_weather(location="Oslo")]'},
                                         {"role": "ipython", "content": '{"temperature_c": 12}'},
                                         {"role": "assistant", "content": "It is 12 °C in Oslo."}]),
        _sample("t1", "weather", [system, {"role": "user", "content": "Weather in Rome?"},
                                  {"role": "assistant", "content": '[get_current_weather(location="Rome")]'}],
                split="train"),
    ]
    path = folder / "test.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in samples) + "\n")
    return path


@pytest.fixture
def split_file(tmp_path):
    return write_split(tmp_path)


def test_bfcl_cases_get_metas_zero_shot_prompt_with_the_entrys_functions(bfcl_dir):
    case = load_bfcl("simple", bfcl_dir)[0]
    system, user = case.messages
    assert system.role == "system" and "You are an expert in composing functions" in system.content
    assert '"name": "calculate_triangle_area"' in system.content
    assert user.content == "Area of a triangle with base 10 and height 5?"
    assert case.should_call and case.category == "bfcl:simple"
    assert not load_bfcl("irrelevance", bfcl_dir)[0].should_call


def test_funccall_scores_a_scripted_model_on_a_bfcl_slice_by_bfcl_rules(bfcl_dir):
    selection = CaseSelection(categories=["simple", "multiple", "parallel", "irrelevance"], bfcl_dir=str(bfcl_dir))
    cases, notes = collect_cases(selection)
    assert [c.id for c in cases] == ["simple_python_0", "simple_python_1", "simple_python_2", "multiple_0",
                                     "parallel_0", "irrelevance_0", "irrelevance_1"]
    llm = ScriptedLLM([
        "[calculate_triangle_area(base=10, height=5)]",  # right (unit optional)
        "[calculate_triangle_area(base=3, height=4)]",  # unit "cm" was not optional: wrong
        "The area is 7 square units.",  # no call
        "[search_hotels(city='rome', stars=4]",  # malformed
        '[spotify.play(artist="Maroon 5", duration=15), spotify.play(artist="taylor swift", duration=20)]',
        "Paris is the capital of France.",  # restraint
        "[determine_body_mass_index(weight=2.0, height=2.0)]",  # an unwanted call
    ])
    run = evaluate(llm, cases, RunSettings(), selection, notes, show_progress=False)
    metrics = run.metrics
    simple = metrics["bfcl:simple"]
    assert (simple.n, simple.accuracy, simple.relevance, simple.name_accuracy) == (3, 1 / 3, 2 / 3, 2 / 3)
    assert simple.error_types == {"missing_optional": 1, "no_call": 1}
    assert metrics["bfcl:multiple"].format_valid == 0.0 and metrics["bfcl:multiple"].accuracy == 0.0
    assert metrics["bfcl:parallel"].accuracy == 1.0
    irrelevance = metrics["bfcl:irrelevance"]
    assert (irrelevance.restraint, irrelevance.relevance, irrelevance.accuracy) == (0.5, None, 0.5)
    assert metrics["all"].accuracy == pytest.approx(3 / 7)
    assert metrics["all"].llm_calls_per_turn == pytest.approx(12 / 7)
    assert [p[0].role for p in llm.prompts] == ["system"] * 7


def test_generated_split_keeps_first_calls_of_the_test_split_only(split_file):
    cases = load_generated(split_file)
    assert [c.id for c in cases] == ["w1", "k1", "c1"]
    weather, wiki, chat = cases
    assert weather.category == "gen:weather" and weather.messages[-1].content == "How warm is it in Oslo?"
    assert weather.expected == [{"get_current_weather": {"location": ["Oslo"]}}]
    assert [f["name"] for f in weather.functions] == ["get_current_weather", "search_wikipedia"]
    assert not chat.should_call and chat.target == "Rain taps on the roof."


def test_funccall_command_runs_the_generated_split_and_writes_json_and_markdown(split_file, tmp_path):
    replies = ['[get_current_weather(location="oslo")]', '[get_current_weather(location="Ada Lovelace")]',
               "Rain on the window,"]
    args = build_parser().parse_args(["funccall", "--model", "fake", "--categories", "generated", "--split-file",
                                      str(split_file), "--out-dir", str(tmp_path / "out"), "--quiet"])
    out = funccall_main(args, "python -m evaluation funccall ...", load_model=lambda name: ScriptedLLM(replies, name))
    data = json.loads((out / "results.json").read_text())
    assert data["model"] == "fake" and len(data["cases"]) == 3
    assert data["metrics"]["gen:weather"]["accuracy"] == 1.0
    assert data["metrics"]["gen:wiki"]["name_accuracy"] == 0.0
    assert data["metrics"]["gen:chat"]["restraint"] == 1.0
    assert [c["majority"]["decision"] for c in data["cases"]] == ["weather", "weather", "no call"]
    report = (out / "report.md").read_text()
    assert "# First-call evaluation: fake" in report and "| gen:wiki | 1 |" in report


def _case(expected, functions=()):
    return EvalCase("c", "gen:test", "generated", [], list(functions), expected)


OSLO = possible_answer_of(parse_tool_calls('[get_current_weather(location="Oslo")]'))


def test_majority_vote_takes_the_most_common_decision_and_reports_consistency():
    case = _case(OSLO)
    replies = ['[get_current_weather(location="Oslo")]', "It is sunny.", '[get_current_weather(location="oslo")]',
               '[get_current_weather(location="Oslo")]']
    result = vote(case, [score_reply(case, r) for r in replies])
    assert result.majority.correct and result.majority.calls == '[get_current_weather(location="Oslo")]'
    assert result.majority_share == 0.5  # "oslo" is a different decision, though it also scores as correct
    assert result.mean_sample_accuracy == 0.75


def test_a_tie_in_the_vote_goes_to_the_decision_seen_first():
    case = _case(OSLO)
    result = vote(case, [score_reply(case, r) for r in ["No idea.", '[get_current_weather(location="Oslo")]']])
    assert result.majority.decision == "no call" and not result.majority.correct and result.majority_share == 0.5


def test_several_samples_per_prompt_use_a_different_seed_each(split_file):
    cases = load_generated(split_file)[:1]
    llm = ScriptedLLM(['[get_current_weather(location="Oslo")]', "Hmm.", '[get_current_weather(location="Oslo")]'])
    run = evaluate(llm, cases, RunSettings(samples=3, temperature=0.7, seed=5), show_progress=False)
    assert len(run.results[0].samples) == 3
    assert run.metrics["all"].consistency == pytest.approx(2 / 3)
    assert run.metrics["all"].mean_sample_accuracy == pytest.approx(2 / 3)
    assert [RunSettings(seed=5).params(i).seed for i in range(3)] == [5, 6, 7]


def test_irrelevance_passes_on_prose_and_on_a_malformed_call_but_not_on_a_call():
    case = _case([])
    assert score_reply(case, "I cannot help with that.").correct
    malformed = score_reply(case, "[determine_bmi(weight=70")
    assert malformed.correct and not malformed.format_valid and malformed.decision == "malformed"
    assert not score_reply(case, "[determine_bmi(weight=70)]").correct


def test_generation_stops_once_a_reply_reads_as_prose_unless_asked_to_keep_it(split_file):
    case = load_generated(split_file)[0]
    long_prose = "Sure! To know the weather I would call [get_current_weather(location=\"Oslo\")] for you."
    text, complete, _, _ = first_call(ScriptedLLM([long_prose]), case, RunSettings().params(0))
    assert not complete and len(text) < 12
    text, complete, _, _ = first_call(ScriptedLLM([long_prose]), case, RunSettings().params(0), stop_at_prose=False)
    assert complete and text == long_prose
    score = score_reply(case, text, complete)
    assert score.buried_call and not score.called and not score.correct


def test_a_buried_call_is_found_inside_prose_but_not_invented():
    assert find_buried_call('Here you go: [f(a=1)] done')[0].arguments == {"a": 1}
    assert find_buried_call("Lists like [1, 2] and words [sic] are not calls.") == []


def test_limit_takes_a_seeded_subset_per_category_in_file_order(bfcl_dir):
    cases = load_bfcl("simple", bfcl_dir) + load_bfcl("irrelevance", bfcl_dir)
    picked = limit_cases(cases, 1, seed=3)
    assert sorted(c.category for c in picked) == ["bfcl:irrelevance", "bfcl:simple"]
    assert [c.id for c in limit_cases(cases, 1, seed=3)] == [c.id for c in picked]
    assert len(limit_cases(cases, 2, seed=3)) == 4 and len(limit_cases(cases, None)) == 5


def test_a_missing_generated_split_is_noted_not_fatal(bfcl_dir, tmp_path):
    selection = CaseSelection(categories=["irrelevance", "generated"], bfcl_dir=str(bfcl_dir),
                              split_file=str(tmp_path / "missing.jsonl"))
    cases, notes = collect_cases(selection)
    assert len(cases) == 2 and "generated split skipped" in notes[0]


def test_a_parameter_with_a_default_may_be_left_out_or_given_its_default_but_nothing_else():
    spec = _fn("get_current_weather", ["location"], location="string", unit="string")
    spec["parameters"]["properties"]["unit"]["default"] = "celsius"
    case = _case(possible_answer_of(parse_tool_calls('[get_current_weather(location="Oslo")]'), [spec]), [spec])
    assert score_reply(case, '[get_current_weather(location="Oslo")]').correct
    assert score_reply(case, '[get_current_weather(location="Oslo", unit="celsius")]').correct
    wrong = score_reply(case, '[get_current_weather(location="Oslo", unit="fahrenheit")]')
    assert not wrong.correct and wrong.error_type == "value_error:string"
