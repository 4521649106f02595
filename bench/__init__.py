"""The performance benchmark (`python -m bench`): LLM calls, prompt tokens evaluated vs submitted, time to first token,
turn time against the ideal, this agent against the original demo's strategy, and simultaneous users.

Modules: `scenario` (the scripted set), `llm` (the metered model wrapper that forces scripted decisions), `strategies`
(this agent / the baseline), `concurrency`, `metrics` (speeds, ideal time, summary), `report` (Markdown), `runner`.
"""
