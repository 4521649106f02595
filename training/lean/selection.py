"""What the lean trainer validates and how it orders batches.

- **Validation by the decision that matters.** Besides the completion loss, every validation reads the probability
  that the reply's first token opens a tool call (the softmax mass of the call-opening tokens, as the agent's decoder
  does at inference) and scores the call-or-answer decision: balanced accuracy (the mean of the recall on samples
  whose target is a call and on samples whose target is text), at P >= 0.5 and at the best threshold (what the
  catalogue's fitted `call_threshold` can reach). Checkpoints are kept and early stopping decided by that score
  (`select_by = "decision"`), with the loss as the tie-break.
- **Batches that share their system prompt.** Samples are grouped by the prefix they share (in sorted token order,
  neighbours sharing at least half of the shorter sample); each epoch shuffles every group, cuts it into batches and
  shuffles the batches, so the shared-prefix lever runs a ~630-token system prompt once per batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from agent.backends.llamacpp import common_prefix_length
from agent.format import PYTHON_TAG
from training.lean.model import Levers, LossRow, batch_states, first_token_logits, head_loss_sum


def call_opening_ids(tokenizer) -> torch.Tensor:
    """Token ids whose text opens a call as the agent's decoder counts them: `[`-led pieces and <|python_tag|>."""
    ids = []
    for token in range(len(tokenizer)):
        text = tokenizer.decode([token])
        if text.lstrip().startswith("[") or text == PYTHON_TAG:
            ids.append(token)
    return torch.tensor(ids, dtype=torch.long)


def prefix_groups(rows: Sequence[LossRow], min_share: float = 0.5) -> list[list[int]]:
    """Indices of `rows` grouped by shared prefix: sorted by tokens, a row joins its predecessor's group when they
    share at least `min_share` of the shorter one."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].ids.tolist())
    groups: list[list[int]] = []
    for index in order:
        if groups:
            last = rows[groups[-1][-1]].ids
            here = rows[index].ids
            if common_prefix_length(last, here) >= min_share * min(last.numel(), here.numel()):
                groups[-1].append(index)
                continue
        groups.append([index])
    return groups


def batch_count(groups: Sequence[Sequence[int]], batch_size: int) -> int:
    """How many batches `grouped_batches` cuts one epoch into."""
    return sum(-(-len(group) // batch_size) for group in groups)


def grouped_batches(groups: Sequence[Sequence[int]], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's batches: every group shuffled and cut into batches, the batches shuffled (seeded by epoch)."""
    generator = torch.Generator().manual_seed(seed + epoch)
    batches: list[list[int]] = []
    for group in groups:
        members = [group[j] for j in torch.randperm(len(group), generator=generator).tolist()]
        batches += [members[s:s + batch_size] for s in range(0, len(members), batch_size)]
    return [batches[j] for j in torch.randperm(len(batches), generator=generator).tolist()]


def grouped_order(groups: Sequence[Sequence[int]], batch_size: int, seed: int) -> Iterator[tuple[int, list[int]]]:
    epoch = 0
    while True:
        for batch in grouped_batches(groups, batch_size, seed, epoch):
            yield epoch, batch
        epoch += 1


def balanced_accuracy(probabilities: Sequence[float], is_call: Sequence[bool], threshold: float) -> float | None:
    calls = [p >= threshold for p, c in zip(probabilities, is_call, strict=True) if c]
    texts = [p < threshold for p, c in zip(probabilities, is_call, strict=True) if not c]
    if not calls or not texts:
        return None
    return (sum(calls) / len(calls) + sum(texts) / len(texts)) / 2


def decision_scores(probabilities: Sequence[float], is_call: Sequence[bool]) -> dict[str, Any]:
    """Balanced decision accuracy at 0.5 and at the best threshold (over the observed probabilities)."""
    at_half = balanced_accuracy(probabilities, is_call, 0.5)
    best, best_threshold = at_half, 0.5
    for threshold in sorted(set(probabilities)):
        value = balanced_accuracy(probabilities, is_call, threshold)
        if value is not None and (best is None or value > best):
            best, best_threshold = value, threshold
    calls = [p for p, c in zip(probabilities, is_call, strict=True) if c]
    texts = [p for p, c in zip(probabilities, is_call, strict=True) if not c]
    return {"decision_accuracy": at_half, "decision_accuracy_best": best, "best_threshold": best_threshold,
            "mean_p_call_on_calls": sum(calls) / len(calls) if calls else None,
            "mean_p_call_on_answers": sum(texts) / len(texts) if texts else None}


def validate(model, split: int, rows: Sequence[LossRow], levers: Levers, source, batch_size: int,
             openings: torch.Tensor | None, precision_context) -> dict[str, Any]:
    """Mean completion loss of `rows` and, with `openings`, the first-token call decision scores."""
    total, tokens = 0.0, sum(r.loss_tokens for r in rows)
    probabilities: list[float] = []
    is_call: list[bool] = []
    opening_set = set(openings.tolist()) if openings is not None else set()
    ordered = [rows[i] for group in prefix_groups(rows) for i in group]  # neighbours share their prompt
    was_training = model.training
    model.eval()
    with torch.no_grad(), precision_context:
        for start in range(0, len(ordered), batch_size):
            batch = ordered[start:start + batch_size]
            prefix_length, outputs = batch_states(model, split, batch, levers, source)
            for out, row in zip(outputs, batch, strict=True):
                total += float(head_loss_sum(model, out, row, prefix_length, levers.loss_logits_only))
                if openings is not None and row.loss_tokens:
                    logits = first_token_logits(model, out, row, prefix_length)
                    probabilities.append(float(torch.softmax(logits, -1)[openings].sum()))
                    is_call.append(int(row.targets[0]) in opening_set)
    model.train(was_training)
    result: dict[str, Any] = {"eval_loss": total / max(tokens, 1)}
    if probabilities:
        result.update(decision_scores(probabilities, is_call))
    return result


def selection_score(entry: dict[str, Any], select_by: str) -> tuple[float, float]:
    """Higher is better: (balanced decision accuracy at the best threshold, -loss), or (-loss, 0) by loss."""
    if select_by == "decision" and entry.get("decision_accuracy_best") is not None:
        return (round(entry["decision_accuracy_best"], 4), -entry["eval_loss"])
    return (-entry["eval_loss"], 0.0)
