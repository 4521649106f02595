"""Run the agent's first LLM call (the tool decision) over evaluation cases, several samples per case if asked.

The reply is read the way the agent reads it: `agent.format.classify_opening` decides from the first tokens whether the
model is calling a tool or answering in prose. With `stop_at_prose` (the default) generation stops as soon as a reply
reads as prose, because the decision is then made (the agent would stream the rest to the user); calls always run to
the end so they can be parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from agent.backends.base import DEFAULT_GENERATION, LLM, BackendError, GenerationParams, Usage
from agent.format import classify_opening
from evaluation.cases import EvalCase
from evaluation.scoring import CaseResult, backend_failure, score_reply, vote


@dataclass
class RunSettings:
    """How the first call is sampled."""

    samples: int = field(default=1, metadata={"help": "Samples per prompt; more than 1 gives a majority vote and a "
                                                      "consistency score (use a temperature above 0)."})
    temperature: float = field(default=0.0, metadata={"help": "Sampling temperature; 0 is greedy."})
    top_p: float = field(default=DEFAULT_GENERATION.top_p, metadata={"help": "Nucleus sampling mass."})
    max_tokens: int = field(default=256, metadata={"help": "Most new tokens per reply."})
    seed: int = field(default=0, metadata={"help": "Seed of the case subset (--limit) and of sampling (seed + i)."})
    stop_at_prose: bool = field(default=True, metadata={"help": "Stop a reply once it reads as prose (the decision "
                                                                "is made); --no-stop-at-prose keeps whole replies."})

    def params(self, sample_index: int) -> GenerationParams:
        return replace(GenerationParams(), max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                       seed=self.seed + sample_index)


def first_call(llm: LLM, case: EvalCase, params: GenerationParams, stop_at_prose: bool = True
               ) -> tuple[str, bool, Usage | None, float]:
    """One reply to the case's prompt: (text, complete, usage or None, seconds)."""
    start = time.perf_counter()
    text, usage, complete = "", None, True
    stream = llm.stream(case.messages, params)
    try:
        for chunk in stream:
            if isinstance(chunk, Usage):
                usage = chunk
                continue
            text += chunk
            if stop_at_prose and classify_opening(text) == "prose":
                complete = False
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # releases the backend's lock and llama.cpp's generator when we stopped early
    return text, complete, usage, time.perf_counter() - start


def run_cases(llm: LLM, cases: Sequence[EvalCase], settings: RunSettings | None = None,
              progress: Callable[[int], None] | None = None, desc: str | None = None,
              show_progress: bool = True) -> list[CaseResult]:
    """Every case, `settings.samples` times; returns one `CaseResult` per case, in order."""
    settings = settings or RunSettings()
    if settings.samples < 1:
        raise ValueError("--samples must be at least 1")
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cases) * settings.samples, desc=desc or getattr(llm, "name", "model"), unit="reply")
    results = []
    try:
        for case in cases:
            scores = []
            for index in range(settings.samples):
                try:
                    text, complete, usage, seconds = first_call(llm, case, settings.params(index),
                                                                settings.stop_at_prose)
                    score = score_reply(case, text, complete)
                except BackendError as exc:  # e.g. a prompt longer than the context: a failed case, not a crash
                    text, usage, seconds = "", None, 0.0
                    score = backend_failure(case, str(exc))
                score.latency_s = round(seconds, 4)
                score.completion_tokens = usage.completion_tokens if usage else None
                scores.append(score)
                if bar is not None:
                    bar.update(1)
                if progress is not None:
                    progress(1)
            results.append(vote(case, scores))
    finally:
        if bar is not None:
            bar.close()
    return results
