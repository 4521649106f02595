"""The agent core: Llama 3.2 function-call format, LLM backends and the tool-calling loop.

Run it from the command line: python -m agent "What's the weather in Oslo?" --mode weather
"""

from agent.events import (
    AgentError,
    FinalAnswer,
    LLMCallFinished,
    Notice,
    Token,
    ToolCallFinished,
    ToolCallStarted,
    TurnStats,
)
from agent.format import ToolCall, ToolCallParseError, ValidationError, parse_tool_calls, validate_call
from agent.loop import Agent, AgentSettings
from agent.messages import Message

__all__ = [
    "Agent", "AgentError", "AgentSettings", "FinalAnswer", "LLMCallFinished", "Message", "Notice", "Token",
    "ToolCall", "ToolCallFinished", "ToolCallParseError", "ToolCallStarted", "TurnStats", "ValidationError",
    "parse_tool_calls", "validate_call",
]
