"""The call decision, recorded once per prompt and varied offline: P(call), thresholds, asking.

Each prompt runs once, greedy, with no threshold and the tool set's GBNF grammar on: the backend reports P(call), the
probability of a call opening at the first generated position, and the reply is kept until it reads as prose (or, for
a call, to its end). For a prose reply with a fair P(call), the call that a low threshold would force is generated too
(the prompt is cached, so that costs only the call's tokens). The llama.cpp decoder makes the reply a call when
P(call) >= t and prose when P(call) < t, so every threshold is derived offline from these records.

Balanced decision accuracy is the mean of relevance (a call where one is wanted) and restraint (none where none is
wanted); the fitted threshold maximises it on the validation split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from agent.backends.base import LLM, BackendError, GenerationParams, Usage
from agent.endings import grammar_for, grounded_calls, missing_value, one_call_per_request
from agent.format import ToolCallParseError, classify_opening, format_tool_calls, parse_tool_calls
from agent.places import copy_choices, one_spelling, places_nobody_named
from evaluation.cases import EvalCase
from evaluation.runner import first_call
from evaluation.scoring import SampleScore, score_reply

Z95 = 1.959964


@dataclass
class DecisionRecord:
    """One prompt's first call: its P(call), the model's free reply, and its call under the grammar."""

    case_id: str
    category: str
    source: str
    should_call: bool
    p_call: float | None
    reply: str  # free (no threshold), under the grammar; a prose reply is cut once it reads as prose
    reply_grammar: str  # the same (kept for records that also ran without the grammar)
    reply_call: str = ""  # a call under the grammar: the free one if the model called, else a forced one ("": none)
    grammar_error: str = ""
    seconds: float = 0.0
    # Where the call grammar overruled the model, (byte offset, mass), in `reply` and in `reply_call` (a forced call);
    # None: not recorded (the backend cannot tell, or a record from before the grammar copied places).
    overrides: list[tuple[int, float]] | None = None
    call_overrides: list[tuple[int, float]] | None = None

    @property
    def free_calls(self) -> bool:
        return classify_opening(self.reply) != "prose"

    def overrides_of(self, reply: str) -> list[tuple[int, float]] | None:
        """The grammar overrides recorded for one of this record's replies (None if none were)."""
        if reply == self.reply:
            return self.overrides
        return self.call_overrides if reply == self.reply_call else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _drain(llm: LLM, case: EvalCase, params: GenerationParams, stop_at_prose: bool) -> tuple[str, Usage | None]:
    """(text, usage) of one reply: `evaluation.runner.first_call` without its completeness flag and timing."""
    text, _, usage, _ = first_call(llm, case, params, stop_at_prose)
    return text, usage


def record_case(llm: LLM, case: EvalCase, max_tokens: int = 128, force_floor: float = 0.1) -> DecisionRecord:
    """Run one prompt free under the grammar (P(call) and the model's own decision); for a prose reply with P(call)
    of at least `force_floor`, also the call a threshold below P(call) would force."""
    import time

    start = time.perf_counter()
    grammar, error = None, ""
    # As the agent does (agent.loop.Agent.grammar_choices): places copied from the user's words, where the backend
    # tells a copied place from a forced one.
    choices = copy_choices(case.functions, case.messages) if getattr(llm, "reports_grammar_overrides", False) else {}
    try:
        grammar = grammar_for(case.functions, choices=choices)
    except Exception as exc:  # a spec the grammar cannot express: say so, run unconstrained
        error = f"{type(exc).__name__}: {exc}"[:200]
    free = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0, call_threshold=None, call_grammar=grammar,
                            repetition_guard=True)
    text, usage = _drain(llm, case, free, stop_at_prose=True)
    overrides = usage.grammar_overrides if usage and choices else None
    p_call = usage.call_probability if usage else None
    if p_call is None:  # stopped at prose before the usage came: one more token reads it (the prompt is cached)
        _, usage = _drain(llm, case, replace(free, max_tokens=1), stop_at_prose=False)
        p_call = usage.call_probability if usage else None
    record = DecisionRecord(case.id, case.category, case.source, case.should_call, p_call, text, text, text,
                            error or ("" if grammar else "no grammar for these specs"), overrides=overrides,
                            call_overrides=overrides)
    if not record.free_calls:
        record.reply_call, record.call_overrides = "", None
        if p_call is not None and p_call >= force_floor:  # threshold 0: P(call) >= 0, the reply is a call
            record.reply_call, usage = _drain(llm, case, replace(free, call_threshold=0.0), False)
            record.call_overrides = usage.grammar_overrides if usage and choices else None
    record.seconds = round(time.perf_counter() - start, 3)
    return record


