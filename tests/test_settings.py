"""Every stage's settings through one library mechanism (stage_cli.py, transformers' HfArgumentParser): flags from the
settings dataclasses and `--config FILE`, whose values a flag overrides and whose bad values fail with a clear error."""

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from transformers import HfArgumentParser

from stage_cli import SettingsParser, parse_config

RECIPES = sorted((Path(__file__).resolve().parent.parent / "training" / "recipes").glob("*.toml"))


def _training(module: str, pick):
    def parse(argv):
        import importlib

        return pick(importlib.import_module(f"training.{module}").parse_args(argv))

    return parse


def _evaluation(task: str, setting: str):
    def parse(argv):
        from evaluation.__main__ import build_parser

        return getattr(build_parser().parse_args([task, *argv]), setting)

    return parse


def _bench(argv):
    from bench.__main__ import build_parser

    return build_parser().parse_settings(argv)[0].users


# stage: (its settings as parse(argv) -> one value, a config file, the value it gives, flags, the value they give,
#         a bad value for the file, what the error says)
STAGES = {
    "training.funccall": (_training("funccall", lambda s: (s["finetune"].lora_r, s["dataset"].seed)),
                          "[finetune]\nlora_r = 8\n[dataset]\nseed = 3\n", (8, 3),
                          ["--lora-r", "4", "--dataset-seed", "5"], (4, 5),
                          {"lora_r": "wide"}, "invalid int value: 'wide'"),
    "training.finetune": (_training("finetune", lambda c: c.batch_size), "[finetune]\nbatch_size = 2\n", 2,
                          ["--batch-size", "16"], 16, {"trainer": "fast"}, "invalid choice: 'fast'"),
    "training.export": (_training("export", lambda c: c.quantizations), '[export]\nquantizations = "Q4_K_M"\n',
                        "Q4_K_M", ["--quantizations", "f16"], "f16", {"lora": "perhaps"}, "got perhaps"),
    "training.dataset": (_training("dataset.generate", lambda c: c.size), "[dataset]\nsize = 50\n", 50,
                         ["--size", "70"], 70, {"size": "big"}, "invalid int value: 'big'"),
    "training.throughput": (_training("throughput", lambda s: s["throughput"].steps), "[throughput]\nsteps = 3\n", 3,
                            ["--steps", "4"], 4, {"steps": 2.5}, "invalid int value: '2.5'"),
    "evaluation funccall": (_evaluation("funccall", "limit"), "limit = 5\n", 5, ["--limit", "7"], 7,
                            {"categories": ["simple", "weather"]}, "invalid choice: 'weather'"),
    "evaluation compare": (_evaluation("compare", "samples"), "samples = 3\n", 3, ["--samples", "1"], 1,
                           {"samples": "few"}, "invalid int value: 'few'"),
    "evaluation results": (_evaluation("results", "limit"), "limit = 5\n", 5, ["--limit", "none"], None,
                           {"top_p": "high"}, "invalid float value: 'high'"),
    "evaluation judge": (_evaluation("judge", "workers"), "workers = 2\n", 2, ["--workers", "8"], 8,
                         {"workers": "many"}, "invalid int value: 'many'"),
    "evaluation arc": (_evaluation("arc", "hub_config"), 'hub_config = "ARC-Easy"\n', "ARC-Easy",
                       ["--hub-config", "ARC-Challenge"], "ARC-Challenge", {"n_ctx": "long"}, "invalid int value"),
    "evaluation sweep": (_evaluation("sweep", "bfcl_limit"), "bfcl_limit = 5\n", 5, ["--bfcl-limit", "6"], 6,
                         {"groups": ["nowhere"]}, "invalid choice: 'nowhere'"),
    "evaluation decoding": (_evaluation("decoding", "max_tokens"), "max_tokens = 64\n", 64, ["--max-tokens", "32"],
                            32, {"stages": "all"}, "invalid choice: 'all'"),
    "bench": (_bench, "users = 2\n", 2, ["--users", "0"], 0, {"users": "crowd"}, "invalid int value: 'crowd'"),
}


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_reads_a_config_file_and_a_flag_overrides_it(stage, tmp_path):
    parse, text, from_file, flags, from_flags, _, _ = STAGES[stage]
    config = tmp_path / "settings.toml"
    config.write_text(text)

    assert parse([]) != from_file
    assert parse(["--config", str(config)]) == from_file
    assert parse(["--config", str(config), *flags]) == from_flags
    assert parse([*flags, f"--config={config}"]) == from_flags  # a flag wins wherever it stands


