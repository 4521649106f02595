"""The pairwise judge against a real local HTTP server that speaks the OpenAI chat-completions protocol."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evaluation.__main__ import build_parser
from evaluation.judge import (
    AnswerPair,
    ChatClient,
    JudgeError,
    JudgeSettings,
    judge_pairs,
    pair_answer_files,
    parse_verdict,
    prompts_for_models,
    summarise,
)
from evaluation.judge import main as judge_main

SECRET = "sk-test-0123456789-secret"


@pytest.fixture(autouse=True)
def _direct_connections(monkeypatch):
    """The fake server is on 127.0.0.1: a proxy set in the environment must not stand in between."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class FakeJudgeServer:
    """A chat-completions endpoint on 127.0.0.1 whose verdicts come from `policy(prompt) -> reply text`."""

    def __init__(self, policy, status: int = 200):
        self.policy, self.status, self.requests = policy, status, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if server.status != 200:
                    payload = json.dumps({"error": f"bad key {self.headers.get('Authorization')}"}).encode()
                else:
                    reply = server.policy(body["messages"][-1]["content"])
                    payload = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"], "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]
                    }).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _replies(prompt: str) -> tuple[str, str]:
    a = re.search(r"\[Reply A\]\n(.*?)\n\[End of reply A\]", prompt, re.S).group(1)
    b = re.search(r"\[Reply B\]\n(.*?)\n\[End of reply B\]", prompt, re.S).group(1)
    return a, b


def always_first(prompt: str) -> str:
    return "Reply A reads well.\n[[A]]"


def prefers_good(prompt: str) -> str:
    a, b = _replies(prompt)
    if "good" in a and "good" not in b:
        return "A is better. [[A]]"
    if "good" in b and "good" not in a:
        return "B is better. [[B]]"
    return "Equal. [[C]]"


PAIRS = [AnswerPair(str(i), f"User: question {i}", (f"good answer {i}", f"poor answer {i}")) for i in range(3)]


def _client(url: str) -> ChatClient:
    return ChatClient(JudgeSettings(base_url=url, judge_model="fake-judge", retries=0, timeout_s=5))


def test_every_pair_is_judged_in_both_orders():
    with FakeJudgeServer(always_first) as server:
        judge_pairs(_client(server.url), PAIRS, ("tuned", "base"), workers=2, show_progress=False)
    assert len(server.requests) == 6 and {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    shown = sorted(_replies(r["body"]["messages"][-1]["content"]) for r in server.requests)
    for i in range(3):
        assert (f"good answer {i}", f"poor answer {i}") in shown and (f"poor answer {i}", f"good answer {i}") in shown
    assert {r["body"]["model"] for r in server.requests} == {"fake-judge"}


def test_a_judge_that_always_picks_the_first_reply_is_flagged_as_position_biased():
    with FakeJudgeServer(always_first) as server:
        results = judge_pairs(_client(server.url), PAIRS, ("tuned", "base"), show_progress=False)
    summary = summarise(results, ("tuned", "base"))
    assert summary["position_bias_rate"] == 1.0 and summary["first_position_rate"] == 1.0
    assert summary["disagreement_rate"] == 1.0 and summary["consensus"]["disagree"] == 3
    assert summary["wins"] == {"tuned": 3, "base": 3}


def test_a_fair_judge_shows_no_position_bias_and_a_clear_winner():
    with FakeJudgeServer(prefers_good) as server:
        results = judge_pairs(_client(server.url), PAIRS, ("tuned", "base"), show_progress=False)
    summary = summarise(results, ("tuned", "base"))
    assert summary["wins"] == {"tuned": 6, "base": 0} and summary["consensus"]["tuned"] == 3
    assert summary["position_bias_rate"] == 0.0 and summary["first_position_rate"] == 0.5


def test_verdicts_are_read_from_the_last_marker():
    assert parse_verdict("[[A]] no wait, [[B]]") == "B"
    assert parse_verdict("It's a tie: [[C]]") == "tie" and parse_verdict("[[tie]]") == "tie"
    assert parse_verdict("I prefer A.") is None


def test_the_judge_command_sends_the_api_key_but_never_writes_or_prints_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUDGE_API_KEY", SECRET)
    files = []
    for name, word in (("tuned", "good"), ("base", "poor")):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps({"id": i, "prompt": f"q{i}", "answer": f"{word} {i}", "model": name})
                                  for i in range(2)))
        files.append(str(path))
    with FakeJudgeServer(prefers_good) as server:
        args = build_parser().parse_args(["judge", "--answers", *files, "--base-url", server.url, "--judge-model",
                                          "fake-judge", "--out-dir", str(tmp_path / "out"), "--quiet"])
        out = judge_main(args, "python -m evaluation judge " + " ".join(files))
    assert {r["auth"] for r in server.requests} == {f"Bearer {SECRET}"}
    written = (out / "report.md").read_text() + (out / "results.json").read_text() + capsys.readouterr().out
    assert SECRET not in written
    assert json.loads((out / "results.json").read_text())["summary"]["wins"] == {"tuned": 4, "base": 0}
    assert "Position-bias rate" in (out / "report.md").read_text()


