"""The agent's tools: typed Python functions turned into Llama 3.2 / BFCL function specs by `@tool`."""

from __future__ import annotations

from tools.base import Tool, tool
from tools.weather import get_current_weather, get_weather_forecast
from tools.wiki import search_wikipedia

ALL_TOOLS: dict[str, Tool] = {t.name: t for t in (get_current_weather, get_weather_forecast, search_wikipedia)}


def get_tools(names=None) -> list[Tool]:
    """The tools with these names (all when `names` is None), in catalogue order."""
    if names is None:
        return list(ALL_TOOLS.values())
    unknown = set(names) - set(ALL_TOOLS)
    if unknown:
        raise ValueError(f"unknown tools {sorted(unknown)}; available: {', '.join(ALL_TOOLS)}")
    return [ALL_TOOLS[n] for n in ALL_TOOLS if n in names]


__all__ = ["ALL_TOOLS", "Tool", "get_tools", "tool"]
