"""TurnGate: whole turns on one model, first come first served; an abandoned turn cannot hold the model forever."""

from __future__ import annotations

import threading
import time

from agent.backends.turns import TurnGate


def test_turns_run_whole_and_in_arrival_order():
    gate, log, started = TurnGate(), [], []

    def user(name: str, delay: float):
        time.sleep(delay)
        started.append(name)
        with gate.turn():
            log.append(f"{name}:decide")
            time.sleep(0.05)  # the tool call: nobody else may take the model meanwhile
            log.append(f"{name}:answer")

    threads = [threading.Thread(target=user, args=(n, i * 0.01)) for i, n in enumerate("abcd")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log == [f"{n}:{step}" for n in started for step in ("decide", "answer")]
    assert gate.queued == 0


def test_an_abandoned_turn_loses_the_model_when_its_lease_lapses():
    gate = TurnGate(lease_s=0.2)
    abandoned = gate.turn()
    abandoned.__enter__()  # a generator that was never closed
    start = time.monotonic()
    with gate.turn():
        waited = time.monotonic() - start
    assert 0.15 <= waited < 2.0


def test_a_turn_that_keeps_working_keeps_its_lease():
    gate, order = TurnGate(lease_s=0.2), []

    def long_turn():
        with gate.turn():
            for _ in range(5):
                time.sleep(0.1)
                gate.touch()
            order.append("long")

    first = threading.Thread(target=long_turn)
    first.start()
    time.sleep(0.05)
    with gate.turn():
        order.append("second")
    first.join()
    assert order == ["long", "second"]
