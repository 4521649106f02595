"""`python -m training.data_sizes`: the data-size chart from run folders (a resumed run's repeated steps count once)."""

from __future__ import annotations

import json

from training.data_sizes import cpu_label, main, validations


def write_run(folder, train_samples, evals, extra_lines=(), cpu=None):
    folder.mkdir(parents=True)
    summary = {"train_samples": train_samples, **({"cpu": {"name": cpu}} if cpu else {})}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    lines = [json.dumps({"step": s, "epoch": e, "eval_loss": loss, "decision_accuracy": d}) for s, e, loss, d in evals]
    lines += [json.dumps({"step": 5, "epoch": 0.1, "loss": 1.0})] + list(extra_lines)
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_validations_are_read_in_step_order_with_the_last_log_of_a_repeated_step(tmp_path):
    run = write_run(tmp_path / "model", 1000, [(0, 0.0, 1.7, 0.5), (75, 0.5, 0.9, 0.8), (150, 1.0, 0.8, 0.85)],
                    [json.dumps({"step": 75, "epoch": 0.5, "eval_loss": 0.95, "decision_accuracy": 0.82})])
    size, points = validations(run)
    assert size == 1000
    assert [p["samples_seen"] for p in points] == [0, 500, 1000]
    assert points[1] == {"samples_seen": 500, "decision": 0.82, "loss": 0.95}, "the resumed run's log wins"


def test_the_chart_is_written_and_a_folder_without_metrics_is_one_error_line(tmp_path, capsys):
    small = write_run(tmp_path / "size-500", 500, [(0, 0.0, 1.7, 0.5), (60, 1.0, 0.9, 0.86)])
    large = write_run(tmp_path / "model", 3000, [(0, 0.0, 1.7, 0.5), (300, 0.7, 0.67, 0.93)])
    out = tmp_path / "charts" / "data_sizes.png"
    assert main(["--runs", str(small), str(large), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert main(["--runs", str(small), str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: no metrics.jsonl and summary.json in ")


def test_the_chart_says_which_cpu_the_runs_trained_on(tmp_path):
    evals = [(0, 0.0, 1.7, 0.5)]
    amx = write_run(tmp_path / "a", 500, evals, cpu="Intel Xeon Platinum 8480+")
    epyc = write_run(tmp_path / "b", 1000, evals, cpu="AMD EPYC 7B13")
    assert cpu_label([amx, epyc]) == "trained on AMD EPYC 7B13; Intel Xeon Platinum 8480+"
    old = write_run(tmp_path / "c", 2000, evals)  # a summary from before the CPU was recorded
    gpu = write_run(tmp_path / "d", 3000, evals)  # a TRL run on a GPU records "cpu": null
    (gpu / "summary.json").write_text(json.dumps({"train_samples": 3000, "cpu": None}), encoding="utf-8")
    assert cpu_label([gpu]).startswith("CPU not recorded by these runs (made here: ")
    label = cpu_label([amx, old])
    assert label.startswith("trained on Intel Xeon Platinum 8480+; CPU not recorded by the other runs (made here: ")
    assert cpu_label([old]).startswith("CPU not recorded by these runs (made here: ")
