"""The done-when targets against the call threshold (evaluation/targets.py), on records whose P(call) is set by hand:
which targets hold at the stored threshold, where all of them hold, the base's floor, and the chart."""

from __future__ import annotations

import argparse
import shutil

import pytest

from evaluation import decisions as dec
from evaluation import decoding, targets
from evaluation.report import write_json
from models.catalogue import CATALOGUE_PATH, set_call_threshold
from tests.test_eval_funccall import write_bfcl_slice

# P(call) per category: calls wanted sit at 0.8; no tool at 0.3 but two prompts at 0.9; BFCL irrelevance at 0.6, 0.65.
# Replies are prose (the decision is P(call)'s alone), but for the second loud prompt: a call for a place nobody
# named, which the agent meets with a question, so that prompt counts as held back.
P_WANTED, P_NO, P_LOUD = 0.8, 0.3, 0.9
P_IRRELEVANT = (0.6, 0.65)
UNSAID = '[get_current_weather(location="Atlantis")]'


def write_records(args, model, p_of):
    for group in ("test", "irrelevance"):
        seen: dict[str, int] = {}  # p_of(case, its index within its category)
        rows = []
        for case in decoding.case_index(group, args).values():
            p, reply = p_of(case, seen.setdefault(case.category, 0))
            seen[case.category] += 1
            rows.append(dec.DecisionRecord(case.id, case.category, case.source, case.should_call, p, reply, reply,
                                           "").to_dict())
        write_json(decoding.record_path(args, model, group), {"model": model, "group": group, "records": rows})


def tuned_p(case, i):
    if case.category == "bfcl:irrelevance":
        return P_IRRELEVANT[i % 2], "Prose."
    if case.should_call:
        return P_WANTED, "Prose."
    if case.category == "gen:no_tool" and i < 2:
        return P_LOUD, UNSAID if i else "Prose."
    return P_NO, "Prose."


@pytest.fixture
def setup(tmp_path, monkeypatch):
    from training.dataset.generate import main as build_dataset

    build_dataset(["--out", str(tmp_path / "data"), "--seed", "0", "--size", "300", "--validation-size", "60",
                   "--test-size", "200"])
    (tmp_path / "bfcl").mkdir()
    write_bfcl_slice(tmp_path / "bfcl")
    catalogue = tmp_path / "catalogue.toml"
    shutil.copy(CATALOGUE_PATH, catalogue)
    monkeypatch.setenv("MODEL_CATALOGUE", str(catalogue))
    parser = argparse.ArgumentParser()
    targets.add_arguments(parser)
    args = parser.parse_args(["--models", "smollm2-135m-funccall", "--work-dir", str(tmp_path / "w"), "--split-dir",
                              str(tmp_path / "data"), "--bfcl-dir", str(tmp_path / "bfcl"), "--out",
                              str(tmp_path / "targets.png")])
    write_records(args, "smollm2-135m-funccall", tuned_p)
    return args, catalogue


def test_every_target_holds_only_between_the_loudest_irrelevant_prompt_and_the_wanted_calls(setup):
    args, catalogue = setup
    set_call_threshold("smollm2-135m-funccall", 0.7, catalogue)
    result = targets.evaluate("smollm2-135m-funccall", args, base=None)
    assert result["stored"] == 0.7
    counts = result["at_stored"]
    n_no = counts["no tool needed: held back"][1]
    assert n_no > 5 and counts["no tool needed: held back"] == (n_no - 1, n_no), "the one loud prompt is called"
    assert counts["BFCL irrelevance: held back"] == (2, 2) and counts["Wikipedia questions called"][0] > 0
    assert all(k == n for key, (k, n) in counts.items() if key.endswith("called"))
    assert result["goals"]["no tool needed: held back"] is None, "no base recorded: that target is left out"
    assert min(result["all_hold"]) > 0.65 and max(result["all_hold"]) == pytest.approx(0.8)
    assert "met" in "\n".join(targets.describe(result)) and "NOT met" not in "\n".join(targets.describe(result))


def test_a_stored_threshold_below_an_irrelevant_prompt_misses_that_target(setup):
    args, catalogue = setup
    set_call_threshold("smollm2-135m-funccall", 0.62, catalogue)
    lines = "\n".join(targets.describe(targets.evaluate("smollm2-135m-funccall", args, base=None)))
    assert "BFCL irrelevance: held back: 1/2 = 50.0%" in lines and "NOT met" in lines


def test_a_base_that_never_calls_sets_a_floor_the_tuned_model_must_reach(setup, capsys):
    args, catalogue = setup
    write_records(args, "smollm2-135m", lambda case, i: (0.0, "Prose."))  # the base: prose everywhere
    set_call_threshold("smollm2-135m-funccall", 0.7, catalogue)
    path = targets.main(args)
    assert path.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "no tool needed: held back" in out and "no target (no base)" not in out
    # The floor: the least rate whose interval still reaches the base's. 40 of 40 reaches down to 91.2%; 33 of 40
    # reaches up to 91.3%, 32 of 40 only to 89.0%. At 300 prompts the same base asks for 293.
    assert targets.floor_of((40, 40), 40) == 33 / 40
    assert dec.wilson(32, 40)[2] < dec.wilson(40, 40)[1] <= dec.wilson(33, 40)[2]
    assert targets.floor_of((300, 300), 300) == 293 / 300
