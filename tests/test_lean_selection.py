"""The lean trainer's batches share their system prompt, its validations score the call decision, and a run resumed
from its checkpoint ends where an uninterrupted run ends.

    pytest tests/test_lean_selection.py -q
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from training.lean.model import LossRow  # noqa: E402
from training.lean.selection import (  # noqa: E402
    batch_count,
    decision_scores,
    grouped_batches,
    prefix_groups,
    selection_score,
)


def row(ids: list[int], index: int) -> LossRow:
    ids_tensor = torch.tensor(ids)
    return LossRow(ids_tensor, torch.tensor([len(ids) - 2]), ids_tensor[-1:], index)


PROMPT_A, PROMPT_B = list(range(100, 120)), list(range(100, 103)) + list(range(300, 317))


def test_samples_are_grouped_by_the_system_prompt_they_share():
    rows = [row(PROMPT_A + [1, 2], 0), row(PROMPT_B + [1, 2], 1), row(PROMPT_A + [5, 6, 7], 2),
            row(PROMPT_B + [9], 3), row(PROMPT_A + [1, 3], 4)]
    groups = prefix_groups(rows)
    assert sorted(sorted(g) for g in groups) == [[0, 2, 4], [1, 3]]  # sharing 3 of ~21 tokens is not a group


def test_every_epoch_batches_each_sample_once_within_its_group_in_a_new_order():
    groups = [list(range(0, 10)), list(range(10, 13)), [13]]
    first, second = grouped_batches(groups, 4, seed=0, epoch=0), grouped_batches(groups, 4, seed=0, epoch=1)
    for batches in (first, second):
        assert sorted(i for b in batches for i in b) == list(range(14))
        assert all(len({next(n for n, g in enumerate(groups) if i in g) for i in b}) == 1 for b in batches)
        assert all(len(b) <= 4 for b in batches)
    assert first != second
    assert len(first) == len(second) == batch_count(groups, 4) == 5  # 3 + 1 + 1
    assert first == grouped_batches(groups, 4, seed=0, epoch=0)  # seeded: a resumed run sees the same order


def test_decision_scores_are_balanced_and_find_the_best_threshold():
    probabilities = [0.9, 0.6, 0.2, 0.1, 0.15, 0.05, 0.02, 0.01]
    is_call = [True, True, True, False, False, False, False, False]
    scores = decision_scores(probabilities, is_call)
    # at 0.5: calls 2/3 recalled, answers 5/5 -> (0.667 + 1) / 2
    assert scores["decision_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    # at 0.2 every call and every answer is right
    assert scores["decision_accuracy_best"] == 1.0 and scores["best_threshold"] == 0.2
    assert scores["mean_p_call_on_calls"] > scores["mean_p_call_on_answers"]


def test_selection_prefers_the_decision_and_breaks_ties_by_loss():
    better = {"eval_loss": 0.9, "decision_accuracy_best": 0.91}
    worse = {"eval_loss": 0.5, "decision_accuracy_best": 0.80}
    tie = {"eval_loss": 0.4, "decision_accuracy_best": 0.91}
    assert selection_score(better, "decision") > selection_score(worse, "decision")
    assert selection_score(tie, "decision") > selection_score(better, "decision")
    assert selection_score(worse, "loss") > selection_score(better, "loss")


@pytest.mark.training
def test_a_run_resumed_from_its_checkpoint_ends_like_an_uninterrupted_run(tmp_path, monkeypatch, embedded_gguf):
    from safetensors.torch import load_file

    from tests.test_training_levers import write_dataset
    from training.config import FinetuneConfig
    from training.finetune import fine_tune
    from training.lean import trainer as lean_trainer

    gguf = embedded_gguf
    data = write_dataset(tmp_path / "data", ["Oslo", "Lima", "Rome", "Nice", "Perth", "Cairo", "Quito", "Hanoi"])

    def config(run: str, **changes) -> FinetuneConfig:
        return FinetuneConfig(dataset_dir=data, base_model=str(gguf), output_dir=tmp_path / run, max_steps=4,
                              batch_size=2, max_length=256, lora_r=4, lora_alpha=8, lora_last_layers=2,
                              learning_rate=2e-3, warmup=0, lr_scheduler="linear", logging_steps=1, eval_steps=2,
                              early_stopping_patience=0, trainer="lean", precision="fp32", select_by="loss",
                              **changes)

    whole = fine_tune(config("whole"))

    real_step, calls = lean_trainer.optimiser_step, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("the session ended")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(lean_trainer, "optimiser_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(config("pieces"))
    assert (tmp_path / "pieces" / "lean-checkpoint.pt").is_file()
    monkeypatch.setattr(lean_trainer, "optimiser_step", real_step)
    resumed = fine_tune(config("pieces", resume=True))

    assert resumed.summary["steps"] == 4 and resumed.summary["resumed_from"]
    assert [h["step"] for h in resumed.history if "loss" in h] == [1, 2, 3, 4]
    assert [h["step"] for h in resumed.history if "eval_loss" in h] == [0, 2, 4]
    assert resumed.summary["best_checkpoint"] == whole.summary["best_checkpoint"]
    final_whole = load_file(whole.adapter_dir / "adapter_model.safetensors")
    final_resumed = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    for name, weight in final_whole.items():
        assert torch.allclose(weight, final_resumed[name], atol=1e-6), name
    # the call decision is scored: every sample here is a call, so P(call) is read (the balanced accuracy needs both)
    assert all(0.0 <= h["mean_p_call_on_calls"] <= 1.0 for h in resumed.history if "eval_loss" in h)
