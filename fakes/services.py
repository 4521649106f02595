"""A real local HTTP server that answers like Open-Meteo and the Wikipedia API, for offline tests, the benchmark and
demos. It needs no pytest (the tests' `tool_server` / `tool_env` fixtures live in tests/conftest.py).

It serves, on 127.0.0.1:
  /v1/search    Open-Meteo geocoding JSON for a few fixed places (Oslo, Paris, Tokyo, ...: `fakes.openmeteo`),
  /v1/forecast  the forecast as FlatBuffers bytes laid out by the openmeteo_sdk schema (size-prefixed
                WeatherApiResponse with `current` and `daily` sections: what api.open-meteo.com sends),
  /w/api.php    MediaWiki action-API JSON for what the `wikipedia` package asks (search, page info,
                disambiguation page HTML, intro extracts: `fakes.wikipedia`),
and can be told to misbehave per path: delay, any HTTP status (429 with Retry-After), garbage bytes, a truncated or
corrupt body, a body cut mid-transfer or trickled out, a wrong content type, or a closed connection.

In-process: `with ToolServer() as server: server.env()`. Standalone, for the app's browser test or a benchmark:
    python -m fakes.services --port 8765        # prints the `export ...` lines, serves until Ctrl-C
Faults from another process: POST /_control/fault {"path": "/v1/forecast", "mode": "delay", "seconds": 3};
POST /_control/reset; GET /_control/hits.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.openmeteo import forecast_answer, geocoding_answer
from fakes.wikipedia import wiki_answer

FORECAST_PATH = "/v1/forecast"
GEOCODING_PATH = "/v1/search"
WIKI_PATH = "/w/api.php"

# --------------------------------------------------------------------------------------------------- the server

FAULT_MODES = ("delay", "status", "garbage", "truncate", "corrupt", "cut", "trickle", "content_type", "close")


@dataclass
class Fault:
    """Misbehaviour for requests to one path. `times`: how many requests it hits (None: until cleared).

    `when`: only requests whose query has these values (e.g. {"prop": "extracts"}).
    delay: wait `seconds`, then answer normally. status: answer `status` (429 adds Retry-After: `retry_after`) with
    `body`. garbage: 200 with bytes that are no FlatBuffers or JSON. truncate: 200 with the first half of the real
    body (Content-Length says half). corrupt: 200, the first half of a FlatBuffers body behind a size prefix that
    matches it (framing fine, tables pointing past the end). trickle: the real body, 16 bytes every `seconds`.
    cut: Content-Length of the whole body, half of it sent, then the connection
    closes. content_type: 200, an HTML page. close: the connection closes before any answer.
    """

    mode: str
    times: int | None = None
    seconds: float = 0.0
    status: int = 500
    retry_after: int | None = 30
    body: Any = None  # for "status": JSON-able, or bytes sent as they are
    content_type: str = "application/json; charset=utf-8"  # for "status"
    when: dict[str, str] = field(default_factory=dict)


class ToolServer:
    """The server, run on a background thread. Use as a context manager, or `start()` / `stop()`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self._faults: dict[str, list[Fault]] = {}
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set on stop/reset, so delayed answers stop waiting
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (path, query, headers)
        self._httpd = _QuietHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the tools here."""
        return {"OPEN_METEO_FORECAST_URL": self.url + FORECAST_PATH,
                "OPEN_METEO_GEOCODING_URL": self.url + GEOCODING_PATH,
                "WIKIPEDIA_API_URL": self.url + WIKI_PATH}

    def start(self) -> ToolServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="tool-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ToolServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def fault(self, path: str, mode: str, **options: Any) -> None:
        """Make requests to `path` misbehave (see `Fault`); several faults on one path apply in order."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(FAULT_MODES)}")
        with self._lock:
            self._faults.setdefault(path, []).append(Fault(mode, **options))

    def reset(self) -> None:
        """No faults, zero counters, empty request log; delayed answers in flight stop waiting."""
        self._wake.set()
        with self._lock:
            self._faults.clear()
            self._hits.clear()
            self.requests.clear()
        self._wake = threading.Event()

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def _take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            self._hits[path] = self._hits.get(path, 0) + 1
            for fault in self._faults.get(path, []):
                if any(query.get(k) != v for k, v in fault.when.items()):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout passed) leaves a broken pipe behind: expected here, not worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: ToolServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: simple, and "close" faults stay local

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            # Repeated keys (current=a&current=b, as niquests sends lists) mean the same as current=a,b.
            query = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if parts.path == "/_control/hits":
                return self._send(200, "application/json", json.dumps(dict(server._hits)).encode())
            with server._lock:
                server.requests.append((parts.path, query, dict(self.headers)))
            fault = server._take_fault(parts.path, query)
            if fault is not None and fault.mode == "delay":
                server._wake.wait(fault.seconds)
                fault = None
            status, content_type, body = self._answer(parts.path, query)
            if fault is None:
                return self._send(status, content_type, body)
            if fault.mode == "close":
                self.close_connection = True
                return None
            if fault.mode == "status":
                payload = fault.body if fault.body is not None else {
                    "error": True, "reason": f"Simulated HTTP {fault.status}"}
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                extra = {"Retry-After": str(fault.retry_after)} if fault.status == 429 and fault.retry_after else {}
                return self._send(fault.status, fault.content_type, data, extra)
            if fault.mode == "garbage":
                return self._send(200, content_type, bytes(range(7, 250, 3)) * 4)
            if fault.mode == "truncate":
                return self._send(200, content_type, body[: len(body) // 2])
            if fault.mode == "corrupt":
                half = body[4: 4 + (len(body) - 4) // 2]
                return self._send(200, content_type, len(half).to_bytes(4, "little") + half)
            if fault.mode == "content_type":
                return self._send(200, "text/html; charset=utf-8",
                                  b"<html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>")
            if fault.mode == "trickle":
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 16):
                    self.wfile.write(body[start:start + 16])
                    self.wfile.flush()
                    if server._wake.wait(fault.seconds):
                        break
                return None
            if fault.mode == "cut":
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            return self._send(500, "text/plain", b"unknown fault")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/_control/reset":
                server.reset()
            elif self.path == "/_control/fault":
                try:
                    server.fault(payload.pop("path"), payload.pop("mode"), **payload)
                except (KeyError, TypeError, ValueError) as exc:
                    return self._send(400, "application/json", json.dumps({"error": str(exc)}).encode())
            else:
                return self._send(404, "application/json", b'{"error": "not found"}')
            self._send(200, "application/json", b'{"ok": true}')

        def _answer(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
            if path == GEOCODING_PATH:
                return geocoding_answer(query)
            if path == FORECAST_PATH:
                return forecast_answer(query)
            if path == WIKI_PATH:
                return 200, "application/json; charset=utf-8", json.dumps(wiki_answer(query)).encode()
            return 404, "application/json", b'{"error": true, "reason": "Not Found"}'

        def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Open-Meteo and Wikipedia look-alike answers on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    args = parser.parse_args(argv)
    server = ToolServer(port=args.port).start()
    for key, value in server.env().items():
        print(f"export {key}={value}")
    print(f"# tool server on {server.url}: Ctrl-C to stop", file=sys.stderr)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
