"""The `arc` task: ARC-Challenge accuracy from the next-token log-probabilities of the answer letters.

Run:
    python -m evaluation arc --model smollm2-135m                       # allenai/ai2_arc, ARC-Challenge, test split
    python -m evaluation arc --model smollm2-135m --file arc.jsonl --limit 50

Each question is rendered with the model's own chat template (the question, its lettered choices and an instruction,
`evaluation/templates/arc.jinja`), followed by `--answer-prefix` ("Answer:") at the start of the assistant turn. One
forward pass gives the logits of the next token; each choice scores the log-sum-exp of its letter's tokens ("B" and
" B", where each is a single token), and the best-scoring choice is the prediction. llama-cpp-python 0.3.36 no longer
copies logits into `Llama.scores` unless `logits_all=True`, so we read the last position with `llama_get_logits_ith`
after `Llama.eval`; a prompt that shares a prefix with the previous one only evaluates the new tokens.

Local files are JSON lines in the Hub's schema: `{"id", "question", "choices": {"text": [...], "label": [...]},
"answerKey"}`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jinja2

from agent.messages import Message
from evaluation.cli import new_run_dir
from evaluation.report import markdown_table, pct, write_json, write_text
from stage_cli import SettingsParser, settings_from

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class ArcQuestion:
    id: str
    question: str
    labels: tuple[str, ...]
    texts: tuple[str, ...]
    answer: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ArcQuestion:
        choices = row["choices"]
        labels, texts = tuple(map(str, choices["label"])), tuple(map(str, choices["text"]))
        if len(labels) != len(texts) or str(row["answerKey"]) not in labels:
            raise ValueError(f"ARC question {row.get('id')}: choices and answerKey do not fit together")
        return cls(str(row.get("id", "")), str(row["question"]), labels, texts, str(row["answerKey"]))


def load_hub(config: str = "ARC-Challenge", split: str = "test") -> list[ArcQuestion]:
    """ARC from the Hugging Face Hub (`datasets` downloads and caches it on first use)."""
    from datasets import load_dataset

    return [ArcQuestion.from_row(row) for row in load_dataset("allenai/ai2_arc", config, split=split)]


def load_jsonl(path: str | Path) -> list[ArcQuestion]:
    from evaluation.cases import read_jsonl

    return [ArcQuestion.from_row(row) for row in read_jsonl(path)]


def question_text(question: ArcQuestion) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=False)
    return env.get_template("arc.jinja").render(question=question.question,
                                                choices=list(zip(question.labels, question.texts, strict=True))).strip()


class NextTokenScorer(Protocol):
    """What the ARC scorer needs from a model: the next-token logits after a prompt, and single-token ids."""

    def next_token_logits(self, prompt: str) -> Sequence[float]: ...

    def single_token(self, text: str) -> int | None: ...

    def render(self, question: ArcQuestion, answer_prefix: str) -> str: ...


class LlamaNextToken:
    """`NextTokenScorer` over a loaded `LlamaCppLLM`: its chat template, tokenizer and one `eval` per question."""

    def __init__(self, llm):
        self.llm = llm
        self.llama = llm.llama
        self.forward_passes = 0

    def render(self, question: ArcQuestion, answer_prefix: str) -> str:
        text = self.llm.render([Message("user", question_text(question))])
        return text + answer_prefix

    def single_token(self, text: str) -> int | None:
        ids = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return ids[0] if len(ids) == 1 else None

    def next_token_logits(self, prompt: str) -> Sequence[float]:
        import llama_cpp
        import numpy as np

        from agent.backends import llama_thread
        from agent.backends.llamacpp import common_prefix_length

        tokens = self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.llama.n_ctx():
            raise ValueError(f"ARC prompt of {len(tokens)} tokens does not fit the context of {self.llama.n_ctx()}")
        with self.llm.lock:
            # Keep the KV cache of the prefix this prompt shares with the previous one; evaluate at least one token.
            previous = self.llama.input_ids[: self.llama.n_tokens].tolist()
            shared = common_prefix_length(previous, tokens[:-1])
            self.llama.n_tokens = shared
            llama_thread.run(self.llama.eval, tokens[shared:])  # where the model was loaded (see llama_thread)
            self.forward_passes += 1
            pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
            return np.ctypeslib.as_array(pointer, shape=(self.llama.n_vocab(),)).copy()


@dataclass
class ArcResult:
    id: str
    answer: str
    predicted: str
    correct: bool
    probabilities: dict[str, float]


def _logsumexp(values: Iterable[float]) -> float:
    values = list(values)
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))


def letter_token_ids(scorer: NextTokenScorer, label: str) -> list[int]:
    """The single tokens that can spell a choice's letter next: "B" and " B" (whichever exist)."""
    ids = {i for i in (scorer.single_token(label), scorer.single_token(" " + label)) if i is not None}
    if not ids:
        raise ValueError(f"the tokenizer has no single token for the answer label {label!r}")
    return sorted(ids)


