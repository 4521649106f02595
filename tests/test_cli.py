"""The command line: listing models, batch input with echoed fields, clear errors."""

import json

import pytest

from agent import __main__ as cli
from fakes.models import ScriptedLLM


def test_list_models_prints_every_catalogue_name(capsys):
    assert cli.main(["--list-models"]) == 0
    out = capsys.readouterr().out
    for name in ("smollm2-135m", "smollm2-135m-funccall", "llama-3.2-1b", "llama-3.2-3b"):
        assert name in out
    assert "(default)" in out


def test_batch_input_runs_every_prompt_with_one_model_and_echoes_extra_fields(tmp_path, capsys, monkeypatch):
    llm = ScriptedLLM(["Hello there.", "Four."])
    loads = []
    monkeypatch.setattr(cli, "load_backend", lambda args: loads.append(args) or llm)
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "Hi", "mode": "chat", "id": "a"}) + "\n\n"
                    + json.dumps({"prompt": "2+2?", "id": 7}) + "\n")
    assert cli.main(["--input", str(path), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finals = [e for e in events if e["type"] == "final_answer"]
    assert [(f["id"], f["text"]) for f in finals] == [("a", "Hello there."), (7, "Four.")]
    assert all("id" in e for e in events) and len(loads) == 1


def test_human_output_streams_the_answer_and_a_stats_line(capsys, monkeypatch):
    monkeypatch.setattr(cli, "load_backend", lambda args: ScriptedLLM(["Paris is the capital."]))
    assert cli.main(["Capital of France?", "--mode", "chat"]) == 0
    captured = capsys.readouterr()
    assert "Paris is the capital." in captured.out and "1 LLM call" in captured.err


@pytest.mark.parametrize("content, message", [
    ("not json\n", "is not JSON"), ('{"text": "x"}\n', '"prompt"'), ('{"prompt": "x", "mode": "zzz"}\n', "mode"),
])
def test_bad_input_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(SystemExit, match=message):
        cli.main(["--input", str(path)])


def test_no_prompt_is_a_usage_error():
    with pytest.raises(SystemExit, match="give a prompt"):
        cli.main([])


def test_a_missing_model_file_is_reported_not_crashed(capsys, tmp_path, monkeypatch):
    catalogue = tmp_path / "c.toml"
    catalogue.write_text(f'[[models]]\nname = "gone"\nlabel = "g"\nsource = "local"\npath = "{tmp_path}/gone.gguf"\n')
    monkeypatch.setenv("MODEL_CATALOGUE", str(catalogue))
    assert cli.main(["Hi", "--model", "gone"]) == 2
    assert "not found" in capsys.readouterr().err