@pytest.mark.parametrize("stage", STAGES)
def test_a_bad_value_in_a_config_file_is_an_error_naming_the_file(stage, tmp_path, capsys):
    parse, *_, bad, phrase = STAGES[stage]
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(bad))
    with pytest.raises(SystemExit) as exit_info:
        parse(["--config", str(config)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"config file {config}" in err and phrase in err


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_the_committed_recipes_are_read_by_every_training_stage(recipe):
    from training import export, finetune, funccall, throughput
    from training.dataset import generate as dataset

    tables = tomllib.loads(recipe.read_text(encoding="utf-8"))
    pipeline = funccall.parse_args(["--config", str(recipe)])
    assert set(tables) == {"pipeline", "dataset", "finetune", "export"}
    for section, values in tables.items():  # paths come back as Path objects
        read = {key: getattr(pipeline[section], key) for key in values}
        assert {key: str(v) if isinstance(v, Path) else v for key, v in read.items()} == values, section
    # Each stage alone reads its own table of the same recipe and skips the others.
    argv = ["--config", str(recipe)]
    assert finetune.parse_args(argv) == pipeline["finetune"]
    alone = export.parse_args(argv)
    assert {key: getattr(alone, key) for key in tables["export"]} == tables["export"]
    assert dataset.parse_args(argv) == pipeline["dataset"]
    assert throughput.parse_args(argv)["finetune"] == pipeline["finetune"]


def test_the_parser_is_transformers_hf_argument_parser_with_help_from_metadata(tmp_path, capsys):
    @dataclass
    class Example:
        names: list[str] = field(default_factory=lambda: ["a"], metadata={"help": "Several names."})
        fast: bool = field(default=False, metadata={"help": "Go fast."})
        rate: float | None = field(default=None, metadata={"help": "A rate, or none."})

    parser = SettingsParser([Example])
    assert isinstance(parser, HfArgumentParser)
    text = parser.format_help()
    assert "Several names. (default: ['a'])" in text and "--config FILE" in text and "--no-fast" in text
    yaml_file = tmp_path / "example.yaml"
    yaml_file.write_text("names: [b, c]\nfast: true\nrate: 0.5\n")
    assert parse_config(Example, ["--config", str(yaml_file)]) == Example(["b", "c"], True, 0.5)
    assert parse_config(Example, ["--config", str(yaml_file), "--no-fast", "--rate", "none"]) == Example(
        ["b", "c"], False, None)
    toml_file = tmp_path / "example.toml"
    toml_file.write_text("[extra]\nnames = ['d']\n")
    with pytest.raises(SystemExit):
        parse_config(Example, ["--config", str(toml_file)])
    assert "unknown settings ['[extra]']" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="config file not found"):
        parse_config(Example, ["--config", str(tmp_path / "missing.toml")])


@pytest.mark.parametrize("module, flag", [("training.export", "--run-dir"), ("training.finetune", "--dataset-dir")])
def test_a_stage_given_a_folder_that_does_not_exist_says_so_in_one_line_and_exits_2(module, flag, tmp_path, capsys):
    import importlib

    missing = tmp_path / "no-such-folder"
    code = importlib.import_module(module).main([flag, str(missing), "--output-dir", str(tmp_path / "out")]
                                                if module == "training.finetune" else [flag, str(missing)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and str(missing) in err and "Traceback" not in err
