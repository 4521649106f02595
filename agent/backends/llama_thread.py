"""Every llama.cpp computation of the process on one thread: the one that loaded the models.

Measured on this 2-core AVX2 machine (`python -m bench`, SmolLM2-135M): decoding from any thread other than the one
whose OpenMP team came first ran at about half speed (114-126 tokens/s on the loading thread, 50-57 on a second
thread, 124-128 when the second thread was the only one ever to use llama.cpp). This build of llama.cpp uses OpenMP,
whose thread teams belong to the thread that starts them: once two Python threads have driven llama.cpp, their teams
compete for the two cores. Simultaneous users of the app, the benchmark's users and the Compare tab are Python
threads, so each call would pay it. Here, loading and every decode run on one long-lived thread; other threads get
the results through a queue (tokenizing stays on the caller's thread: it starts no OpenMP work).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama.cpp")
_END = object()


def _on_llama_thread() -> bool:
    return threading.current_thread().name.startswith("llama.cpp")


def run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` on the llama.cpp thread; its result or its exception here."""
    if _on_llama_thread():
        return function(*args, **kwargs)
    return _executor.submit(function, *args, **kwargs).result()


def stream(make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of the iterator `make()` builds and runs on the llama.cpp thread, as they come.

    Closing this generator early (Stop, a client gone) stops the producer after its current item, so the model is free
    for the next call, which waits in line on the same thread.
    """
    if _on_llama_thread():
        yield from make()
        return
    items: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def produce() -> None:
        try:
            iterator = make()
            try:
                for item in iterator:
                    items.put(item)
                    if stop.is_set():
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            items.put(exc)
        items.put(_END)

    _executor.submit(produce)
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