def score_question(scorer: NextTokenScorer, question: ArcQuestion, answer_prefix: str = "Answer:") -> ArcResult:
    logits = scorer.next_token_logits(scorer.render(question, answer_prefix))
    scores = {label: _logsumexp(float(logits[i]) for i in letter_token_ids(scorer, label)) for label in question.labels}
    norm = _logsumexp(scores.values())
    probabilities = {label: math.exp(s - norm) for label, s in scores.items()}
    predicted = max(question.labels, key=lambda label: scores[label])
    return ArcResult(question.id, question.answer, predicted, predicted == question.answer,
                     {k: round(v, 6) for k, v in probabilities.items()})


def evaluate(scorer: NextTokenScorer, questions: Sequence[ArcQuestion], answer_prefix: str = "Answer:",
             show_progress: bool = True) -> list[ArcResult]:
    iterator: Iterable[ArcQuestion] = questions
    if show_progress:
        from tqdm import tqdm

        iterator = tqdm(questions, desc="ARC", unit="question")
    return [score_question(scorer, q, answer_prefix) for q in iterator]


def summarise(results: Sequence[ArcResult], questions: Sequence[ArcQuestion]) -> dict[str, Any]:
    n = len(results)
    return {
        "n": n,
        "accuracy": sum(r.correct for r in results) / n if n else 0.0,
        "chance": sum(1 / len(q.labels) for q in questions) / n if n else 0.0,
        "mean_p_correct": sum(r.probabilities[r.answer] for r in results) / n if n else 0.0,
        "predicted_labels": dict(sorted(Counter(r.predicted for r in results).items())),
        "answer_labels": dict(sorted(Counter(r.answer for r in results).items())),
    }


@dataclass
class ArcSettings:
    """Where the questions come from and how they are asked."""

    file: str | None = field(default=None, metadata={"help": "Local ARC JSONL (Hub schema); default: the Hub."})
    hub_config: str = field(default="ARC-Challenge", metadata={
        "help": "Hub config of allenai/ai2_arc (--config names a settings file, as for every stage)."})
    split: str = field(default="test", metadata={"help": "Hub split."})
    limit: int | None = field(default=None, metadata={"help": "At most this many questions (the first ones)."})
    answer_prefix: str = field(default="Answer:", metadata={"help": "Text after the assistant header, before the "
                                                                    "letter is read."})
    n_ctx: int = field(default=2048, metadata={"help": "Context length to load the model with (ARC prompts are "
                                                       "short)."})


def add_arguments(parser: SettingsParser) -> None:
    parser.add_argument("--model", default=None, help="Catalogue model name (default: the catalogue's default).")
    parser.add_argument("--out-dir", default=None, help="Where to write report.md and results.json.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_settings(ArcSettings)


def main(args: argparse.Namespace, command: str = "") -> Path:
    from evaluation.loading import load_model, unload
    from models.catalogue import default_model_name

    settings = settings_from(ArcSettings, args)
    questions = load_jsonl(settings.file) if settings.file else load_hub(settings.hub_config, settings.split)
    questions = questions[: settings.limit] if settings.limit else questions
    name = args.model or default_model_name()
    llm = load_model(name, n_ctx=settings.n_ctx)
    start = time.perf_counter()
    try:
        results = evaluate(LlamaNextToken(llm), questions, settings.answer_prefix, not args.quiet)
    finally:
        unload(llm)
    wall = time.perf_counter() - start
    summary = summarise(results, questions) | {"model": name, "wall_s": round(wall, 2)}
    out_dir = Path(args.out_dir or new_run_dir("arc", name))
    write_json(out_dir / "results.json", {"task": "arc", "settings": asdict(settings), "summary": summary,
                                          "questions": [asdict(r) for r in results]})
    source = settings.file or f"allenai/ai2_arc {settings.hub_config} ({settings.split})"
    report = [f"# ARC: {name}", "", f"{summary['n']} questions from {source} in {wall:.1f} s.", "",
              markdown_table(["Accuracy", "Chance", "Mean p(correct)"],
                             [[pct(summary["accuracy"]), pct(summary["chance"]), pct(summary["mean_p_correct"])]]),
              "", "Predicted letters: " + ", ".join(f"{k}: {v}" for k, v in summary["predicted_labels"].items()),
              "", "Correct letters: " + ", ".join(f"{k}: {v}" for k, v in summary["answer_labels"].items())]
    if command:
        report += ["", f"Command: `{command}`"]
    write_text(out_dir / "report.md", "\n".join(report))
    print(f"ARC accuracy {pct(summary['accuracy'])} on {summary['n']} questions ({wall:.1f} s); wrote {out_dir}")
    return out_dir
