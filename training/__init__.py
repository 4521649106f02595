"""Training: the synthetic function-calling dataset, LoRA fine-tuning and GGUF export.

    python -m training.dataset --out runs/funccall/data --seed 0     # build and verify the dataset
"""
