"""The states entering the lowest LoRA layer, computed once per sample and kept on disk (frozen lower layers).

Below the lowest adapted layer the model is frozen and adapter-free, so these states depend on the tokens alone:
computing them once and reading them back every epoch (and every validation) is exact. They are stored as float32
(the residual stream's type, also under bf16 autocast) in one `.npy` file that is memory-mapped, under the run
directory (`runs/...`), with `index.json` beside it; `complete` is written last, so its presence means the cache is
whole. A run whose model, split and token ids match reuses the folder (its name is a hash of them).

Samples are computed in sorted token order, so neighbours share their system prompt: each one reuses the lower
layers' keys/values of the longest prefix it shares with the previous one and computes only the rest (exact:
causal attention means a position never depends on later tokens). Size: tokens x hidden size x 4 bytes, e.g.
4.5 GB for 3,000 samples of ~650 tokens with SmolLM2-135M (576 wide).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from agent.backends.llamacpp import common_prefix_length
from training.lean.model import LossRow, run_layers, unwrap


def cache_key(model_name: str, split: int, rows: Sequence[LossRow]) -> str:
    digest = hashlib.sha256(f"{model_name}|{split}|{len(rows)}".encode())
    for row in rows:
        digest.update(row.ids.numpy().astype(np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()[:16]


class HiddenStateCache:
    """Per-sample states entering layer `split`, memory-mapped from disk; `states(i)` is sample i's (T, D) tensor."""

    def __init__(self, folder: Path, array: np.ndarray, offsets: list[int], lengths: list[int], stats: dict):
        self.folder, self.array, self.offsets, self.lengths, self.stats = folder, array, offsets, lengths, stats

    @classmethod
    def open(cls, folder: str | Path, count: int) -> HiddenStateCache | None:
        """The cache in `folder` if it is complete and holds `count` samples, else None."""
        folder = Path(folder)
        if not (folder / "complete").is_file():
            return None
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        if len(index["offsets"]) != count:
            return None
        array = np.load(folder / "states.npy", mmap_mode="r")
        return cls(folder, array, index["offsets"], index["lengths"], index["stats"])

    @classmethod
    def build(cls, model, split: int, rows: Sequence[LossRow], folder: str | Path,
              progress: bool = False) -> HiddenStateCache:
        """Compute and store the states of every row (row i at index i); reuses a complete cache in `folder`."""
        folder = Path(folder)
        existing = cls.open(folder, len(rows))
        if existing is not None:
            return existing
        folder.mkdir(parents=True, exist_ok=True)
        decoder, _ = unwrap(model)
        lengths = [r.ids.numel() for r in rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
        # float32 (the residual stream's type, also under bf16 autocast); float64 for a float64 model (checks)
        dtype = np.float64 if decoder.embed_tokens.weight.dtype == torch.float64 else np.float32
        array = np.lib.format.open_memmap(folder / "states.npy", mode="w+", dtype=dtype,
                                          shape=(sum(lengths), decoder.config.hidden_size))
        order = sorted(range(len(rows)), key=lambda i: rows[i].ids.tolist())
        computed, previous, previous_kv = 0, None, None
        iterator = order
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(order, desc="caching lower-layer states", unit="sample", leave=False)
        with torch.no_grad():
            for i in iterator:
                ids = rows[i].ids
                shared = 0
                if previous is not None:  # at least one token is computed, so its keys/values exist for the next
                    shared = min(common_prefix_length(ids, rows[previous].ids), ids.numel() - 1)
                prefix_kv = {layer: (k[:, :, :shared], v[:, :, :shared]) for layer, (k, v) in previous_kv.items()} \
                    if shared else None
                hidden = decoder.embed_tokens(ids[shared:]).unsqueeze(0)
                out, previous_kv = run_layers(model, decoder.layers[:split], hidden, shared, prefix=prefix_kv,
                                              keep=True)
                start = offsets[i]
                if shared:
                    array[start:start + shared] = array[offsets[previous]:offsets[previous] + shared]
                array[start + shared:start + lengths[i]] = out[0].double().numpy() if dtype == np.float64 \
                    else out[0].float().numpy()
                computed += lengths[i] - shared
                previous = i
        array.flush()
        stats = {"samples": len(rows), "total_tokens": int(sum(lengths)), "computed_tokens": int(computed),
                 "bytes": int(array.nbytes), "split": split}
        (folder / "index.json").write_text(json.dumps({"offsets": offsets, "lengths": lengths, "stats": stats}),
                                           encoding="utf-8")
        (folder / "complete").write_text("ok\n")  # written last: its presence means the cache is whole
        return cls.open(folder, len(rows))

    def states(self, index: int) -> torch.Tensor:
        start = self.offsets[index]
        return torch.from_numpy(np.array(self.array[start:start + self.lengths[index]]))

    def source(self):
        """A `states_source` for `batch_loss_sum`: (shared prefix states, each row's suffix states)."""
        def states_for(batch: Sequence[LossRow], prefix_length: int):
            full = [self.states(row.index) for row in batch]
            prefix = full[0][:prefix_length] if prefix_length else None
            return prefix, [f[prefix_length:] for f in full]

        return states_for
