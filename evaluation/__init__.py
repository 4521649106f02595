"""Evaluation of the agent's models: first-call tool decisions (BFCL rules), comparisons, an LLM judge, ARC.

Run `python -m evaluation --help`; each task is its own module (`funccall`, `compare`, `judge`, `arc`, `results`).
Importing this package loads no model and no heavy library.
"""
