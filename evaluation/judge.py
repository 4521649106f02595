"""The `judge` task: pairwise LLM-as-judge over any OpenAI-compatible chat-completions endpoint.

Run:
    export JUDGE_API_KEY=...   # or OPENAI_API_KEY; read from the environment, never logged or written
    python -m evaluation judge --answers runs/a.jsonl runs/b.jsonl --base-url https://api.openai.com/v1 \
        --judge-model gpt-4.1-mini
    python -m evaluation judge --models smollm2-135m smollm2-135m-funccall --prompts runs/funccall/data/test.jsonl \
        --limit 50 --base-url http://127.0.0.1:8080/v1 --judge-model local

Answer files are JSON lines `{"prompt": ..., "answer": ...}` (optionally "id" and "model"), paired by id, else by
prompt, else by line. With `--models`, both models answer the prompts themselves: a prompts file of `{"prompt": ...}`
lines, or a generated split whose samples end in a prose target (no-tool answers and answers from a tool result, so
no tool runs and no network is needed).

Every pair is judged twice, the answers swapped the second time. The report gives wins and ties per model over all
judgments, the verdict per pair when both orders agree, the position-bias rate (the judge picked the same position both
times, i.e. a different model) and the disagreements between the two orders. The judge prompt is `prompts/judge.jinja`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.messages import Message
from agent.prompts import render_prompt
from agent.redaction import redact
from evaluation.cli import new_run_dir
from evaluation.report import cell, markdown_table, pct, write_json, write_text
from stage_cli import SettingsParser, settings_from

KEY_VARIABLES = ("JUDGE_API_KEY", "OPENAI_API_KEY")
_VERDICT = re.compile(r"\[\[\s*(A|B|C|TIE)\s*\]\]", re.IGNORECASE)


@dataclass
class JudgeSettings:
    """Where the judge is and how it is asked."""

    base_url: str = field(default="https://api.openai.com/v1", metadata={
        "help": "OpenAI-compatible API root; /chat/completions is appended."})
    judge_model: str = field(default="gpt-4.1-mini", metadata={"help": "The judge's model name at that endpoint."})
    api_key_env: str | None = field(default=None, metadata={
        "help": "Environment variable holding the API key (default: JUDGE_API_KEY, then OPENAI_API_KEY)."})
    temperature: float = field(default=0.0, metadata={"help": "Judge sampling temperature."})
    max_tokens: int = field(default=400, metadata={"help": "Most tokens of one verdict."})
    timeout_s: float = field(default=60.0, metadata={"help": "Seconds to wait for one judge reply."})
    retries: int = field(default=3, metadata={"help": "Retries on network errors, 429 and 5xx."})
    workers: int = field(default=4, metadata={"help": "Judge requests in flight at once."})


class JudgeError(RuntimeError):
    """The judge endpoint failed; the message never contains the API key."""


class ChatClient:
    """The judge's client of an OpenAI-compatible `/chat/completions` endpoint (the `openai` SDK, its own retries)."""

    def __init__(self, settings: JudgeSettings):
        from openai import OpenAI

        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        names = (settings.api_key_env,) if settings.api_key_env else KEY_VARIABLES
        self._key = next((os.environ[n] for n in names if os.environ.get(n)), None)
        # Retries with backoff on connection errors, 408/409/429 and 5xx are the SDK's; the key stays in the client.
        self._client = OpenAI(base_url=settings.base_url.rstrip("/"), api_key=self._key or "no-key",
                              timeout=settings.timeout_s, max_retries=settings.retries)

    def _redact(self, text: str) -> str:
        return redact(text, (self._key,) if self._key else ())

    def complete(self, messages: Sequence[dict[str, str]]) -> str:
        import openai

        try:
            reply = self._client.chat.completions.create(
                model=self.settings.judge_model, messages=list(messages), temperature=self.settings.temperature,
                max_tokens=self.settings.max_tokens)
        except openai.APIStatusError as exc:
            raise JudgeError(f"HTTP {exc.status_code} from {self.url}: {self._redact(exc.response.text[:300])}") \
                from None
        except openai.APIConnectionError as exc:
            raise JudgeError(f"cannot reach {self.url}: {self._redact(str(exc.__cause__ or exc))}") from None
        except openai.OpenAIError as exc:
            raise JudgeError(f"{self.url}: {self._redact(str(exc))}") from None
        try:
            return reply.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise JudgeError(f"{self.url} did not answer in the chat-completions format") from None


