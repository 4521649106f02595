"""Where evaluation runs are written (`EVAL_RUNS_DIR`); flags come from stage_cli.SettingsParser (HfArgumentParser)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def runs_dir() -> Path:
    """Where evaluation runs are written: `EVAL_RUNS_DIR`, else `runs/eval` in the repository."""
    return Path(os.environ.get("EVAL_RUNS_DIR") or REPO_ROOT / "runs" / "eval")


def new_run_dir(task: str, *names: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = "-".join(re.sub(r"[^\w.-]+", "_", n) for n in (task, *names) if n)
    return runs_dir() / f"{slug}-{stamp}"
