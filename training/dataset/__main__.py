"""python -m training.dataset: build, verify and write the synthetic function-calling dataset (see `generate.py`)."""

from training.dataset.generate import main

if __name__ == "__main__":
    raise SystemExit(main())