# ------------------------------------------------------------------------------------------------------ judging

@dataclass
class AnswerPair:
    id: str
    conversation: str  # what the judge sees of the conversation
    answers: tuple[str, str]  # the two models' answers, in the order of `models`


@dataclass
class Judgment:
    order: str  # "12": model 1 shown as A; "21": model 2 shown as A
    verdict: str | None  # "A" | "B" | "tie" | None (unreadable)
    winner: str | None  # a model name, "tie", or None
    raw: str


@dataclass
class PairResult:
    id: str
    conversation: str
    answers: tuple[str, str]
    judgments: list[Judgment]

    @property
    def consensus(self) -> str:
        """A model name or "tie" when both orders agree, "disagree" otherwise, "invalid" if a verdict is unreadable."""
        winners = [j.winner for j in self.judgments]
        if None in winners:
            return "invalid"
        return winners[0] if len(set(winners)) == 1 else "disagree"

    @property
    def same_position(self) -> bool:
        """Both orders picked the same position (A and A, or B and B): the judge followed the slot, not the answer."""
        verdicts = [j.verdict for j in self.judgments]
        return len(verdicts) == 2 and verdicts[0] == verdicts[1] and verdicts[0] in ("A", "B")


def parse_verdict(text: str) -> str | None:
    """The last [[A]] / [[B]] / [[C]] in the judge's reply ("C" and "tie" mean a tie); None when there is none."""
    found = _VERDICT.findall(text or "")
    if not found:
        return None
    last = found[-1].upper()
    return "tie" if last in ("C", "TIE") else last


def judge_messages(conversation: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    prompt = render_prompt("judge.jinja", conversation=conversation, answer_a=answer_a, answer_b=answer_b)
    return [{"role": "user", "content": prompt}]


def judge_pairs(client: ChatClient, pairs: Sequence[AnswerPair], models: tuple[str, str], workers: int = 4,
                show_progress: bool = True) -> list[PairResult]:
    """Judge every pair in both orders (model 1 first, then model 2 first)."""
    jobs = [(pair, order) for pair in pairs for order in ("12", "21")]

    def one(job: tuple[AnswerPair, str]) -> Judgment:
        pair, order = job
        first, second = (0, 1) if order == "12" else (1, 0)
        raw = client.complete(judge_messages(pair.conversation, pair.answers[first], pair.answers[second]))
        verdict = parse_verdict(raw)
        winner = {"A": models[first], "B": models[second], "tie": "tie"}.get(verdict or "")
        return Judgment(order, verdict, winner, raw)

    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="judge", unit="verdict")
    judgments: list[Judgment] = []
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for judgment in pool.map(one, jobs):  # map keeps the job order
            judgments.append(judgment)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return [PairResult(pair.id, pair.conversation, pair.answers, judgments[2 * i: 2 * i + 2])
            for i, pair in enumerate(pairs)]


def summarise(results: Sequence[PairResult], models: tuple[str, str]) -> dict[str, Any]:
    judgments = [j for r in results for j in r.judgments]
    decisive = [j for j in judgments if j.verdict in ("A", "B")]
    consensus = Counter(r.consensus for r in results)
    return {
        "models": list(models),
        "pairs": len(results),
        "judgments": len(judgments),
        "wins": {m: sum(j.winner == m for j in judgments) for m in models},
        "ties": sum(j.winner == "tie" for j in judgments),
        "invalid": sum(j.verdict is None for j in judgments),
        "consensus": {key: consensus.get(key, 0) for key in (*models, "tie", "disagree", "invalid")},
        "position_bias_rate": sum(r.same_position for r in results) / len(results) if results else 0.0,
        "first_position_rate": sum(j.verdict == "A" for j in decisive) / len(decisive) if decisive else None,
        "disagreement_rate": consensus.get("disagree", 0) / len(results) if results else 0.0,
    }


