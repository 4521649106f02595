"""The arithmetic of the lean trainer: a causal LM run as two stacks, with a shared prefix and loss-only logits.

With LoRA only in the top K layers, the model splits at `split` (the lowest adapted layer): the embedding and the
layers below it are frozen and adapter-free, so the hidden states entering layer `split` depend on the tokens alone.
Everything here computes exactly what the plain forward (`model(input_ids)`) computes, in another order:

- **lower stack once**: the states entering `split` are computed without gradients (or read from a cache) and only
  the top stack is run with autograd;
- **shared prefix**: the samples of a batch that start with the same tokens (the system prompt) have the same states
  at those positions in every layer (causal attention: a position never sees a later one). The prefix runs once
  through a stack and the rest of each sample attends to its keys/values (`PrefixKV`). In the top stack the prefix
  runs with gradients, so the LoRA weights get the prefix's share of the gradient once, summed over the batch;
- **padding-free**: each sample's suffix runs alone (batch of one), so no position is spent on padding;
- **loss-only logits**: the output norm and the 49k-wide `lm_head` run only where a target token is predicted.

The loss is TRL's completion-only loss: the summed cross-entropy of the completion tokens, divided by the number of
completion tokens in the optimiser step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from agent.backends.llamacpp import common_prefix_length


@dataclass(frozen=True)
class Levers:
    """Which of the exact speed-ups the lean trainer uses."""

    share_prefix: bool = True
    padding_free: bool = True
    loss_logits_only: bool = True


@dataclass(frozen=True)
class LossRow:
    """One tokenised sample: its ids, the positions whose logits predict a completion token, and those tokens."""

    ids: torch.Tensor  # (T,) long
    loss_positions: torch.Tensor  # (n,) long: position p predicts ids[p + 1]
    targets: torch.Tensor  # (n,) long
    index: int = -1  # where the sample sits in its split (the hidden-state cache's key)

    @classmethod
    def from_row(cls, row: dict[str, list[int]], index: int = -1) -> LossRow:
        ids = torch.tensor(row["input_ids"], dtype=torch.long)
        mask = torch.tensor(row["completion_mask"], dtype=torch.bool)
        positions = torch.nonzero(mask[1:], as_tuple=False).flatten()
        return cls(ids, positions, ids[positions + 1], index)

    @property
    def loss_tokens(self) -> int:
        return int(self.loss_positions.numel())


def unwrap(model):
    """(decoder with `embed_tokens`, `layers`, `norm`, `rotary_emb`; `lm_head`) of a plain or PEFT causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def first_trainable_layer(model) -> int:
    """The lowest transformer layer with a trainable weight (0 when the embedding itself trains)."""
    lowest = None
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        match = re.search(r"\.layers\.(\d+)\.", name)
        if match is None:
            return 0  # a trainable weight outside the layers (embedding, norm, head): nothing below is frozen
        lowest = int(match.group(1)) if lowest is None else min(lowest, int(match.group(1)))
    if lowest is None:
        raise ValueError("the model has no trainable weight; was LoRA applied?")
    return lowest


class PrefixKV:
    """`past_key_values` for the attention layers: puts a shared prefix's keys/values before this call's own (the
    same for every sample of the batch) and, when `keep` is set, remembers each layer's full keys/values."""

    def __init__(self, prefix: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None, keep: bool = False):
        self.prefix = prefix or {}
        self.keep = keep
        self.kept: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def update(self, key, value, layer_idx, *args, **kwargs):
        if layer_idx in self.prefix:
            prefix_key, prefix_value = self.prefix[layer_idx]
            batch = key.shape[0]
            key = torch.cat([prefix_key.expand(batch, -1, -1, -1).to(key.dtype), key], dim=2)
            value = torch.cat([prefix_value.expand(batch, -1, -1, -1).to(value.dtype), value], dim=2)
        if self.keep:
            self.kept[layer_idx] = (key, value)
        return key, value


