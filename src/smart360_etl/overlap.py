"""Run the stages side by side: the source is read ahead in one thread while the main thread maps,
and staging COPYs run in another; at most one batch waits at each hand-over, so memory stays bounded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterable[T]) -> Iterator[T]:
    """Iterate `items` in a background thread, one item ahead; its errors are raised here."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            handoff.put(exc)

    worker = threading.Thread(target=produce, name="smart360-etl-read", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to hand over
            try:
                handoff.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


class Behind:
    """Runs one call at a time in a background thread; each submit first waits for the previous call."""

    def __init__(self, call: Callable[[T], object]) -> None:
        self.call = call
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart360-etl-write")
        self.pending: Future | None = None

    def submit(self, item: T) -> None:
        self.wait()
        self.pending = self.pool.submit(self.call, item)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)
