"""The lean trainer: a small exact LoRA training loop for a CPU (`python -m training.finetune --trainer lean`).

`trainer.py` is the loop; `model.py` its arithmetic (two stacks, a shared prefix, loss-only logits);
`hidden_cache.py` the frozen lower layers' states, kept on disk; `selection.py` what it validates and how it orders
batches.
"""
