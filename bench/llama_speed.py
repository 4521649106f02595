"""Prefill and decode speed of a catalogue model, with llama.cpp's extra CPU buffer types on and off.

    python -m bench.llama_speed                          # the embedded SmolLM2-135M, 3 repeats each
    python -m bench.llama_speed --model llama-3.2-1b --repeats 5 --settings auto off

Each setting loads the model in a fresh process (llama.cpp decides buffer types at load time), then times a
512-token prefill and 128 greedy decode steps. Prints one Markdown table with the CPU's model name and its relevant
flags; a setting that crashes the model process is reported as such instead of taking the benchmark down.
Measure on a quiet machine: another llama.cpp process on the same cores makes every number meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_description() -> str:
    from agent.backends.llama_loader import cpu_flags

    name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    flags = cpu_flags()
    return f"{name}, {os.cpu_count()} cores; flags: " + " ".join(f for f in RELEVANT_FLAGS if f in flags)


def measure(model: str, repeats: int, prompt_tokens: int, decode_tokens: int) -> dict:
    """Runs in the child process: load once, then time prefill and decode `repeats` times, all on the llama.cpp
    thread (agent/backends/llama_thread.py), as the agent does."""
    from agent.backends import llama_thread

    return llama_thread.run(_measure, model, repeats, prompt_tokens, decode_tokens)


def _measure(model: str, repeats: int, prompt_tokens: int, decode_tokens: int) -> dict:
    import time

    import llama_cpp

    from agent.backends.load import load_llm

    llm = load_llm(model, n_ctx=prompt_tokens + decode_tokens + 16, ram_cache_mb=0)
    llama = llm.llama
    prompt = (llama.tokenize(b"The quick brown fox jumps over the lazy dog. " * 64, add_bos=True))[:prompt_tokens]
    prefill, decode = [], []
    for _ in range(repeats):
        llama.reset()
        start = time.perf_counter()
        llama.eval(prompt)
        llama_cpp.llama_synchronize(llama.ctx)
        prefill.append(len(prompt) / (time.perf_counter() - start))
        token = last_argmax(llama)
        start = time.perf_counter()
        for _ in range(decode_tokens):
            llama.eval([token])
            token = last_argmax(llama)
        decode.append(decode_tokens / (time.perf_counter() - start))
    return {"extra_bufts": bool(llama.model_params.use_extra_bufts), "prefill": prefill, "decode": decode}


def last_argmax(llama) -> int:
    """The greedy next token from llama.cpp's logits of the last evaluated position."""
    import llama_cpp
    import numpy as np

    logits = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    return int(np.ctypeslib.as_array(logits, shape=(llama.n_vocab(),)).argmax())


def run_setting(args, setting: str) -> dict:
    """`setting`: comma-separated KEY=VALUE variables for the child process (a bare value sets LLAMA_EXTRA_BUFTS)."""
    env = dict(os.environ)
    for item in setting.split(","):
        key, _, value = item.partition("=")
        env.update({key: value} if value else {"LLAMA_EXTRA_BUFTS": key})
    code = ("import json,sys; from bench.llama_speed import measure; "
            f"print(json.dumps(measure({args.model!r}, {args.repeats}, {args.prompt_tokens}, {args.decode_tokens})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        from agent.backends.worker import describe_exit

        return {"setting": setting, "error": describe_exit(done.returncode), "stderr": done.stderr[-500:]}
    return {"setting": setting, **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llama_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", help="catalogue model name")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (median reported)")
    parser.add_argument("--prompt-tokens", type=int, default=512, help="prefill length")
    parser.add_argument("--decode-tokens", type=int, default=128, help="greedy decode steps")
    parser.add_argument("--settings", nargs="+", default=["on", "off", "auto"],
                        help="what to compare: LLAMA_EXTRA_BUFTS values (on, off, auto: what the project uses), or "
                             "comma-separated KEY=VALUE environment variables, e.g. auto,OMP_WAIT_POLICY=ACTIVE")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_description()}\n")
    print(f"| setting | extra buffer types | prefill tok/s (median of {args.repeats}) | "
          f"decode tok/s (median of {args.repeats}) |")
    print("|---|---|---|---|")
    for setting in args.settings:
        row = run_setting(args, setting)
        if "error" in row:
            print(f"| {setting} | ? | crashed: {row['error']} | - |")
        else:
            print(f"| {setting} | {'on' if row['extra_bufts'] else 'off'} | {statistics.median(row['prefill']):.0f} | "
                  f"{statistics.median(row['decode']):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