def attention_mask(start: int, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Boolean (B, 1, width, start + width) mask: query i (at position start + i) sees every earlier real token."""
    queries = torch.arange(width).unsqueeze(1) + start
    keys = torch.arange(start + width).unsqueeze(0)
    causal = keys <= queries
    real = keys < (start + lengths).unsqueeze(1)  # (B, start + width): right padding is never attended
    return (causal.unsqueeze(0) & real.unsqueeze(1)).unsqueeze(1)


def run_layers(model, layers: Sequence, hidden: torch.Tensor, start: int = 0, lengths: torch.Tensor | None = None,
               prefix: dict | None = None, keep: bool = False):
    """Run `hidden` (B, S, D), the states of positions start..start+S-1, through `layers`, after a prefix whose
    keys/values are `prefix` (positions 0..start-1). Returns (states, kept keys/values per layer index)."""
    decoder, _ = unwrap(model)
    batch, width, _ = hidden.shape
    positions = (torch.arange(width) + start).unsqueeze(0).expand(batch, -1)
    padded = lengths is not None and bool((lengths < width).any())
    mask = None
    if start or padded:
        mask = attention_mask(start, lengths if lengths is not None else torch.full((batch,), width), width)
    cache = PrefixKV(prefix, keep)
    embeddings = decoder.rotary_emb(hidden, position_ids=positions)
    for layer in layers:
        hidden = layer(hidden, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                       position_embeddings=embeddings)
    return hidden, cache.kept


def run_stack(model, layers: Sequence, prefix: torch.Tensor | None, suffixes: Sequence[torch.Tensor],
              padding_free: bool) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The states after `layers` of a shared prefix (P, D) and of each sample's suffix (S_i, D) that follows it."""
    start, prefix_out, prefix_kv = 0, None, None
    if prefix is not None and prefix.shape[0]:
        start = prefix.shape[0]
        prefix_out, prefix_kv = run_layers(model, layers, prefix.unsqueeze(0), keep=True)
        prefix_out = prefix_out[0]
    groups = [[i] for i in range(len(suffixes))] if padding_free else [list(range(len(suffixes)))]
    outputs: list[torch.Tensor] = [None] * len(suffixes)  # type: ignore[list-item]
    for group in groups:
        lengths = torch.tensor([suffixes[i].shape[0] for i in group])
        hidden = pad_sequence([suffixes[i] for i in group], batch_first=True)
        out, _ = run_layers(model, layers, hidden, start, lengths, prefix_kv)
        for row, i in enumerate(group):
            outputs[i] = out[row, : lengths[row]]
    return prefix_out, outputs


def shared_prefix_length(rows: Sequence[LossRow]) -> int:
    """How many leading tokens every row has in common, stopping before the first loss position (the suffix must
    hold every position whose logits are scored)."""
    # The runtime's two-sequence count, folded over the rows; the cap at the first scored position is the lean
    # trainer's own rule, so this stays a function of its own.
    limit = min(int(r.loss_positions.min()) if r.loss_tokens else r.ids.numel() for r in rows)
    first = rows[0].ids[:limit]
    length = limit
    for row in rows[1:]:
        length = common_prefix_length(row.ids[:length], first[:length])
    return length


def lower_states(model, split: int, prefix_ids: torch.Tensor | None, suffix_ids: Sequence[torch.Tensor],
                 padding_free: bool) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The states entering layer `split` for a shared prefix and each suffix, without gradients."""
    decoder, _ = unwrap(model)
    with torch.no_grad():
        prefix = decoder.embed_tokens(prefix_ids) if prefix_ids is not None and prefix_ids.numel() else None
        suffixes = [decoder.embed_tokens(ids) for ids in suffix_ids]
        if split == 0:
            return prefix, suffixes
        return run_stack(model, decoder.layers[:split], prefix, suffixes, padding_free)


def head_loss_sum(model, states: torch.Tensor, row: LossRow, start: int, loss_logits_only: bool) -> torch.Tensor:
    """Summed cross-entropy of the completion tokens, from the top stack's states of positions start.. of `row`."""
    decoder, head = unwrap(model)
    positions = row.loss_positions - start
    if loss_logits_only:
        logits = head(decoder.norm(states[positions]))
        return torch.nn.functional.cross_entropy(_at_least_fp32(logits), row.targets, reduction="sum")
    labels = torch.full((states.shape[0],), -100, dtype=torch.long)
    labels[positions] = row.targets
    logits = head(decoder.norm(states))
    return torch.nn.functional.cross_entropy(_at_least_fp32(logits), labels, ignore_index=-100, reduction="sum")


def _at_least_fp32(logits: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 logits are scored in fp32 (as transformers does); fp64 ones (exactness checks) stay fp64."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


StatesSource = Callable[[Sequence[LossRow], int], tuple[torch.Tensor | None, list[torch.Tensor]]]


def batch_states(model, split: int, rows: Sequence[LossRow], levers: Levers,
                 states_source: StatesSource | None = None) -> tuple[int, list[torch.Tensor]]:
    """(shared prefix length, the top stack's output states of each row from that position on)."""
    prefix_length = shared_prefix_length(rows) if levers.share_prefix else 0
    if states_source is None:
        prefix_ids = rows[0].ids[:prefix_length] if prefix_length else None
        prefix, suffixes = lower_states(model, split, prefix_ids, [r.ids[prefix_length:] for r in rows],
                                        levers.padding_free)
    else:
        prefix, suffixes = states_source(rows, prefix_length)
    decoder, _ = unwrap(model)
    _, outputs = run_stack(model, decoder.layers[split:], prefix, suffixes, levers.padding_free)
    return prefix_length, outputs


def batch_loss_sum(model, split: int, rows: Sequence[LossRow], levers: Levers,
                   states_source: StatesSource | None = None) -> torch.Tensor:
    """The summed completion loss of `rows`; gradients reach the trainable weights of layers >= `split`.

    `states_source(rows, prefix_length)` gives the states entering `split` (prefix, suffixes), e.g. from a cache;
    by default they are computed here."""
    prefix_length, outputs = batch_states(model, split, rows, levers, states_source)
    return sum(head_loss_sum(model, out, row, prefix_length, levers.loss_logits_only)
               for out, row in zip(outputs, rows, strict=True))


def first_token_logits(model, states: torch.Tensor, row: LossRow, start: int) -> torch.Tensor:
    """The logits that predict the reply's first token (where the call-or-answer decision is made)."""
    decoder, head = unwrap(model)
    return _at_least_fp32(head(decoder.norm(states[row.loss_positions[:1] - start])))[0]


def plain_loss_sum(model, rows: Sequence[LossRow]) -> torch.Tensor:
    """The reference: one padded forward of the whole model through `model(input_ids, attention_mask)`, full logits,
    summed cross-entropy of the completion tokens (what the TRL path computes)."""
    ids = pad_sequence([r.ids for r in rows], batch_first=True)
    mask = pad_sequence([torch.ones_like(r.ids) for r in rows], batch_first=True)
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    return sum(torch.nn.functional.cross_entropy(_at_least_fp32(logits[i, r.loss_positions]), r.targets,
                                                 reduction="sum") for i, r in enumerate(rows))
