"""The training speed levers are exact: same loss and same LoRA gradients as the plain forward, within float tolerance.

    pytest tests/test_training_levers.py -q

A tiny random Llama in float64 (6 layers, LoRA on the top 2) and a batch of samples that share a "system prompt" prefix,
then differ, with completions of different lengths. Each lever (shared prefix, padding-free, loss-only logits, cached
lower-layer states) and all of them together are compared with `model(input_ids, attention_mask)` + full logits; the
same on the embedded SmolLM2 (marked `training`, with a 3-step run of the lean trainer). The automatic precision choice
is tested with fake /proc/cpuinfo texts.
"""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from training.lean.model import (  # noqa: E402
    Levers,
    LossRow,
    batch_loss_sum,
    first_trainable_layer,
    lower_states,
    plain_loss_sum,
    shared_prefix_length,
)
from training.shared.hardware import choose_precision, cpu_flags, cpu_has_native_bf16, cpu_name  # noqa: E402

AVX2_CPU = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
SAPPHIRE_RAPIDS = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
                   "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n")
AMX_ONLY = "model name\t: Some CPU\nflags\t\t: avx2 amx_tile amx_bf16\n"
TRICKY = "model name\t: A CPU whose name says avx512_bf16\nflags\t\t: avx2 avx512f\n"


# ------------------------------------------------------------------------------------------------- precision

def test_auto_precision_is_bf16_only_where_the_cpu_has_native_bf16():
    assert choose_precision("auto", AVX2_CPU, cuda=False) == "fp32"
    assert choose_precision("auto", SAPPHIRE_RAPIDS, cuda=False) == "bf16"
    assert choose_precision("auto", AMX_ONLY, cuda=False) == "bf16"
    assert choose_precision("auto", TRICKY, cuda=False) == "fp32"  # the flags line decides, not the name
    assert choose_precision("auto", "", cuda=False) == "fp32"  # no /proc/cpuinfo: assume nothing


def test_cpu_flags_and_name_are_read_from_cpuinfo_and_an_explicit_choice_is_kept(capsys):
    assert {"amx_int8", "avx512_bf16", "avx2"} <= cpu_flags(SAPPHIRE_RAPIDS)
    assert cpu_name(SAPPHIRE_RAPIDS) == "Intel(R) Xeon(R) Platinum 8480+"
    assert not cpu_has_native_bf16(AVX2_CPU)
    assert choose_precision("bf16", AVX2_CPU, cuda=False) == "bf16"
    assert "emulated" in capsys.readouterr().err
    assert choose_precision("fp32", SAPPHIRE_RAPIDS, cuda=False) == "fp32"


def test_the_recipe_does_not_pin_fp32():
    import tomllib
    from pathlib import Path

    recipes = sorted((Path(__file__).parent.parent / "training" / "recipes").glob("*.toml"))
    assert recipes
    for recipe in recipes:
        assert tomllib.loads(recipe.read_text())["finetune"].get("precision", "auto") == "auto", recipe


# ------------------------------------------------------------------------------------------------- exactness

def tiny_lora_model(layers: int = 6, top: int = 2, seed: int = 0):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         attn_implementation="sdpa")
    model = LlamaForCausalLM(config)
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                      layers_to_transform=list(range(layers - top, layers)))
    model = get_peft_model(model, lora).double()  # float64: "exact" is checked far below fp32 rounding
    for name, parameter in model.named_parameters():  # LoRA B starts at zero: give it values so gradients differ
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.2)
    return model


def tiny_rows(seed: int = 1) -> list[LossRow]:
    """Four samples: a 23-token shared prefix, then different prompts and completions (lengths 9 to 31)."""
    generator = torch.Generator().manual_seed(seed)
    prefix = torch.randint(3, 97, (23,), generator=generator).tolist()
    rows = []
    for index, (prompt, completion) in enumerate(((5, 3), (12, 7), (2, 1), (20, 11))):
        body = torch.randint(3, 97, (prompt + completion,), generator=generator).tolist()
        ids = prefix + body
        rows.append(LossRow.from_row({"input_ids": ids,
                                      "completion_mask": [0] * (len(prefix) + prompt) + [1] * completion},
                                     index))
    return rows


def loss_and_grads(model, loss_sum, rows):
    model.zero_grad()
    loss = loss_sum / sum(r.loss_tokens for r in rows)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads


