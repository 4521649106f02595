"""Settings from the environment through one mechanism (env_settings.py, pydantic-settings) for the app and the tools,
and the generation defaults defined in one place."""

import pytest
from pydantic_settings import BaseSettings


def test_the_tools_read_their_variables_through_pydantic_settings(monkeypatch):
    from tools.config import ToolConfigError, ToolsConfig

    assert issubclass(ToolsConfig, BaseSettings)
    monkeypatch.setenv("TOOLS_RETRIES", "3")
    monkeypatch.setenv("WIKIPEDIA_SUMMARY_CHARS", "")  # empty: unset
    assert (ToolsConfig.from_env().retries, ToolsConfig.from_env().wiki_summary_chars) == (3, 1500)
    assert ToolsConfig.from_env({"TOOLS_RETRIES": "4"}).retries == 4  # a mapping instead of os.environ
    with pytest.raises(ToolConfigError, match=r"^TOOLS_RETRIES must be a whole number, got '2.5'$"):
        ToolsConfig.from_env({"TOOLS_RETRIES": "2.5"})
    with pytest.raises(ToolConfigError, match=r"^TOOLS_CACHE_TTL_S must be between 0 and 604800, got '-1'$"):
        ToolsConfig.from_env({"TOOLS_CACHE_TTL_S": "-1"})


def test_the_app_reads_its_variables_through_pydantic_settings_and_names_a_bad_flag(monkeypatch):
    from ui.config import AppConfig, parse_config

    assert issubclass(AppConfig, BaseSettings)
    monkeypatch.setenv("APP_CONCURRENCY", "3")
    assert parse_config([]).concurrency == 3
    assert parse_config(["--concurrency", "5"]).concurrency == 5
    with pytest.raises(SystemExit, match="--concurrency must be a whole number, got 'many'"):
        parse_config(["--concurrency", "many"])
    with pytest.raises(SystemExit, match="APP_MAX_LOADED_MODELS must be at least 1, got '0'"):
        parse_config([], environ={"APP_MAX_LOADED_MODELS": "0"})


def test_generation_defaults_are_defined_once_and_read_by_the_cli_and_the_ui():
    from agent.__main__ import build_parser
    from agent.backends.base import DEFAULT_GENERATION, GenerationParams
    from ui.chat import agent_settings

    assert DEFAULT_GENERATION == GenerationParams()
    args = build_parser().parse_args([])
    assert (args.temperature, args.max_tokens) == (DEFAULT_GENERATION.temperature, DEFAULT_GENERATION.max_tokens)
    assert agent_settings().generation == DEFAULT_GENERATION
