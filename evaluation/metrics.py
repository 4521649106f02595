"""Per-category metrics of the first-call evaluation, from the per-case results of `evaluation.scoring`.

Rates are over the cases where they mean something: relevance, function-name and AST accuracy over the cases that want
a call; restraint over the cases that want none; format validity and accuracy over all. With several samples per
prompt, the majority vote is scored, and `mean_sample_accuracy` and `consistency` say how stable the model is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from evaluation.cases import decision_classes
from evaluation.scoring import CaseResult

ALL = "all"

METRIC_LABELS = {
    "accuracy": "Accuracy (BFCL rules)",
    "format_valid": "Format validity",
    "relevance": "Relevance (called when it should)",
    "restraint": "Restraint (no call when it should not)",
    "name_accuracy": "Function-name accuracy",
    "ast_accuracy": "AST argument accuracy",
    "mean_sample_accuracy": "Mean sample accuracy",
    "consistency": "Consistency (majority share)",
    "buried_call_rate": "Calls buried in prose",
    "llm_calls_per_turn": "LLM calls per turn (implied)",
}


@dataclass
class CategoryMetrics:
    category: str
    n: int
    n_call: int
    n_no_call: int
    accuracy: float
    format_valid: float
    relevance: float | None
    restraint: float | None
    name_accuracy: float | None
    ast_accuracy: float | None
    mean_sample_accuracy: float
    consistency: float
    buried_call_rate: float | None
    llm_calls_per_turn: float
    mean_latency_s: float
    error_types: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rate(values: Iterable[bool]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def llm_calls_implied(result: CaseResult) -> int:
    """LLM calls the agent would make for this turn: 1 for a prose answer, 2 when the first call asks for tools or is
    malformed (the agent runs the tools, or reports the parse error, and calls the model again)."""
    return 1 if result.majority.decision == "no call" else 2


def category_metrics(category: str, results: Sequence[CaseResult]) -> CategoryMetrics:
    calls = [r for r in results if r.should_call]
    no_calls = [r for r in results if not r.should_call]
    complete = [r for r in results if r.majority.complete and not r.majority.called]
    samples = [s for r in results for s in r.samples]
    return CategoryMetrics(
        category=category,
        n=len(results),
        n_call=len(calls),
        n_no_call=len(no_calls),
        accuracy=_rate(r.majority.correct for r in results) or 0.0,
        format_valid=_rate(r.majority.format_valid for r in results) or 0.0,
        relevance=_rate(r.majority.called for r in calls),
        restraint=_rate(not r.majority.called for r in no_calls),
        name_accuracy=_rate(bool(r.majority.name_correct) for r in calls),
        ast_accuracy=_rate(bool(r.majority.ast_correct) for r in calls),
        mean_sample_accuracy=sum(r.mean_sample_accuracy for r in results) / len(results) if results else 0.0,
        consistency=sum(r.majority_share for r in results) / len(results) if results else 0.0,
        buried_call_rate=_rate(r.majority.buried_call for r in complete),
        llm_calls_per_turn=sum(map(llm_calls_implied, results)) / len(results) if results else 0.0,
        mean_latency_s=sum(s.latency_s for s in samples) / len(samples) if samples else 0.0,
        error_types=dict(Counter(r.majority.error_type for r in results if r.majority.error_type)),
    )


def metrics_by_category(results: Sequence[CaseResult]) -> dict[str, CategoryMetrics]:
    """Metrics per category, per source ("bfcl", "generated") and over all cases."""
    groups: dict[str, list[CaseResult]] = {}
    for result in results:
        groups.setdefault(result.category, []).append(result)
    out: dict[str, CategoryMetrics] = {}
    for prefix in sorted({name.split(":", 1)[0] for name in groups}):  # "bfcl", "gen": categories, then their total
        members = sorted(name for name in groups if name.split(":", 1)[0] == prefix)
        out.update((name, category_metrics(name, groups[name])) for name in members)
        if len(members) > 1:
            total = [r for name in members for r in groups[name]]
            out[f"{prefix}:{ALL}"] = category_metrics(f"{prefix}:{ALL}", total)
    out[ALL] = category_metrics(ALL, results)
    return out


def confusion_matrix(results: Sequence[CaseResult]) -> tuple[list[str], list[str], list[list[int]]]:
    """Expected decision class (rows) against the majority decision (columns)."""
    classes = decision_classes()
    rows = [c for c in classes if c != "malformed" and any(r.expected_class == c for r in results)] or classes[:1]
    cols = classes
    counts = Counter((r.expected_class, r.majority.decision) for r in results)
    return rows, cols, [[counts[(row, col)] for col in cols] for row in rows]