def assert_same(reference, candidate, tolerance: float = 1e-4):
    """Same loss and gradients: each gradient element within `tolerance` of its tensor's largest (or relatively).

    In float64 the levers agree with the plain forward to ~1e-15, except a shared prefix across *different* samples:
    ~6e-8 of the largest gradient in the lowest LoRA layer (the loss stays bitwise equal). That residue is not
    explained yet; it is ~3,000x below the plain path's own fp32 rounding (~2e-4), so 1e-6 is the float64 bar."""
    loss, grads = reference
    other_loss, other_grads = candidate
    assert other_loss == pytest.approx(loss, rel=tolerance / 10)
    assert grads.keys() == other_grads.keys() and len(grads) > 0
    for name, grad in grads.items():
        assert grad.abs().sum() > 0, name
        # fp32 sums in another order: each element within 1e-4 of the tensor's largest gradient (or relatively)
        scale = float(grad.abs().max())
        torch.testing.assert_close(other_grads[name], grad, rtol=tolerance, atol=tolerance * scale,
                                   msg=lambda text, name=name: f"{name}: {text}")


def test_the_split_is_the_lowest_lora_layer():
    assert first_trainable_layer(tiny_lora_model(layers=6, top=2)) == 4


def test_the_shared_prefix_stops_where_samples_differ_and_before_the_first_scored_position():
    rows = tiny_rows()
    assert shared_prefix_length(rows) == 23
    assert shared_prefix_length(rows[2:3]) == 23 + 2 - 1  # alone: everything before the first scored logit


@pytest.mark.parametrize("share_prefix,padding_free,loss_logits_only",
                         list(itertools.product([False, True], repeat=3)))
def test_every_lever_combination_gives_the_plain_loss_and_gradients(share_prefix, padding_free, loss_logits_only):
    model = tiny_lora_model()
    rows = tiny_rows()
    reference = loss_and_grads(model, plain_loss_sum(model, rows), rows)
    levers = Levers(share_prefix, padding_free, loss_logits_only)

    candidate = loss_and_grads(model, batch_loss_sum(model, 4, rows, levers), rows)

    assert_same(reference, candidate, 1e-6)


def test_a_missing_lower_layer_is_noticed_so_the_comparison_can_fail():
    model = tiny_lora_model()
    rows = tiny_rows()
    reference = loss_and_grads(model, plain_loss_sum(model, rows), rows)

    def three_lower_layers(batch, prefix_length):  # layer 3 is skipped: the states entering layer 4 are wrong
        return lower_states(model, 3, batch[0].ids[:prefix_length], [r.ids[prefix_length:] for r in batch], True)

    candidate = loss_and_grads(model, batch_loss_sum(model, 4, rows, Levers(), three_lower_layers), rows)
    with pytest.raises(AssertionError):
        assert_same(reference, candidate, 1e-2)


def test_cached_lower_states_give_the_plain_loss_and_gradients(tmp_path):
    from training.lean.hidden_cache import HiddenStateCache

    model = tiny_lora_model()
    rows = tiny_rows()
    reference = loss_and_grads(model, plain_loss_sum(model, rows), rows)
    cache = HiddenStateCache.build(model, 4, rows, tmp_path / "cache")
    reopened = HiddenStateCache.open(tmp_path / "cache", len(rows))  # read back from disk, as a later epoch does
    assert reopened is not None and cache.stats["computed_tokens"] < cache.stats["total_tokens"]

    for levers in (Levers(), Levers(share_prefix=False, padding_free=False, loss_logits_only=False)):
        candidate = loss_and_grads(model, batch_loss_sum(model, 4, rows, levers, reopened.source()), rows)
        assert_same(reference, candidate, 1e-6)


# ------------------------------------------------------------------------------------------------- a tiny real run

SYSTEM = ("You are a weather assistant. Call get_current_weather(city: str) for current weather; answer other "
          "questions directly. Today Date: 3 May 2026.")


def write_dataset(folder, cities):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    samples = [{"messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": f"Weather in {city}?"},
                             {"role": "assistant", "content": f'[get_current_weather(city="{city}")]'}]}
               for city in cities]
    for name, part in (("train", samples[:-2]), ("validation", samples[-2:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in part), encoding="utf-8")
    return folder


@pytest.mark.training
def test_lean_trainer_trains_the_top_layers_from_cached_states_and_saves_a_peft_adapter(tmp_path, embedded_gguf):
    import json

    from safetensors.torch import load_file

    from training.config import FinetuneConfig
    from training.finetune import fine_tune

    gguf = embedded_gguf
    config = FinetuneConfig(dataset_dir=write_dataset(tmp_path / "data", ["Oslo", "Lima", "Rome", "Nice", "Perth",
                                                                          "Cairo", "Quito", "Hanoi"]),
                            base_model=str(gguf), output_dir=tmp_path / "run", max_steps=3, batch_size=3,
                            max_length=256, lora_r=4, lora_alpha=8, lora_last_layers=2, learning_rate=2e-3,
                            warmup=0, lr_scheduler="constant", logging_steps=1, early_stopping_patience=0,
                            trainer="lean", precision="auto")

    result = fine_tune(config)

    summary = result.summary
    assert summary["trainer"] == "lean" and summary["split_layer"] == 28 and summary["steps"] == 3
    assert [h["step"] for h in result.history if "loss" in h] == [1, 2, 3]
    cache = summary["hidden_cache"]["train"]
    assert cache["samples"] == 6 and cache["computed_tokens"] < cache["total_tokens"]  # the system prompt once
    assert summary["validation_loss_best"] < summary["validation_loss_before"]
    weights = load_file(result.adapter_dir / "adapter_model.safetensors")
    lora_b = {name: w for name, w in weights.items() if "lora_B" in name}
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b.values())  # zero at init: every B moved
    assert {int(name.split(".layers.")[1].split(".")[0]) for name in weights} == {28, 29}
    adapter_config = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    assert adapter_config["r"] == 4 and adapter_config["layers_to_transform"] == [28, 29]


