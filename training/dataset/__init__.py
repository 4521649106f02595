"""The synthetic function-calling dataset: `python -m training.dataset` builds, verifies and writes it.

`generate.py` is the stage (settings, splits, verification, `grade_reply`); `categories.py` has one builder per
category, made of the turns in `tool_turns.py` and `tasks.py`, the phrasings in `asks.py` and `answers.py`, and the
entities in `data/`.
"""
