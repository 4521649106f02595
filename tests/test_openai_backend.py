"""The OpenAI-compatible backend against a real local HTTP server speaking the streaming chat-completions protocol."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent import Agent
from agent.backends.base import BackendError, GenerationParams, Usage
from agent.backends.openai_http import OpenAICompatibleLLM
from agent.events import FinalAnswer
from agent.messages import Message, tool_result_message


class Server:
    def __init__(self):
        self.requests, self.replies, self.status = [], [], 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if server.status != 200:
                    self.send_response(server.status)
                    self.end_headers()
                    self.wfile.write(b"overloaded; you sent " + (self.headers.get("Authorization") or "").encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                text = server.replies.pop(0)
                for i in range(0, len(text), 4):
                    chunk = {"choices": [{"delta": {"content": text[i:i + 4]}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                usage = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 7,
                                                  "prompt_tokens_details": {"cached_tokens": 40}}}
                self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def test_it_streams_text_and_usage_and_sends_tool_results_in_the_trained_role(server):
    server.replies.append("Hello from the server.")
    llm = OpenAICompatibleLLM(server.url, "llama", api_key="sk-secret")
    messages = [Message("system", "S"), Message("user", "Hi"), tool_result_message({"t": 1})]
    *chunks, usage = llm.stream(messages, GenerationParams(max_tokens=20))
    assert "".join(chunks) == "Hello from the server."
    assert isinstance(usage, Usage) and usage.prompt_tokens == 50 and usage.cached_tokens == 40
    assert usage.token_counts_known
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["body"]["stream"] is True
    assert request["body"]["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in request["body"]["messages"]] == ["system", "user", "ipython"]  # Llama 3.2's role
    assert request["auth"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(llm)


def test_a_model_set_to_the_tool_role_gets_its_results_as_tool(server):
    server.replies.append("ok")
    llm = OpenAICompatibleLLM(server.url, "llama", api_key="", tool_role="tool")
    list(llm.stream([Message("user", "Hi"), tool_result_message({"t": 1})], GenerationParams(max_tokens=5)))
    assert [m["role"] for m in server.requests[0]["body"]["messages"]] == ["user", "tool"]


def test_the_agent_runs_a_no_tool_turn_against_the_server(server):
    server.replies.append("Paris.")
    agent = Agent(OpenAICompatibleLLM(server.url, "llama", api_key=""), [], mode="chat")
    final = list(agent.run("Capital of France?"))[-1]
    assert isinstance(final, FinalAnswer) and final.text == "Paris." and final.stats.llm_calls == 1


def test_http_errors_and_unreachable_servers_are_backend_errors(server):
    server.status = 503
    llm = OpenAICompatibleLLM(server.url, "llama", api_key="sk-secret")
    with pytest.raises(BackendError, match="503") as info:
        list(llm.stream([Message("user", "x")], GenerationParams()))
    assert "sk-secret" not in str(info.value)
    with pytest.raises(BackendError, match="cannot reach"):
        list(OpenAICompatibleLLM("http://127.0.0.1:9/v1", "m", timeout_s=2).stream([Message("user", "x")],
                                                                                   GenerationParams()))


def test_a_backend_failure_ends_the_turn_with_a_clear_message(server):
    server.status = 500
    agent = Agent(OpenAICompatibleLLM(server.url, "llama", api_key=""), [], mode="chat")
    events = list(agent.run("Hi"))
    assert events[-1].text.startswith("Sorry, the model failed") and any(e.type == "error" for e in events)
