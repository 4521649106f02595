"""What both trainers (TRL's in `training.finetune`, `training.lean`) and the other stages share: the base model, the
LoRA weights on it, the samples, the CPU's capabilities, the loss curves and a run's result.
"""