def record_cases(llm: LLM, cases: Sequence[EvalCase], max_tokens: int = 128, show_progress: bool = True,
                 desc: str = "", done: Sequence[DecisionRecord] = (), checkpoint=None) -> list[DecisionRecord]:
    """Every case once, in an order that keeps one system prompt in the KV cache as long as possible. Cases in `done`
    (a partial run) are not run again; `checkpoint(records so far)` is called every 10 prompts."""
    from tqdm import tqdm

    known = {r.case_id: r for r in done}
    order = sorted(range(len(cases)), key=lambda i: cases[i].messages[0].content if cases[i].messages else "")
    records: dict[int, DecisionRecord] = {i: known[c.id] for i, c in enumerate(cases) if c.id in known}
    todo = [i for i in order if i not in records]
    for step, index in enumerate(tqdm(todo, desc=desc or getattr(llm, "name", "model"), unit="prompt",
                                      disable=not show_progress)):
        if checkpoint is not None and step and step % 10 == 0:
            checkpoint(list(records.values()))
        case = cases[index]
        try:
            records[index] = record_case(llm, case, max_tokens)
        except BackendError as exc:  # a prompt longer than the context: no decision, a failed case
            records[index] = DecisionRecord(case.id, case.category, case.source, case.should_call, None, "", "", "",
                                            f"backend: {exc}"[:200])
    return [records[i] for i in range(len(cases))]


# ---------------------------------------------------------------------------------------- variants, offline

@dataclass(frozen=True)
class Variant:
    """Which decoding pieces are on."""

    name: str
    threshold: float | None = None  # None: the model decides freely; t: a call iff P(call) >= t (under the grammar)
    grammar: bool = False
    ask: bool = False  # a call with a place nobody named is not run (the agent asks instead)


def calls_at(record: DecisionRecord, threshold: float | None) -> bool:
    """Does the reply open a call at this threshold?"""
    if threshold is None or record.p_call is None:
        return record.free_calls
    return record.p_call >= threshold


def effective_reply(record: DecisionRecord, variant: Variant) -> str:
    """The reply the agent would get under `variant` ("" stands for prose when a threshold forbids the call)."""
    if variant.threshold is None or record.p_call is None:
        return record.reply_grammar if variant.grammar else record.reply
    if not calls_at(record, variant.threshold):
        return "" if record.free_calls else record.reply
    return record.reply_call or record.reply


def run_calls(case: EvalCase, reply: str, overrides: list[tuple[int, float]] | None = None) -> str:
    """What the agent runs of a reply (agent/loop.py): the reply itself; or, where a call fills a place or value nobody
    gave (or the grammar forced), only the calls whose values were all given ("[...]", `grounded_calls`); or "" when
    no call is left and the agent asks; of two calls that differ in a place one misspells ("Londn", "London"), only
    the usual spelling's (`agent.places.one_spelling`); of calls that differ only in optional values nobody said, the
    first (`agent.endings.one_call_per_request`). (`overrides`: where the call grammar overruled the model in this
    reply, as the agent reads them.)"""
    try:
        calls = parse_tool_calls(reply)
    except ToolCallParseError:
        return reply
    forced = places_nobody_named(reply, overrides)
    kept = calls
    if calls and missing_value(calls, case.specs, case.messages, forced) is not None:
        kept = grounded_calls(calls, case.specs, case.messages, forced)
        if not kept:
            return ""
    kept = one_call_per_request(one_spelling(kept), case.specs, case.messages)  # "Londn" beside "London": once
    return reply if len(kept) == len(calls) else format_tool_calls(kept)


def asked(case: EvalCase, reply: str, overrides: list[tuple[int, float]] | None = None) -> bool:
    """Would the agent ask for a missing place instead of running any of this reply's calls?"""
    return bool(reply) and run_calls(case, reply, overrides) == ""


def score_variant(case: EvalCase, record: DecisionRecord, variant: Variant) -> tuple[SampleScore, bool]:
    """The first call's score under `variant` (of the calls the agent runs), and whether it asked instead of calling."""
    reply = effective_reply(record, variant)
    run = run_calls(case, reply, record.overrides_of(reply)) if variant.ask else reply
    score = score_reply(case, run)
    if run != reply:  # the format of what the model wrote still counts
        score.format_valid = score_reply(case, reply).format_valid
    return score, bool(reply) and run == ""


# ------------------------------------------------------------------------------------------ rates with intervals

