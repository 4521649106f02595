"""The `other_tools` category (training/dataset/other_tools.py): invented functions listed as an API user lists them;
the target calls the one that fits, says none fits, or asks for the values the question left out. Also the second-
stage warm start (`--init-adapter`, training/shared/lora.py).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from agent.format import parse_tool_calls, validate_call
from agent.prompts import system_prompt
from evaluation.cases import functions_in_prompt, sample_to_case
from training.dataset import generate as D
from training.dataset.other_tools import NOT_LISTED, load_other_tools

SIZE = 400


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("other-tools-data")
    splits, stats = D.build(D.DatasetConfig(out=out, seed=3, size=SIZE, other_tools_share=0.25))
    D.write(splits, stats, out)
    return {split: D.read_jsonl(out / f"{split}.jsonl") for split in D.SPLITS}, stats


def others(files, split: str | None = None) -> list[dict]:
    splits = [split] if split else D.SPLITS
    return [s for name in splits for s in files[name] if s["category"] == "other_tools"]


def test_the_share_makes_room_for_the_category_and_zero_keeps_the_original_mix():
    assert D.category_counts(1000) == D.category_counts(1000, 0.0) and "other_tools" not in D.category_counts(1000)
    counts = D.category_counts(1000, 0.25)
    assert counts["other_tools"] == 250 and sum(counts.values()) == 1000
    assert counts["no_tool"] == round(1000 * D.CATEGORY_SHARES["no_tool"] * 0.75)
    with pytest.raises(ValueError, match="other-tools-share"):
        D.category_counts(100, 1.0)


def test_every_sample_verifies_and_lists_its_own_functions_in_metas_prompt_without_a_persona(built):
    files, stats = built
    samples = others(files)
    assert len(samples) >= SIZE * 0.25 - 2  # a duplicate or two may be dropped
    for sample in samples:
        target = sample["messages"][-1]["content"]
        assert D.verify_sample(sample, parse_tool_calls(target)) == [], sample["id"]
        system = sample["messages"][0]["content"]
        names = [f["name"] for f in sample["functions"]]
        assert [f["name"] for f in functions_in_prompt(system)] == names
        today = system.split("Today Date: ")[1].split("\n")[0] if "Today Date: " in system else None
        assert system == system_prompt(sample["functions"], persona=None, today=today)  # what the evaluation sends
        case = sample_to_case(sample)
        assert case is not None and [f["name"] for f in case.functions] == names


def test_a_call_target_calls_a_listed_function_with_the_values_the_user_wrote(built):
    files, _ = built
    calls = [s for s in others(files) if parse_tool_calls(s["messages"][-1]["content"])]
    assert len(calls) >= 20
    for sample in calls:
        (call,) = parse_tool_calls(sample["messages"][-1]["content"])
        specs = {f["name"]: f for f in sample["functions"]}
        assert call.name in specs and validate_call(call, specs) == []
        user = sample["messages"][-2]["content"].casefold()
        for name, value in call.arguments.items():
            enum = specs[call.name]["parameters"]["properties"][name].get("enum")
            if isinstance(value, str) and not enum:
                assert value.casefold() in user, (sample["id"], name, value)


def test_a_question_for_a_function_not_listed_is_answered_in_words_naming_the_listed_ones(built):
    files, _ = built
    by_name = {f["name"]: f for f in load_other_tools()}
    declined = [s for s in others(files) if any(s["messages"][-1]["content"].startswith(t.split("{")[0])
                                                for t in NOT_LISTED)]
    assert len(declined) >= 15
    near_misses = 0
    for sample in declined:
        asked = sample["entities"][0].split(":", 1)[1]
        listed = [f["name"] for f in sample["functions"]]
        assert asked not in listed and not parse_tool_calls(sample["messages"][-1]["content"])
        assert all(name in sample["messages"][-1]["content"] for name in listed)
        near_misses += any(by_name[n]["group"] == by_name[asked]["group"] for n in listed)
    assert near_misses >= len(declined) // 4  # many decline a function of the very domain asked about


def test_the_functions_asked_about_in_validation_and_test_are_never_asked_about_in_training(built):
    files, _ = built
    asked = {split: {s["entities"][0] for s in others(files, split)} for split in D.SPLITS}
    assert asked["train"] and asked["validation"] and asked["test"]
    assert not asked["train"] & asked["test"] and not asked["train"] & asked["validation"]


def test_the_three_kinds_all_occur_and_the_prompts_vary(built):
    files, stats = built
    samples = others(files, "train")
    kinds = Counter("call" if parse_tool_calls(s["messages"][-1]["content"]) else
                    "ask" if s["messages"][-1]["content"].rstrip().endswith(("?", "run {name}.".split()[-1]))
                    or "I need" in s["messages"][-1]["content"] or "give me" in s["messages"][-1]["content"]
                    else "decline" for s in samples)
    assert all(kinds[k] >= 5 for k in ("call", "ask", "decline")), kinds
    assert len({s["messages"][0]["content"] for s in samples}) >= len(samples) // 2
    assert stats["splits"]["train"]["categories"]["other_tools"] == len(samples)
    # Declines count as holding back in the restraint share.
    assert stats["splits"]["train"]["no_tool_share"] > (stats["splits"]["train"]["categories"]["no_tool"]
                                                        / stats["splits"]["train"]["samples"])


def test_the_recipe_of_stage_two_writes_its_own_data_and_starts_from_stage_ones_adapter():
    from training.funccall import parse_args

    parsed = parse_args(["--config", "training/recipes/smollm2-135m-funccall-stage2.toml"])
    assert parsed["dataset"].other_tools_share == 0.25 and parsed["dataset"].seed == 1
    assert str(parsed["finetune"].init_adapter) == "runs/funccall/model/adapter"
    assert str(parsed["finetune"].dataset_dir) != "runs/funccall/data"  # the evaluation's seed-0 splits stay


def test_warm_start_copies_a_saved_adapter_and_refuses_one_of_another_shape(tmp_path):
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    from training.shared.lora import load_adapter_weights

    def tiny(r: int, seed: int = 0):
        config = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, num_key_value_heads=2)
        torch.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config)
        return peft.get_peft_model(model, peft.LoraConfig(r=r, target_modules=["q_proj", "v_proj"],
                                                          init_lora_weights=False))

    saved = tiny(4)
    saved.save_pretrained(tmp_path / "adapter")
    fresh = tiny(4, seed=1)
    name = next(n for n, _ in fresh.named_parameters() if "lora_B" in n)
    assert not torch.equal(dict(fresh.named_parameters())[name], dict(saved.named_parameters())[name])
    load_adapter_weights(fresh, tmp_path / "adapter")
    assert torch.equal(dict(fresh.named_parameters())[name], dict(saved.named_parameters())[name])
    with pytest.raises(ValueError, match="does not fit"):
        load_adapter_weights(tiny(8), tmp_path / "adapter")
    with pytest.raises(FileNotFoundError, match="init-adapter"):
        load_adapter_weights(tiny(4), tmp_path / "nothing")
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 4
