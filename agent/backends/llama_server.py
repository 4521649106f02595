"""llama-cpp-python's own OpenAI-compatible server, with this project's safe model loading.

    python -m agent.backends.llama_server --model PATH.gguf [--lora_path ADAPTER.gguf] --host 127.0.0.1 --port 8000

Every option is llama-cpp-python's (`python -m llama_cpp.server --help`; it needs the `server` extra:
`pip install "llama-cpp-python[server]"`). The only difference: models load through
`agent.backends.llama_loader`, so the server does not crash on CPUs with AMX. Point the agent at it with
`python -m agent "..." --base-url http://127.0.0.1:8000/v1`.
"""

from __future__ import annotations


def main() -> None:
    from agent.backends.llama_loader import install

    install()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