def render_report(summary: dict[str, Any], results: Sequence[PairResult], settings: JudgeSettings,
                  command: str = "") -> str:
    m1, m2 = summary["models"]
    lines = [f"# Pairwise judge: {m1} vs {m2}", "",
             f"Judge `{settings.judge_model}` at `{settings.base_url}`; {summary['pairs']} pairs, each judged in both "
             f"orders ({summary['judgments']} verdicts; {summary['invalid']} unreadable)."]
    if command:
        lines += ["", f"Command: `{command}`"]
    lines += ["", "## Wins over all verdicts", "",
              markdown_table(["Model", "Wins", "Ties", "Losses"],
                             [[m, summary["wins"][m], summary["ties"], summary["wins"][other]]
                              for m, other in ((m1, m2), (m2, m1))]),
              "", "## Per pair (both orders agree)", "",
              markdown_table(["Outcome", "Pairs"], [[k, v] for k, v in summary["consensus"].items()]),
              "", "## Position bias", "",
              f"- Position-bias rate (same slot chosen in both orders, so a different model): "
              f"{pct(summary['position_bias_rate'])}",
              f"- Share of decisive verdicts for the first slot (A): {pct(summary['first_position_rate'])} "
              "(50% is unbiased)",
              f"- Disagreement between the two orders: {pct(summary['disagreement_rate'])}"]
    disagreements = [r for r in results if r.consensus == "disagree"][:6]
    if disagreements:
        lines += ["", "## Disagreements", "", markdown_table(
            ["Pair", "Conversation", m1, m2, f"{m1} first", f"{m2} first"],
            [[r.id, cell(r.conversation, 80), cell(r.answers[0], 80), cell(r.answers[1], 80),
              r.judgments[0].winner, r.judgments[1].winner] for r in disagreements])]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------- inputs

def read_answers(path: str | Path) -> list[dict[str, Any]]:
    from evaluation.cases import read_jsonl

    rows = read_jsonl(path)
    for number, row in enumerate(rows, 1):
        if "answer" not in row or not ("prompt" in row or "messages" in row):
            raise ValueError(f"{path}:{number}: an answer line needs 'prompt' (or 'messages') and 'answer'")
    return rows


def conversation_text(messages: Sequence[Message]) -> str:
    """The conversation as the judge reads it: system prompts left out, tool results shown as such."""
    labels = {"user": "User", "assistant": "Assistant", "ipython": "Tool result"}
    return "\n".join(f"{labels[m.role]}: {m.content}" for m in messages if m.role in labels)


def _prompt_of(row: dict[str, Any]) -> str:
    if "prompt" in row:
        return str(row["prompt"])
    return conversation_text([Message(m["role"], m["content"]) for m in row["messages"]])


def pair_answer_files(rows_1: Sequence[dict[str, Any]], rows_2: Sequence[dict[str, Any]]) -> list[AnswerPair]:
    """Pair two answer lists by id, else by prompt text, else by position."""
    if all("id" in r for r in (*rows_1, *rows_2)):
        second = {str(r["id"]): r for r in rows_2}
        keys = [(str(r["id"]), r, second.get(str(r["id"]))) for r in rows_1]
    elif len({_prompt_of(r) for r in rows_1}) == len(rows_1):
        second = {_prompt_of(r): r for r in rows_2}
        keys = [(str(i), r, second.get(_prompt_of(r))) for i, r in enumerate(rows_1)]
    else:
        keys = [(str(i), r, rows_2[i] if i < len(rows_2) else None) for i, r in enumerate(rows_1)]
    pairs = [AnswerPair(key, _prompt_of(a), (str(a["answer"]), str(b["answer"]))) for key, a, b in keys if b]
    if not pairs:
        raise ValueError("the two answer files share no prompt")
    return pairs


