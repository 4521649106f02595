"""Local stand-ins shared by the tests, the benchmark, the evaluation and the screenshots; no pytest needed.

- `fakes.services`: a real local HTTP server answering like Open-Meteo and Wikipedia, with faults on demand
  (its data: `fakes.openmeteo`, `fakes.wikipedia`).
- `fakes.models`: scripted models (they replay the replies they are given) and a model source for the real app.
- `fakes.app_process`: `python app.py` as a subprocess on a free port, for browser and gradio_client tests.
- `fakes.gbnf`: a small independent GBNF reader, to check the grammars llama.cpp is given.
"""
