"""ARC scoring from next-token log-probabilities: the scorer with a fake model, then the real embedded model."""

from __future__ import annotations

import json
import math

import pytest

from evaluation.__main__ import build_parser
from evaluation.arc import (
    ArcQuestion,
    LlamaNextToken,
    evaluate,
    letter_token_ids,
    load_jsonl,
    question_text,
    score_question,
    summarise,
)
from evaluation.arc import main as arc_main

QUESTIONS = [
    {"id": "q1", "question": "Which gas do plants take in for photosynthesis?",
     "choices": {"text": ["oxygen", "carbon dioxide", "nitrogen", "helium"], "label": ["A", "B", "C", "D"]},
     "answerKey": "B"},
    {"id": "q2", "question": "At sea level, water boils at which temperature?",
     "choices": {"text": ["50 °C", "75 °C", "100 °C", "150 °C"], "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
    {"id": "q3", "question": "Which planet is closest to the Sun?",
     "choices": {"text": ["Mercury", "Venus", "Earth", "Mars"], "label": ["1", "2", "3", "4"]}, "answerKey": "1"},
]


class FakeNextToken:
    """A 'model' whose vocabulary is a few letters; it prefers the letter it is told to, via " X" or "X"."""

    VOCAB = ["A", " A", "B", " B", "C", " C", "D", " D", "1", " 1", "2", "3", "4", "the"]

    def __init__(self, favourite: dict[str, str]):
        self.favourite = favourite
        self.prompts = []

    def render(self, question, answer_prefix):
        self.prompts.append(question_text(question) + answer_prefix)
        self._current = self.favourite[question.id]
        return self.prompts[-1]

    def single_token(self, text):
        return self.VOCAB.index(text) if text in self.VOCAB else None

    def next_token_logits(self, prompt):
        logits = [0.0] * len(self.VOCAB)
        logits[self.VOCAB.index(" " + self._current if " " + self._current in self.VOCAB else self._current)] = 3.0
        logits[self.VOCAB.index("the")] = 9.0  # a likelier non-letter token must not matter
        return logits


def _questions():
    return [ArcQuestion.from_row(row) for row in QUESTIONS]


def test_the_choice_whose_letter_is_likeliest_is_the_prediction():
    questions = _questions()
    results = evaluate(FakeNextToken({"q1": "B", "q2": "A", "q3": "1"}), questions, show_progress=False)
    assert [r.predicted for r in results] == ["B", "A", "1"]
    assert [r.correct for r in results] == [True, False, True]
    assert all(math.isclose(sum(r.probabilities.values()), 1.0, abs_tol=1e-4) for r in results)
    summary = summarise(results, questions)
    assert summary["accuracy"] == pytest.approx(2 / 3) and summary["chance"] == 0.25
    assert summary["predicted_labels"] == {"1": 1, "A": 1, "B": 1}


def test_a_letter_scores_both_its_bare_and_its_spaced_token():
    fake = FakeNextToken({})
    assert letter_token_ids(fake, "B") == [2, 3] and letter_token_ids(fake, "2") == [10]


def test_the_prompt_lists_every_choice_with_its_label():
    text = question_text(_questions()[2])
    assert "Which planet is closest to the Sun?" in text and "1. Mercury" in text and "4. Mars" in text
    fake = FakeNextToken({"q3": "1"})
    score_question(fake, _questions()[2], answer_prefix="Answer:")
    assert fake.prompts[0].endswith("Answer:")


def test_a_local_file_with_an_answer_outside_the_choices_is_refused(tmp_path):
    path = tmp_path / "arc.jsonl"
    path.write_text(json.dumps(QUESTIONS[0] | {"answerKey": "E"}))
    with pytest.raises(ValueError, match="answerKey"):
        load_jsonl(path)


@pytest.mark.model
def test_the_embedded_model_answers_local_arc_questions_with_one_forward_pass_each(embedded_llm, tmp_path):
    scorer = LlamaNextToken(embedded_llm)
    questions = _questions()
    results = evaluate(scorer, questions, show_progress=False)
    assert scorer.forward_passes == len(questions)
    for question, result in zip(questions, results, strict=True):
        assert result.predicted in question.labels
        assert math.isclose(sum(result.probabilities.values()), 1.0, abs_tol=1e-4)
    # The same prompt twice gives the same answer, whether its prefix comes from the KV cache or not; the
    # probabilities agree to rounding (within 1e-3 on the AVX2 VM; 0.006 on a Xeon with AMX, whose kernels for a whole
    # prompt and for the tokens after a cached prefix round differently).
    again = evaluate(scorer, questions[-1:], show_progress=False)[0]
    assert again.probabilities == pytest.approx(results[-1].probabilities, abs=2e-2)
    assert again.predicted == results[-1].predicted

    path = tmp_path / "arc.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QUESTIONS))
    args = build_parser().parse_args(["arc", "--model", "smollm2-135m", "--file", str(path), "--out-dir",
                                      str(tmp_path / "out"), "--n-ctx", "1024", "--quiet"])
    out = arc_main(args)
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["n"] == 3 and 0.0 <= summary["accuracy"] <= 1.0
    assert "# ARC: " in (out / "report.md").read_text()
