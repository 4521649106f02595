"""The synthetic function-calling dataset: verified samples, disjoint splits, determinism, and its grader."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import pytest

from agent import Agent
from agent.format import parse_tool_calls, validate_call
from agent.messages import Message
from agent.prompts import MODES
from fakes.models import ScriptedLLM
from stage_cli import SettingsParser, parse_config
from tools import get_tools
from training.dataset import builders as B
from training.dataset import generate as D
from training.dataset import tool_turns as TT
from training.dataset.variety import date_pools, noisy, protected_words

SIZE = 900  # train 900, validation 90, test 120: every category in every split, built in about a second


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("funccall-data")
    splits, stats = D.build(D.DatasetConfig(out=out, seed=0, size=SIZE))
    D.write(splits, stats, out)
    return out, {split: D.read_jsonl(out / f"{split}.jsonl") for split in D.SPLITS}, stats


def all_samples(files):
    return [sample for split in D.SPLITS for sample in files[split]]


def target(sample) -> str:
    return sample["messages"][-1]["content"]


def ipython_results(sample) -> list[dict]:
    return [json.loads(m["content"]) for m in sample["messages"] if m["role"] == "ipython"]


# ------------------------------------------------------------------------------------------ verified samples

def test_every_written_sample_passes_verification(built):
    _, files, _ = built
    for sample in all_samples(files):
        expected = parse_tool_calls(target(sample))
        assert D.verify_sample(sample, expected) == [], sample["id"]
        assert D.grade_reply(sample, target(sample)) == [], sample["id"]


def test_call_targets_validate_against_the_tools_of_their_mode_and_plain_targets_hold_no_call(built):
    _, files, _ = built
    calls_seen = 0
    for sample in all_samples(files):
        specs = D.mode_specs(sample["mode"])
        calls = parse_tool_calls(target(sample))
        if sample["category"] in ("weather_current", "weather_forecast", "wiki_lookup", "parallel_calls"):
            assert calls, sample["id"]
        if sample["category"] in ("no_tool", "missing_info", "answer", "answer_error"):
            assert calls == [], sample["id"]
        for call in calls:
            assert call.name in MODES[sample["mode"]].tool_names
            assert validate_call(call, specs) == []
            calls_seen += 1
    assert calls_seen > 300


def test_system_prompts_are_the_ones_the_agent_sends(built):
    _, files, _ = built
    tools = get_tools()
    for sample in files["test"][:60]:
        day = re.search(r"Today Date: (\d+ \w+ \d{4})", sample["messages"][0]["content"]).group(1)
        agent = Agent(ScriptedLLM([]), tools, sample["mode"], today=dt.datetime.strptime(day, "%d %B %Y").date())
        assert sample["messages"][0]["content"] == agent.system_message().content


def test_answer_turns_state_the_numbers_and_names_of_their_tool_results(built):
    _, files, _ = built
    answers = [s for s in all_samples(files) if s["category"] == "answer"]
    assert answers
    for sample in answers:
        results = json.dumps(ipython_results(sample), ensure_ascii=False)
        numbers = {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", results)}
        assert sample["must_mention"], sample["id"]
        for value in sample["must_mention"]:
            if re.fullmatch(r"-?\d+(?:\.\d+)?", value):
                assert float(value) in numbers, (sample["id"], value)  # the number comes from the tool result
            else:
                assert value.casefold() in results.casefold(), (sample["id"], value)
            assert D.mentions(target(sample), value)


@pytest.fixture(scope="module")
def built_v4(tmp_path_factory):
    """The fourth adapter's data options (training/recipes/smollm2-135m-funccall-v4.toml)."""
    config = D.DatasetConfig(out=tmp_path_factory.mktemp("v4-data"), seed=0, size=SIZE, undated_share=0.5,
                             more_phrasings=True)
    splits, _ = D.build(config)
    return {split: splits[split] for split in D.SPLITS}


