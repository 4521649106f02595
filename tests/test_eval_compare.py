"""The `compare` report and the results page, with scripted fake models (charts are real PNG files)."""

from __future__ import annotations

import json

import pytest

from evaluation.__main__ import build_parser
from evaluation.compare import main as compare_main
from evaluation.results import main as results_main
from fakes.models import ScriptedLLM
from tests.test_eval_funccall import write_bfcl_slice, write_split

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bfcl_dir(tmp_path):
    return write_bfcl_slice(tmp_path)


@pytest.fixture
def split_file(tmp_path):
    return write_split(tmp_path)


def _good(messages):
    question = messages[-1].content
    if "Oslo" in question:
        return '[get_current_weather(location="Oslo")]'
    if "Ada" in question:
        return '[search_wikipedia(query="Ada Lovelace")]'
    if "triangle" in question:
        return "[calculate_triangle_area(base=10, height=5)]" if "base 10" in question else "No."
    return "Here is a short answer."


def _fake_models(count=20):
    scripts = {"tuned": [_good] * count, "base": ["Let me think about that."] * count}
    return lambda name: ScriptedLLM(scripts[name], name)


def test_compare_writes_tables_bar_charts_confusion_matrices_and_side_by_side_examples(bfcl_dir, split_file, tmp_path):
    out = tmp_path / "cmp"
    args = build_parser().parse_args(["compare", "--models", "base", "tuned", "--categories", "generated", "simple",
                                      "irrelevance", "--bfcl-dir", str(bfcl_dir), "--split-file", str(split_file),
                                      "--out-dir", str(out), "--quiet"])
    compare_main(args, "cmd", load_model=_fake_models(), is_available=lambda name: True)
    report = (out / "report.md").read_text()
    assert "### gen:weather (n = 1)" in report and "### bfcl:simple (n = 3)" in report
    assert "| Metric | base | tuned |" in report
    pictures = sorted(p.name for p in (out / "assets").glob("*.png"))
    assert "accuracy.png" in pictures and "confusion_base.png" in pictures and "confusion_tuned.png" in pictures
    assert all((out / "assets" / p).read_bytes().startswith(PNG_MAGIC) for p in pictures)
    assert "](assets/confusion_tuned.png)" in report
    side = report.split("## Side by side", 1)[1]
    assert "Who was Ada Lovelace?" in side and "✅" in side and "❌" in side
    summary = json.loads((out / "results.json").read_text())
    assert summary["runs"]["tuned"]["metrics"]["gen:all"]["accuracy"] == 1.0
    assert summary["runs"]["base"]["metrics"]["gen:all"]["llm_calls_per_turn"] == 1.0


def test_results_page_compares_the_models_it_can_run_and_names_those_it_cannot(bfcl_dir, split_file, tmp_path):
    page = tmp_path / "docs" / "results.md"
    args = build_parser().parse_args(["results", "--models", "base", "tuned", "missing", "--bfcl-dir", str(bfcl_dir),
                                      "--split-file", str(split_file), "--out", str(page), "--limit", "2", "--quiet"])
    assert args.categories == ["generated", "simple", "multiple", "irrelevance"]
    results_main(args, "python -m evaluation results", load_model=_fake_models(),
                 is_available=lambda name: name != "missing")
    text = page.read_text()
    assert text.startswith("# Results: base vs fine-tuned tool calling")
    assert "**Not run:** missing" in text and "## How these numbers are made" in text
    assert "](assets/results_accuracy.png)" in text
    assert (tmp_path / "docs" / "assets" / "results_confusion_tuned.png").read_bytes().startswith(PNG_MAGIC)
    metrics = json.loads((tmp_path / "docs" / "assets" / "results.json").read_text())["runs"]
    assert metrics["tuned"]["bfcl:simple"]["n"] == 2 and set(metrics) == {"base", "tuned"}
