"""A llama.cpp model in its own process, so a crash of llama.cpp is an error message instead of a dead app.

llama.cpp is native code: a segmentation fault in it (the AMX crash of agent/backends/llama_loader.py, a bad file
that passed the checks, an out-of-memory kill) ends whatever process it runs in. The app runs each model in a worker
process (`ModelWorker`, the same `LLM` interface as `LlamaCppLLM`); when the worker dies, the turn in flight ends with
a `BackendError` that names the cause ("segmentation fault"), the app logs it, and the next question loads the model
again. The CLI and evaluation keep the model in-process, where a crash is visible anyway (exit code and traceback).

Two pipes: one carries streams (one at a time, as llama.cpp answers one call at a time per model), the other token
counts, answered by a second thread while a stream runs (the agent trims history while another user's reply streams).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from agent.backends.base import BackendError, GenerationParams, Usage
from agent.backends.turns import TurnGate
from agent.messages import Message

log = logging.getLogger(__name__)


def _serve(streams, queries, load_kwargs: dict[str, Any]) -> None:  # runs in the worker process
    import faulthandler

    faulthandler.enable()  # a native crash prints the Python stack to stderr, i.e. into the app's log
    from agent.backends.llamacpp import LlamaCppLLM

    try:
        llm = LlamaCppLLM(**load_kwargs)
    except Exception as exc:  # noqa: BLE001 - every load failure goes back to the parent as a message
        streams.send(("error", f"{type(exc).__name__}: {exc}" if not isinstance(exc, BackendError) else str(exc)))
        return
    streams.send(("ready", {"context_length": llm.context_length, "name": llm.name}))

    def answer_queries():
        while True:
            try:
                kind, payload = queries.recv()
            except EOFError:
                return
            try:
                queries.send(("ok", llm.count_tokens(payload) if kind == "count" else None))
            except Exception as exc:  # noqa: BLE001
                queries.send(("error", str(exc)))

    threading.Thread(target=answer_queries, daemon=True).start()
    while True:
        try:
            request = streams.recv()
        except EOFError:
            return
        kind, *args = request
        if kind == "stream":
            _stream_one(llm, streams, *args)
        elif kind == "clear_cache":
            llm.clear_cache()
            streams.send(("done", None))
        elif kind == "prewarm":
            streams.send(("done", llm.prewarm(args[0])))


def _stream_one(llm, conn, messages, params) -> None:
    replies = llm.stream(messages, params)
    try:
        for chunk in replies:
            if isinstance(chunk, Usage):
                conn.send(("usage", chunk))
            else:
                conn.send(("text", chunk))
            if conn.poll() and conn.recv()[0] == "cancel":  # the reader stopped listening (Stop, New chat)
                break
    except BackendError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - the worker must survive a failed call
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        replies.close()
    conn.send(("done", None))


def describe_exit(exitcode: int | None) -> str:
    """`-11` -> "segmentation fault (signal SIGSEGV)"; a plain exit code as such."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        what = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed (out of memory?)", "SIGBUS": "bus error",
                "SIGABRT": "aborted", "SIGILL": "illegal instruction"}.get(name, "killed")
        return f"{what} ({name})"
    return f"exited with code {exitcode}"


class ModelWorker:
    """`LlamaCppLLM(**load_kwargs)` running in a child process, behind the `LLM` interface."""

    reports_grammar_overrides = True  # as LlamaCppLLM: its Usage (grammar overrides too) comes back whole

    def __init__(self, name: str, load_timeout_s: float = 600.0, **load_kwargs: Any):
        self.name = name
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._streams, child_streams = context.Pipe()
        self._queries, child_queries = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_streams, child_queries, {"name": name,
                                         **load_kwargs}), name=f"model-{name}", daemon=True)
        self._process.start()
        child_streams.close()
        child_queries.close()
        self._stream_lock, self._query_lock = threading.Lock(), threading.Lock()
        self.turn_gate = TurnGate()  # whole agent turns one at a time, as for an in-process model
        self._dead: str | None = None
        if not self._streams.poll(load_timeout_s):
            self.close()
            raise BackendError(f"{name}: the model process did not load within {load_timeout_s:.0f} s")
        kind, payload = self._receive(self._streams)
        if kind == "error":
            self.close()
            raise BackendError(payload)
        self._context_length = payload["context_length"]

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._dead is None and self._process.is_alive()

    @property
    def context_length(self) -> int:
        return self._context_length

    def _receive(self, conn):
        try:
            return conn.recv()
        except (EOFError, OSError):
            self._process.join(timeout=5)
            cause = describe_exit(self._process.exitcode)
            if self._dead is None:
                self._dead = cause
                log.error("the model process of %s (pid %s) died: %s", self.name, self._process.pid, cause)
            raise BackendError(f"the model process of {self.name} crashed: {cause}. The model is loaded again for "
                               "the next question.") from None

    def _ensure_alive(self) -> None:
        if not self.alive:
            self._receive_dead()

    def _receive_dead(self):
        cause = self._dead or describe_exit(self._process.exitcode)
        raise BackendError(f"the model process of {self.name} is not running ({cause}). The model is loaded again "
                           "for the next question.")

    def count_tokens(self, messages: Sequence[Message]) -> int:
        self._ensure_alive()
        with self._query_lock:
            try:
                self._queries.send(("count", list(messages)))
            except (BrokenPipeError, OSError):
                self._receive_dead()
            kind, payload = self._receive(self._queries)
        if kind == "error":
            raise BackendError(payload)
        return payload

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[str | Usage]:
        self._ensure_alive()
        with self._stream_lock:
            try:
                self._streams.send(("stream", list(messages), params))
            except (BrokenPipeError, OSError):
                self._receive_dead()
            finished = False
            try:
                while True:
                    kind, payload = self._receive(self._streams)
                    if kind == "done":
                        finished = True
                        return
                    if kind == "error":
                        self._drain()
                        finished = True
                        raise BackendError(payload)
                    yield payload
            finally:
                if not finished and self.alive:  # the reader left early: stop the generation, keep the pipe in step
                    self._streams.send(("cancel", None))
                    self._drain()

    def _drain(self) -> None:
        while True:
            kind, _ = self._receive(self._streams)
            if kind == "done":
                return

    def _call(self, kind: str, *args):
        self._ensure_alive()
        with self._stream_lock:
            self._streams.send((kind, *args))
            return self._receive(self._streams)[1]

    def clear_cache(self) -> None:
        self._call("clear_cache")

    def prewarm(self, prompts) -> tuple[int, float]:
        return self._call("prewarm", [list(p) for p in prompts])

    def close(self) -> None:
        for conn in (self._streams, self._queries):
            conn.close()
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)

    def __del__(self):
        try:
            if self._process.is_alive():
                self._process.terminate()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

