"""The background writer: staging COPYs run in a background thread while the main thread maps the next
batch; at most one batch waits at the hand-over, so memory stays bounded. (Reading ahead as well was
slower and bigger on two cores, so the source is read in the main thread.)"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class BackgroundWriter(Generic[T]):
    """Runs one call at a time in a background thread; each submit first waits for the previous call."""

    def __init__(self, call: Callable[[T], object]) -> None:
        self.call = call
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart360-etl-write")
        self.pending: Future[object] | None = None

    def submit(self, item: T) -> None:
        self.wait()
        self.pending = self.pool.submit(self.call, item)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def __enter__(self) -> BackgroundWriter[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)
