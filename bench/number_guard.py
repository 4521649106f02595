"""What the number guard (agent/numbers.py) costs a reply where it refuses nothing.

    python -m bench.number_guard                          # the shipped adapter, 5 repeats, 2 rounds
    python -m bench.number_guard --model smollm2-135m --allowed 100

The same greedy reply is generated free and with `allowed_numbers` (every whole number below `--allowed`, so a reply
without numbers is never refused), in alternating rounds; prints the median wall time and decode speed of each, the
reply's length and whether the two replies are the same text (they must be, or the guard refused something and the
figures compare different replies). Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

PROMPT = "Tell me a long story about a cat who lives by the sea, in plain words."


def run(llm, allowed: tuple[str, ...] | None, repeats: int, max_tokens: int) -> tuple[float, float, int, str]:
    from agent.backends.base import GenerationParams, Usage
    from agent.messages import Message

    walls, rates, text, tokens = [], [], "", 0
    for _ in range(repeats):
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0, allowed_numbers=allowed)
        start = time.perf_counter()
        out = list(llm.stream([Message("user", PROMPT)], params))
        walls.append(time.perf_counter() - start)
        usage = next(x for x in out if isinstance(x, Usage))
        text, tokens = "".join(x for x in out if isinstance(x, str)), usage.completion_tokens
        rates.append(tokens / max(usage.decode_s, 1e-9))
    return statistics.median(walls), statistics.median(rates), tokens, text


def main(argv: list[str] | None = None) -> int:
    from agent.backends.load import load_llm
    from bench.llama_speed import cpu_description

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-funccall", help="catalogue model")
    parser.add_argument("--repeats", type=int, default=5, help="replies per setting and round (median)")
    parser.add_argument("--rounds", type=int, default=2, help="free/guarded rounds, alternating")
    parser.add_argument("--allowed", type=int, default=10_000, help="allow every whole number below this")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    llm = load_llm(args.model, n_ctx=4096)
    allowed = tuple(str(n) for n in range(args.allowed))
    print(f"{args.model} on {cpu_description()}; median of {args.repeats} greedy replies per row")
    print("| setting | reply wall (ms) | decode (tokens/s) | tokens | same reply as free |")
    print("|---|---|---|---|---|")
    free_text = None
    for _ in range(args.rounds):
        for label, numbers in (("free", None), (f"guarded ({args.allowed} numbers)", allowed)):
            wall, rate, tokens, text = run(llm, numbers, args.repeats, args.max_tokens)
            free_text = text if numbers is None else free_text
            print(f"| {label} | {wall * 1000:.0f} | {rate:.1f} | {tokens} | {text == free_text} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