def wilson(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    """A proportion and its 95% Wilson interval."""
    if n == 0:
        return None, None, None
    p = k / n
    denominator = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / denominator
    return p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def balanced(relevance: tuple, restraint: tuple, n_call: int, n_no: int) -> tuple[float | None, ...]:
    """Balanced accuracy (mean of relevance and restraint) with a normal-approximation 95% interval; with one side
    missing, the other side alone."""
    if relevance[0] is None or restraint[0] is None:
        return relevance if restraint[0] is None else restraint
    value = (relevance[0] + restraint[0]) / 2
    spread = math.sqrt(relevance[0] * (1 - relevance[0]) / n_call + restraint[0] * (1 - restraint[0]) / n_no) / 2
    half = Z95 * max(spread, 1e-9)
    return value, max(0.0, value - half), min(1.0, value + half)


def variant_metrics(cases: Sequence[EvalCase], records: Sequence[DecisionRecord], variant: Variant
                    ) -> dict[str, Any]:
    """Decision, restraint, relevance, name/argument accuracy, format validity (each with a 95% interval)."""
    scored = [(case, *score_variant(case, record, variant)) for case, record in zip(cases, records, strict=True)]
    want = [s for c, s, _ in scored if c.should_call]
    no = [s for c, s, _ in scored if not c.should_call]
    relevance = wilson(sum(s.called for s in want), len(want))
    restraint = wilson(sum(not s.called for s in no), len(no))
    return {
        "n": len(scored), "n_call": len(want), "n_no_call": len(no),
        "decision": balanced(relevance, restraint, len(want), len(no)),
        "relevance": relevance, "restraint": restraint,
        "name_accuracy": wilson(sum(bool(s.name_correct) for s in want), len(want)),
        "ast_accuracy": wilson(sum(bool(s.ast_correct) for s in want), len(want)),
        "format_valid": wilson(sum(s.format_valid for _, s, _ in scored), len(scored)),
        "asked": sum(a for _, _, a in scored),
    }


# ------------------------------------------------------------------------------------------- the threshold

def decisions_at(records: Sequence[DecisionRecord], threshold: float | None,
                 asks: dict[str, set[str]] | None = None) -> list[tuple[bool, bool]]:
    """(should call, a call is run) per record at `threshold`. With `asks` (case id -> the replies the agent would
    answer with a question for a missing place), such a call is not run."""
    pairs = []
    for r in records:
        calls = calls_at(r, threshold)
        if calls and asks is not None:
            reply = effective_reply(r, Variant("", threshold=threshold, grammar=True))
            calls = reply not in asks.get(r.case_id, set())
        pairs.append((r.should_call, calls))
    return pairs


def asked_replies(records: Sequence[DecisionRecord], cases: dict[str, EvalCase]) -> dict[str, set[str]]:
    """Per case, which of its recorded replies the agent would meet with a question for a missing place."""
    out: dict[str, set[str]] = {}
    for r in records:
        case = cases.get(r.case_id)
        if case is not None:
            replies = {r.reply, r.reply_grammar, r.reply_call}
            out[r.case_id] = {reply for reply in replies if reply and asked(case, reply, r.overrides_of(reply))}
    return out


def rates(pairs: Sequence[tuple[bool, bool]]) -> tuple[float, float]:
    """(relevance, restraint) of (should call, calls) pairs; a side with no cases counts as 1."""
    want = [c for s, c in pairs if s]
    no = [not c for s, c in pairs if not s]
    return (sum(want) / len(want) if want else 1.0), (sum(no) / len(no) if no else 1.0)


def sweep(records: Sequence[DecisionRecord], asks: dict[str, set[str]] | None = None
          ) -> list[tuple[float, float, float]]:
    """(threshold, relevance, restraint) from 0 (always call) up to beyond every P(call) (never)."""
    ps = sorted({r.p_call for r in records if r.p_call is not None})
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(ps, ps[1:], strict=False)] + [math.inf]
    return [(t, *rates(decisions_at(records, t, asks))) for t in cuts]


def fit_threshold(records: Sequence[DecisionRecord], asks: dict[str, set[str]] | None = None
                  ) -> tuple[float, float]:
    """The threshold with the best balanced decision accuracy (the middle one of a tie), and that accuracy."""
    points = sweep(records, asks)
    scores = [(relevance + restraint) / 2 for _, relevance, restraint in points]
    best = max(scores)
    tied = [t for (t, _, _), s in zip(points, scores, strict=True) if math.isclose(s, best)]
    return tied[len(tied) // 2], best


def plot_sweeps(curves: dict[str, list[tuple[float, float, float]]], chosen: dict[str, float], path,
                title: str = "Relevance vs restraint as the call threshold rises", alone=None) -> Any:
    """One curve per model (solid: threshold then asking, as the agent runs; dashed: the threshold alone)."""
    from evaluation.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 5.0))
    for model, points in curves.items():
        line, = ax.plot([100 * p[2] for p in points], [100 * p[1] for p in points], marker=".", markersize=3,
                        label=f"{model} (threshold + asking)")
        other = (alone or {}).get(model) or []
        if other:
            ax.plot([100 * p[2] for p in other], [100 * p[1] for p in other], linestyle="--", color=line.get_color(),
                    alpha=0.6, label=f"{model} (threshold alone)")
        pick = next((p for p in points if math.isclose(p[0], chosen.get(model, -1))), None)
        if pick is not None:
            ax.scatter([100 * pick[2]], [100 * pick[1]], s=120, marker="*", zorder=5, edgecolors="black")
            ax.annotate(f"t = {pick[0]:.3g}", (100 * pick[2], 100 * pick[1]), xytext=(6, -12),
                        textcoords="offset points", fontsize=8)
    ax.set_xlabel("restraint: no call where none is wanted (%)")
    ax.set_ylabel("relevance: a call where one is wanted (%)")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return _save(fig, plt, path)


def load_records(rows: Sequence[dict[str, Any]]) -> list[DecisionRecord]:
    return [DecisionRecord(**row) for row in rows]

