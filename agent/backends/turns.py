"""Whole turns, one at a time and first come first served, on one model: simultaneous users never slow each other.

Measured with `python -m bench` before this existed (docs/performance.md): 4 simultaneous users took about twice the
wall time of the same 8 turns one after another. One model answers one LLM call at a time anyway; what interleaving
calls of different turns added was (1) KV-cache swaps and re-prefills between a turn's decision call and its answer
call, and (2) other users' threads working on the CPU (streaming, tool results, tokenizing) while llama.cpp's threads
decode: on 2 cores, llama.cpp's spinning worker threads slow down by far more than the work that displaces them.

`TurnGate` hands a model to one turn at a time, in arrival order. The turn keeps it through its tool calls, so its
answer call reuses its own KV cache. A turn that is abandoned without being closed (a browser gone mid-answer whose
generator is never finalised) cannot hold the model forever: its lease lapses `lease_s` after its last activity.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class TurnGate:
    """A FIFO lock with a lease, held for a whole agent turn (`with gate.turn(): ...`)."""

    def __init__(self, lease_s: float = 60.0):
        self.lease_s = lease_s
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._owner: int | None = None
        self._last_seen = 0.0
        self._waiting: list[int] = []

    def _expired(self) -> bool:
        return self._owner is not None and time.monotonic() - self._last_seen > self.lease_s

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            while not (self._owner is None and self._waiting[0] == ticket):
                if self._expired():  # the holder went quiet: let the queue move on
                    self._owner = None
                    self._cond.notify_all()
                    continue
                self._cond.wait(timeout=min(1.0, self.lease_s))
            self._waiting.pop(0)
            self._owner, self._last_seen = ticket, time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                if self._owner == ticket:
                    self._owner = None
                self._cond.notify_all()

    def touch(self) -> None:
        """The holder is still working (called at each LLM call of its turn): renew the lease."""
        with self._cond:
            self._last_seen = time.monotonic()

    @property
    def queued(self) -> int:
        """Turns waiting for the model (for a "waiting for the model" status in the UI)."""
        with self._cond:
            return len(self._waiting)