# ------------------------------------------------------------------------------------------------- loop and report

def test_every_epoch_visits_each_sample_once_in_a_new_seeded_order():
    from training.lean.trainer import batch_order, warmup_steps

    batches = batch_order(10, 4, seed=0)
    first = [next(batches) for _ in range(3)]
    second = [next(batches) for _ in range(3)]

    assert [epoch for epoch, _ in first + second] == [0, 0, 0, 1, 1, 1]
    assert [len(b) for _, b in first] == [4, 4, 2]  # the last batch is short, as in the Trainer
    assert sorted(i for _, b in first for i in b) == list(range(10))
    assert [b for _, b in first] != [b for _, b in second]
    assert [b for _, b in first] == [b for _, b in itertools.islice(batch_order(10, 4, seed=0), 3)]
    assert warmup_steps(0.05, 100) == 5 and warmup_steps(7, 100) == 7


def test_throughput_report_names_the_cpu_flags_and_draws_every_variant(tmp_path, capsys):
    from training.shared.hardware import cpu_report
    from training.throughput import plot, print_table, with_rates

    variants = [with_rates("TRL SFTTrainer", {"seconds": 40.0, "precision": "fp32"}, 8, 5200, 180),
                with_rates("+ cached lower layers", {"seconds": 8.0, "precision": "fp32",
                                                     "cache": {"seconds": 3.5}}, 8, 5200, 180)]
    for variant in variants:
        variant["speedup"] = round(variant["samples_per_s"] / variants[0]["samples_per_s"], 2)
    report = {"cpu": cpu_report(SAPPHIRE_RAPIDS), "threads": 2, "base_model": "smollm2-135m", "samples": 8,
              "tokens": 5200, "loss_tokens": 180, "batch_size": 4, "precision_auto": "bf16", "variants": variants}

    print_table(report)
    chart = plot(report, tmp_path / "throughput.png")

    table = capsys.readouterr().out
    assert "Intel(R) Xeon(R) Platinum 8480+" in table and "amx_int8=yes" in table and "avx512_bf16=yes" in table
    assert variants[1]["samples_per_s"] == 1.0 and variants[1]["loss_tokens_per_s"] == 22.5
    assert "5.00x" in table and "cache built in 3.5 s" in table
    assert chart.stat().st_size > 5000


@pytest.mark.training
def test_on_the_embedded_model_the_levers_give_the_plain_loss_and_gradients(tmp_path, embedded_gguf):
    from training.config import FinetuneConfig
    from training.lean.hidden_cache import HiddenStateCache
    from training.shared.base_model import resolve_base_model
    from training.shared.lora import load_model_for_training
    from training.shared.samples import ChatRenderer, tokenize_sample

    gguf = embedded_gguf
    config = FinetuneConfig(base_model=str(gguf), lora_r=4, lora_alpha=8, lora_last_layers=3, precision="fp32")
    model, tokenizer = load_model_for_training(config, resolve_base_model(str(gguf)), "transformers", "fp32")
    # In float64 the comparison is tight: in fp32 both paths sit ~2e-4 (relative) from the float64 gradients, the
    # plain path no closer than the lean one, because SmolLM2's large activations amplify rounding over 27 layers.
    model = model.double()
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    renderer = ChatRenderer.from_tokenizer(tokenizer)
    rows = [LossRow.from_row(tokenize_sample(renderer, tokenizer, [
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
        {"role": "assistant", "content": answer}]), i)
        for i, (question, answer) in enumerate([("Weather in Oslo?", '[get_current_weather(city="Oslo")]'),
                                                ("What is 2 + 2?", "2 + 2 is 4.")])]
    split = first_trainable_layer(model)
    reference = loss_and_grads(model, plain_loss_sum(model, rows), rows)
    cache = HiddenStateCache.build(model, split, rows, tmp_path / "cache")

    assert split == 27 and shared_prefix_length(rows) > 30  # the system prompt
    assert_same(reference, loss_and_grads(model, batch_loss_sum(model, split, rows, Levers()), rows), 1e-6)
    assert_same(reference, loss_and_grads(model, batch_loss_sum(model, split, rows, Levers(), cache.source()), rows),
                1e-6)