def person_summaries(files) -> tuple[int, int]:
    """(answers whose article summary dates a person, answers whose summary of such a person lost the dates)"""
    dated = undated = 0
    people = {t.title for t in B.load_topics() if TT._DATES.search(t.summary)}
    for sample in all_samples(files):
        articles = [r for r in ipython_results(sample) if "summary" in r and r.get("title") in people]
        if sample["category"] == "answer" and articles:
            dated += bool(TT._DATES.search(articles[0]["summary"]))
            undated += not TT._DATES.search(articles[0]["summary"])
    return dated, undated


def test_answers_about_an_article_state_only_the_dates_its_summary_gives(built, built_v4):
    # The third adapter added "(1971–1990)" to a summary without dates; with --undated-share its answers learn not to.
    for files in (built[1], built_v4):
        for sample in all_samples(files):
            if sample["category"] != "answer" or not any("summary" in r for r in ipython_results(sample)):
                continue
            given = json.dumps(ipython_results(sample), ensure_ascii=False)
            given += " ".join(m["content"] for m in sample["messages"] if m["role"] == "user")
            years = set(re.findall(r"\b\d{3,4}\b", target(sample)))
            assert years <= set(re.findall(r"\b\d{3,4}\b", given)), (sample["id"], years)
    dated, undated = person_summaries(built[1])
    assert dated and undated == 0, "the default data keeps every summary as written"
    dated, undated = person_summaries(built_v4)
    assert dated and undated and 0.3 < undated / (dated + undated) < 0.7, (dated, undated)


def test_more_phrasings_draws_the_more_groups_only_when_asked(built, built_v4):
    def groups(files):
        return Counter(t.rsplit(".", 1)[0] for s in all_samples(files) for t in s["templates"])

    default, more = groups(built[1]), groups(built_v4)
    assert not [g for g in default if g.endswith("_more")]
    assert more["par.mixed_more"] and more["fu.unit_more"]
    assert more["fu.unit"] + more["fu.unit_more"] > default["fu.unit"]
    with pytest.raises(ValueError, match="undated-share"):
        D.build_split("train", 10, 0, undated_share=1.5)


def test_error_answers_name_the_place_or_topic_and_invent_no_temperature(built):
    _, files, _ = built
    errors = [s for s in all_samples(files) if s["category"] == "answer_error"]
    assert errors
    for sample in errors:
        result = ipython_results(sample)[-1]
        assert "error" in result or result.get("ambiguous") is True
        assert "°" not in target(sample)
        assert sample["must_mention"][0] in target(sample)


def test_restraint_share_is_between_35_and_40_percent_of_every_split(built):
    _, _, stats = built
    for split in D.SPLITS:
        assert 0.35 <= stats["splits"][split]["no_tool_share"] <= 0.40


def test_every_category_appears_in_every_split(built):
    _, files, _ = built
    for split in D.SPLITS:
        assert set(Counter(s["category"] for s in files[split])) == set(D.CATEGORY_SHARES)


def test_restraint_reaches_every_tool_mode_and_the_hard_negatives(built):
    _, files, _ = built
    train = files["train"]
    assert {s["mode"] for s in train if s["category"] == "missing_info"} >= {"weather", "wiki", "all"}
    assert {s["mode"] for s in train if s["category"] == "no_tool"} == set(MODES)
    groups = {t.rsplit(".", 1)[0] for s in train if s["category"] == "no_tool" for t in s["templates"]}
    assert {"gen.translate", "gen.arith", "qa.mentions_weather", "qa.mentions_name", "qa.chitchat",
            "qa.writing"} <= groups
    thanks = [s for s in train if any(t.startswith("fu.thanks") for t in s["templates"])]
    assert thanks and any(any(m["role"] == "ipython" for m in s["messages"]) for s in thanks)  # thanks after an answer


