"""The agent's tools: typed Python functions turned into Llama 3.2 / BFCL function specs by `@tool`.

`ALL_TOOLS` is built on first access, so importing `tools.base` (or the agent) does not import the HTTP clients.
"""

from __future__ import annotations

from tools.base import Tool, tool


def _all_tools() -> dict[str, Tool]:
    from tools.weather import get_current_weather, get_weather_forecast
    from tools.wiki import search_wikipedia

    return {t.name: t for t in (get_current_weather, get_weather_forecast, search_wikipedia)}


def get_tools(names=None) -> list[Tool]:
    """The tools with these names (all when `names` is None), in catalogue order."""
    tools = _all_tools()
    if names is None:
        return list(tools.values())
    unknown = set(names) - set(tools)
    if unknown:
        raise ValueError(f"unknown tools {sorted(unknown)}; available: {', '.join(tools)}")
    return [tools[n] for n in tools if n in names]


def __getattr__(name: str):
    if name == "ALL_TOOLS":
        return _all_tools()
    raise AttributeError(f"module 'tools' has no attribute {name!r}")


__all__ = ["ALL_TOOLS", "Tool", "get_tools", "tool"]
