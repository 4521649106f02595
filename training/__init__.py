"""Training: the synthetic function-calling dataset, LoRA fine-tuning and GGUF export.

    python -m training.dataset --out runs/funccall/data --seed 0     # build and verify the dataset
    python -m training.funccall                                      # dataset -> fine-tune -> GGUF export

The stages are the modules at this level (`funccall`, `finetune`, `export`, `throughput`, `finetome`, with their
settings in `config`); `dataset/` is the dataset generator, `lean/` the lean CPU trainer, `shared/` what the
trainers and stages share (base model, LoRA, samples, hardware, loss curves, a run's result).
"""