def prompts_for_models(path: str | Path, limit: int | None = None, seed: int = 0) -> list[tuple[str, list[Message]]]:
    """(id, prompt messages) to answer: `{"prompt"}` lines, or generated samples whose target is prose."""
    import random

    from agent.format import looks_like_call
    from agent.prompts import system_prompt
    from evaluation.cases import read_jsonl

    items = []
    for index, row in enumerate(read_jsonl(path)):
        if "messages" in row:
            messages = [Message(m["role"], m["content"]) for m in row["messages"]]
            if len(messages) < 2 or messages[-1].role != "assistant" or looks_like_call(messages[-1].content):
                continue
            if row.get("split", "test") != "test":
                continue
            items.append((str(row.get("id", index)), messages[:-1]))
        else:
            items.append((str(row.get("id", index)), [Message("system", system_prompt([])),
                                                      Message("user", str(row["prompt"]))]))
    if limit and len(items) > limit:
        keep = set(random.Random(seed).sample(range(len(items)), limit))
        items = [item for i, item in enumerate(items) if i in keep]
    return items


def answer_prompts(llm, prompts: Sequence[tuple[str, list[Message]]], max_tokens: int = 384,
                   show_progress: bool = True) -> list[dict[str, Any]]:
    """A model's full answers (greedy) to the prompts, as answer-file rows."""
    from agent.backends.base import GenerationParams, Usage

    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    iterator = prompts
    if show_progress:
        from tqdm import tqdm

        iterator = tqdm(prompts, desc=f"answers {llm.name}", unit="answer")
    rows = []
    for pid, messages in iterator:
        text = "".join(c for c in llm.stream(messages, params) if not isinstance(c, Usage)).strip()
        rows.append({"id": pid, "prompt": conversation_text(messages), "answer": text, "model": llm.name})
    return rows


def add_arguments(parser: SettingsParser) -> None:
    parser.add_argument("--answers", nargs=2, metavar="JSONL", help="Two answer files to judge against each other.")
    parser.add_argument("--names", nargs=2, metavar="NAME", help="Names of the two answer sets (default: the files' "
                                                                 "'model' field or file names).")
    parser.add_argument("--models", nargs=2, metavar="MODEL", help="Two catalogue models that answer --prompts.")
    parser.add_argument("--prompts", help="JSONL of {'prompt'} lines or a generated split (for --models).")
    parser.add_argument("--limit", type=int, default=None, help="At most this many prompts (a seeded subset).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the prompt subset.")
    parser.add_argument("--answer-max-tokens", type=int, default=384, help="Most new tokens per model answer.")
    parser.add_argument("--out-dir", default=None, help="Where to write report.md and results.json.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_settings(JudgeSettings)


def main(args: argparse.Namespace, command: str = "", load_model=None) -> Path:
    settings = settings_from(JudgeSettings, args)
    out_dir = Path(args.out_dir or new_run_dir("judge", *(args.models or args.names or [])))
    if args.answers:
        rows = [read_answers(p) for p in args.answers]
        names = tuple(args.names or [rows[i][0].get("model") or Path(p).stem for i, p in enumerate(args.answers)])
        if args.limit:
            rows = [r[: args.limit] for r in rows]
    elif args.models and args.prompts:
        from evaluation.loading import unload

        if load_model is None:
            from evaluation.loading import load_model

        prompts = prompts_for_models(args.prompts, args.limit, args.seed)
        rows, names = [], tuple(args.models)
        for name in args.models:
            llm = load_model(name)
            try:
                rows.append(answer_prompts(llm, prompts, args.answer_max_tokens, not args.quiet))
            finally:
                unload(llm)
            slug = re.sub(r"[^\w.-]+", "_", name)
            write_text(out_dir / f"answers_{slug}.jsonl",
                       "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[-1]))
    else:
        raise SystemExit("judge needs --answers A.jsonl B.jsonl, or --models A B with --prompts FILE")
    if names[0] == names[1]:
        names = (f"{names[0]} (1)", f"{names[1]} (2)")
    pairs = pair_answer_files(rows[0], rows[1])
    results = judge_pairs(ChatClient(settings), pairs, names, settings.workers, not args.quiet)
    summary = summarise(results, names)
    public_settings = {k: v for k, v in asdict(settings).items()}  # holds the variable's name, never the key
    write_json(out_dir / "results.json", {"task": "judge", "settings": public_settings, "summary": summary,
                                          "pairs": [asdict(r) | {"consensus": r.consensus} for r in results]})
    write_text(out_dir / "report.md", render_report(summary, results, settings, command))
    print(json.dumps(summary, indent=2))
    print(f"wrote {out_dir}/report.md")
    return out_dir