def test_an_http_error_is_reported_without_the_key(monkeypatch):
    monkeypatch.setenv("JUDGE_API_KEY", SECRET)
    with FakeJudgeServer(always_first, status=401) as server:
        with pytest.raises(JudgeError) as error:
            _client(server.url).complete([{"role": "user", "content": "hi"}])
    assert "HTTP 401" in str(error.value) and SECRET not in str(error.value)


def test_answer_files_pair_by_id_and_skip_unmatched_prompts():
    pairs = pair_answer_files([{"id": 1, "prompt": "a", "answer": "x1"}, {"id": 2, "prompt": "b", "answer": "x2"}],
                              [{"id": 2, "prompt": "b", "answer": "y2"}])
    assert [(p.id, p.answers) for p in pairs] == [("2", ("x2", "y2"))]


def test_models_answer_prose_targets_of_a_generated_split_including_answers_from_tool_results(tmp_path):
    rows = [
        {"id": "call", "split": "test", "messages": [{"role": "user", "content": "Weather in Oslo?"},
                                                     {"role": "assistant", "content": '[get_weather(city="Oslo")]'}]},
        {"id": "answer", "split": "test", "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": '[get_weather(city="Oslo")]'},
            {"role": "ipython", "content": '{"temperature_c": 12}'},
            {"role": "assistant", "content": "It is 12 °C."}]},
        {"id": "chat", "split": "test", "messages": [{"role": "user", "content": "Hi!"},
                                                     {"role": "assistant", "content": "Hello!"}]},
    ]
    path = tmp_path / "split.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    prompts = prompts_for_models(path)
    assert [pid for pid, _ in prompts] == ["answer", "chat"]
    assert [m.role for m in prompts[0][1]] == ["user", "assistant", "ipython"]


def test_the_judge_command_can_have_two_models_answer_the_prompts_first(tmp_path):
    from fakes.models import ScriptedLLM

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"id": i, "prompt": f"Tell me fact {i}."}) for i in range(2)))
    answers = {"tuned": ["A good fact.", "Another good fact."], "base": ["Meh.", "Meh again."]}
    with FakeJudgeServer(prefers_good) as server:
        args = build_parser().parse_args(["judge", "--models", "tuned", "base", "--prompts", str(prompts),
                                          "--base-url", server.url, "--out-dir", str(tmp_path / "out"), "--quiet"])
        out = judge_main(args, load_model=lambda name: ScriptedLLM(answers[name], name))
    assert len(server.requests) == 4
    written = [json.loads(line) for line in (out / "answers_tuned.jsonl").read_text().splitlines()]
    assert [w["answer"] for w in written] == answers["tuned"] and written[0]["prompt"] == "User: Tell me fact 0."
    assert json.loads((out / "results.json").read_text())["summary"]["consensus"]["tuned"] == 2