def test_every_tool_mode_holds_back_in_about_a_third_of_its_training_samples(built):
    _, files, stats = built
    by_mode = stats["splits"]["train"]["no_tool_share_by_mode"]
    assert set(by_mode) == set(MODES) and by_mode["chat"] == 1.0
    for mode in ("weather", "wiki", "all"):
        samples = [s for s in files["train"] if s["mode"] == mode]
        share = sum(s["category"] in ("no_tool", "missing_info") for s in samples) / len(samples)
        assert by_mode[mode] == round(share, 3) and 0.3 <= share <= 0.45, (mode, share)


def test_the_answer_after_a_tool_result_is_the_largest_tool_category():
    tool_shares = {k: v for k, v in D.CATEGORY_SHARES.items() if k not in ("no_tool", "missing_info")}
    assert max(tool_shares, key=tool_shares.get) == "answer"


# ------------------------------------------------------------------------------------ dates and surface noise

def test_each_split_draws_its_dates_from_eight_of_its_own_spread_over_the_seasons(built):
    _, files, stats = built
    pools = date_pools(0, D.SPLITS)
    for split in D.SPLITS:
        assert len(set(pools[split])) == 8
        assert {(d.month % 12) // 3 for d in pools[split]} == {0, 1, 2, 3}  # winter, spring, summer, autumn
        days = {dt.datetime.strptime(re.search(r"Today Date: (.+)", s["messages"][0]["content"]).group(1),
                                     "%d %B %Y").date() for s in files[split]}
        assert days <= set(pools[split])
        prompts = {s["messages"][0]["content"] for s in files[split]}
        assert stats["splits"][split]["distinct_system_prompts"] == len(prompts) <= 8 * len(MODES)
    assert not set(pools["train"]) & (set(pools["validation"]) | set(pools["test"]))
    assert not set(pools["validation"]) & set(pools["test"])


def test_about_a_quarter_of_the_samples_carry_every_kind_of_surface_noise(built):
    _, files, stats = built
    numbers = stats["splits"]["train"]
    assert 0.15 <= numbers["noisy_samples"] / numbers["samples"] <= 0.35
    assert set(numbers["noise_kinds"]) == {"lower", "no_punct", "typo", "filler"}
    noisy_users = [m["content"] for s in files["train"] if s["noise"] for m in s["messages"] if m["role"] == "user"]
    assert any(text == text.lower() and text[:1].isalpha() for text in noisy_users)


def test_in_noisy_samples_every_called_place_and_topic_is_still_in_the_users_words(built):
    _, files, _ = built
    spellings = {c.name: [c.name, *c.spellings] for c in D.load_cities()}
    checked = 0
    for sample in all_samples(files):
        if "typo" not in sample["noise"]:
            continue
        said = " ".join(m["content"] for m in sample["messages"] if m["role"] == "user").casefold()
        for call in parse_tool_calls(target(sample)):
            value = call.arguments.get("location") or call.arguments["query"]
            assert any(form.casefold() in said for form in spellings.get(value, [value])), (sample["id"], value)
            checked += 1
    assert checked > 20


def test_a_typo_never_touches_the_called_place_a_number_or_quoted_text():
    call = Message("assistant", '[get_weather_forecast(location="Rio de Janeiro", days=5)]')
    protected = protected_words([call], [])
    rng, typos = random.Random(0), 0
    for _ in range(300):
        text, kinds = noisy(rng, "Could you please check the weather in Rio de Janeiro for the next 5 days?",
                            protected)
        assert "rio de janeiro" in text.casefold() and " 5 " in text
        typos += "typo" in kinds
        text, kinds = noisy(rng, "Please translate 'it is raining today' into French.", set())
        assert "'it is raining today'" in text.casefold()
    assert typos > 30


# ------------------------------------------------------------------------------------------------- splits

def test_splits_share_no_phrasing_template_and_no_entity(built):
    _, files, _ = built
    templates = {split: {t for s in files[split] for t in s["templates"]} for split in D.SPLITS}
    entities = {split: {e for s in files[split] for e in s["entities"]} for split in D.SPLITS}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not templates[a] & templates[b], (a, b)
        assert not entities[a] & entities[b], (a, b)
    assert len(entities["test"]) >= 20 and len(templates["test"]) >= 40  # the test set is not a handful of items


def test_no_place_or_topic_called_in_one_split_is_called_in_another(built):
    _, files, _ = built

    def arguments(split):
        values = set()
        for sample in files[split]:
            for message in sample["messages"]:
                if message["role"] == "assistant":
                    values |= {str(v).casefold() for call in parse_tool_calls(message["content"])
                               for k, v in call.arguments.items() if k in ("location", "query")}
        return values

    seen = {split: arguments(split) for split in D.SPLITS}
    assert not seen["test"] & (seen["train"] | seen["validation"])
    assert not seen["validation"] & seen["train"]


def test_follow_ups_hold_both_new_calls_and_plain_answers_after_a_tool_turn(built):
    _, files, _ = built
    follow_ups = [s for s in files["train"] if s["category"] == "follow_up"]
    kinds = Counter(bool(parse_tool_calls(target(s))) for s in follow_ups)
    assert kinds[True] > 20 and kinds[False] > 20
    assert any(m["role"] == "ipython" for s in follow_ups for m in s["messages"])


def test_held_out_pools_do_not_depend_on_the_seed(built):
    _, files, _ = built
    pools = D.split_pools()["test"]
    test_cities = {f"city:{c.name}" for c in pools.cities}
    other_splits, _ = D.build_split("test", 80, seed=7)
    for sample in files["test"] + other_splits:
        assert {e for e in sample["entities"] if e.startswith("city:")} <= test_cities


def test_out_of_mode_share_sets_how_many_no_tool_samples_ask_for_a_tool_the_mode_lacks(tmp_path):
    def weather_requests(share: float) -> tuple[list[dict], list[dict]]:
        samples, _ = D.build_split("train", 400, seed=0, out_of_mode_share=share)
        no_tool = [s for s in samples if s["category"] == "no_tool" and s["mode"] in ("wiki", "chat")]
        return no_tool, [s for s in no_tool if s["must_not_mention"] == ["°"]]  # "no weather tool here", no degrees

    _, never = weather_requests(0.0)
    no_tool, always = weather_requests(1.0)
    assert never == [] and no_tool and len(always) == len(no_tool)
    with pytest.raises(ValueError, match="out-of-mode-share"):
        D.build(D.DatasetConfig(out=tmp_path, size=10, out_of_mode_share=1.5))


def test_mode_twins_pair_each_out_of_mode_request_with_the_same_words_as_a_call_where_the_tool_is():
    plain, _ = D.build_split("train", 400, seed=0, out_of_mode_share=0.5)
    twinned, _ = D.build_split("train", 400, seed=0, out_of_mode_share=0.5, mode_twins=True)
    assert not any(s["category"] == "no_tool" for s in twinned if s["messages"][-1]["content"].startswith("["))
    refusals = {s["messages"][1]["content"]: s for s in twinned if s["category"] == "no_tool"
                and (s["must_not_mention"] == ["°"] or any(e.startswith("wiki:") for e in s["entities"]))
                and s["mode"] in ("weather", "wiki", "chat")}
    twins = [s for s in twinned if s["messages"][1]["content"] in refusals and s["category"] != "no_tool"]
    assert len(twins) > 20, "most out-of-mode requests come with a twin"
    for twin in twins:
        refusal = refusals[twin["messages"][1]["content"]]
        calls = twin["messages"][-1]["content"]
        tool = calls[1:].split("(", 1)[0]
        assert tool in MODES[twin["mode"]].tool_names and tool not in MODES[refusal["mode"]].tool_names
        assert twin["entities"] == refusal["entities"]
    counts = Counter(s["category"] for s in plain)
    assert Counter(s["category"] for s in twinned)["no_tool"] == counts["no_tool"], "twins come on top"


def test_the_test_split_has_cities_from_several_continents(built):
    pools = D.split_pools()
    continents = {c.continent for c in pools["test"].cities}
    assert len(continents) >= 5, continents


# ------------------------------------------------------------------------------------------- determinism

def _build_bytes(tmp_path, seed: int) -> dict[str, bytes]:
    out = tmp_path / f"seed-{seed}-{len(list(tmp_path.iterdir()))}"
    D.main(["--out", str(out), "--seed", str(seed), "--size", "200"])
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_the_same_seed_writes_the_same_bytes(tmp_path, capsys):
    first, second = _build_bytes(tmp_path, 3), _build_bytes(tmp_path, 3)
    assert set(first) == {"train.jsonl", "validation.jsonl", "test.jsonl", "stats.json"}
    assert first == second


def test_another_seed_writes_other_samples(tmp_path, capsys):
    first, other = _build_bytes(tmp_path, 3), _build_bytes(tmp_path, 4)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl"):
        assert first[name] != other[name]


# ---------------------------------------------------------------------------------------- files and stats

def test_stats_count_exactly_what_the_files_hold(built):
    out, files, _ = built
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    for split in D.SPLITS:
        samples = files[split]
        numbers = stats["splits"][split]
        assert numbers["samples"] == len(samples) == stats["sizes"][split]
        assert numbers["categories"] == dict(sorted(Counter(s["category"] for s in samples).items()))
        assert numbers["modes"] == dict(sorted(Counter(s["mode"] for s in samples).items()))
        calls = sum(bool(parse_tool_calls(target(s))) for s in samples)
        assert numbers["targets"] == {"call": calls, "text": len(samples) - calls}
        assert all(s["split"] == split and s["id"].startswith(split) for s in samples)
    assert stats["sizes"] == {"train": SIZE, "validation": SIZE // 10, "test": SIZE // 3}


def test_files_load_with_hugging_face_datasets(built, tmp_path):
    datasets = pytest.importorskip("datasets")
    out, files, _ = built
    loaded = datasets.load_dataset("json", data_files={s: str(out / f"{s}.jsonl") for s in D.SPLITS},
                                   cache_dir=str(tmp_path / "hf-cache"))
    for split in D.SPLITS:
        assert loaded[split].num_rows == len(files[split])
    first = loaded["train"][0]
    assert first["messages"][0]["role"] == "system" and first["messages"][-1]["role"] == "assistant"
    assert first["messages"] == files["train"][0]["messages"]


def test_prompt_completion_puts_only_the_target_in_the_completion(built):
    _, files, _ = built
    sample = next(s for s in files["train"] if s["category"] == "answer")
    pair = D.to_prompt_completion(sample)
    assert pair == {"prompt": sample["messages"][:-1], "completion": [sample["messages"][-1]]}
    assert pair["prompt"][-1]["role"] == "ipython" and pair["completion"][0]["role"] == "assistant"
    assert sample["messages"][-1] in pair["completion"] and sample["messages"][-1] not in pair["prompt"]


# ------------------------------------------------------------------------------- the grader can say no

def test_a_call_to_the_wrong_place_or_no_call_at_all_is_graded_wrong(built):
    _, files, _ = built
    sample = next(s for s in files["test"] if s["category"] == "weather_current")
    assert D.grade_reply(sample, '[get_current_weather(location="Atlantis")]')
    assert D.grade_reply(sample, "It is sunny.") == ["answered in plain text where a tool call was expected"]
    assert D.grade_reply(sample, '[get_current_weather(city="Oslo")]')  # unknown argument
    assert D.grade_reply(sample, "[get_current_weather(location=") [0].startswith("malformed")


def test_lenient_grading_fills_defaults_and_ignores_case(built):
    _, files, _ = built
    sample = next(s for s in files["test"] if s["category"] == "weather_current"
                  and "unit=" not in target(s))
    call = parse_tool_calls(target(sample))[0]
    lower = f'[get_current_weather(location="{call.arguments["location"].lower()}", unit="celsius")]'
    assert D.grade_reply(sample, lower) == []
    assert D.grade_reply(sample, lower, strict=True) != []


def test_a_plain_answer_that_calls_or_drops_the_numbers_is_graded_wrong(built):
    _, files, _ = built
    chat = next(s for s in files["test"] if s["category"] == "no_tool" and not s["must_mention"])
    assert D.grade_reply(chat, '[search_wikipedia(query="anything")]')
    # prose that opens with a name and a parenthesis streams as prose (the agent reads `name(arg=` as a call)
    assert D.grade_reply(chat, "Confucius (551–479 BC) was a philosopher.") == []
    answer = next(s for s in files["test"] if s["category"] == "answer")
    assert D.grade_reply(answer, "The weather is nice.")
    error = next(s for s in files["test"] if s["category"] == "answer_error" and "°" in s["must_not_mention"])
    invented = f"It's 21 °C in {error['must_mention'][0]}."
    assert any("no tool result supports" in p for p in D.grade_reply(error, invented))


def test_verification_rejects_a_target_that_does_not_fit_the_tools(built):
    _, files, _ = built
    sample = json.loads(json.dumps(next(s for s in files["train"] if s["category"] == "weather_forecast")))
    intended = parse_tool_calls(target(sample))
    sample["messages"][-1]["content"] = target(sample).replace("location=", "place=")
    assert any("unknown argument" in p for p in D.verify_sample(sample, intended))
    sample["messages"][-1]["content"] = '[get_weather_forecast(location="Nowhere")]'
    assert any("differ from the expected" in p for p in D.verify_sample(sample, intended))


def test_mentions_matches_numbers_as_written_or_rounded_but_not_inside_other_numbers():
    assert D.mentions("It's 3.2 °C in Oslo", "3.2")
    assert D.mentions("about 3 °C", "3.2")
    assert not D.mentions("13 °C", "3")
    assert not D.mentions("-3 °C", "3")
    assert D.mentions("−4.5 °C", "-4.5")
    assert D.mentions("Sunny in OSLO", "Oslo")


# -------------------------------------------------------------------------------------------- the config

def test_dataset_flags_are_generated_from_the_config_with_help_text(tmp_path):
    parser = SettingsParser([D.DatasetConfig])
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert set(flags) == {"out", "seed", "size", "validation_size", "test_size", "other_tools_share",
                          "out_of_mode_share", "undated_share", "more_phrasings", "mode_twins", "config"}
    assert all(a.help for a in flags.values())
    config = parse_config(D.DatasetConfig, ["--out", str(tmp_path), "--size", "50", "--test-size", "none"])
    assert config.out == tmp_path and config.size == 50 and config.test_size is None
    assert config.split_sizes() == {"train": 50, "validation": 5, "test": 16}  # size / 3


def test_default_output_dir_follows_the_training_output_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINING_OUTPUT_DIR", str(tmp_path))
    assert D.DatasetConfig().out == tmp_path / "funccall" / "data"


def test_config_parser_turns_bools_literals_and_optionals_into_flags():
    @dataclass
    class Example:
        rate: float = field(default=0.1, metadata={"help": "Learning rate, in %."})
        mode: Literal["weather", "wiki"] = field(default="wiki", metadata={"help": "Which mode."})
        packing: bool = field(default=True, metadata={"help": "Pack samples."})
        limit: int | None = field(default=None, metadata={"help": "At most this many."})

    assert parse_config(Example, []) == Example()
    parsed = parse_config(Example, ["--rate", "2e-4", "--mode", "weather", "--no-packing", "--limit", "7"])
    assert parsed == Example(rate=2e-4, mode="weather", packing=False, limit=7)
    with pytest.raises(SystemExit):
        parse_config(Example, ["--mode", "chat"])
    assert "in %" in SettingsParser([Example]).format_help()
