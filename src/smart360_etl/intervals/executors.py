"""What runs the units: a local process pool (the default: nothing to install) or a Dask cluster. Both
try a failed unit again (`executor.retries`) and report, per unit, None (done) or the last error.

On Dask, a distributed Semaphore caps how many units write to the database at once (`executor.writers`):
one PostgreSQL is the limit, not the number of workers. A worker that dies mid-unit loses only that
unit's open transaction; the scheduler runs the unit again on another worker."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..config import JobConfig
from .unit import one_line, run_unit

log = logging.getLogger("smart360_etl")
OnUnit = Callable[[str, str | None], None]  # (unit key, error or None when done)
RETRY_WAIT_S = 1.0


def execute(job: JobConfig, run_id: str, keys: list[str], kind: str, scheduler: str | None,
            on_unit: OnUnit | None = None) -> dict[str, str | None]:
    if kind == "dask":
        return _on_dask(job, run_id, keys, scheduler, on_unit)
    return _on_pool(job, run_id, keys, on_unit)


def _on_pool(job: JobConfig, run_id: str, keys: list[str], on_unit: OnUnit | None) -> dict[str, str | None]:
    settings = job.intervals_section.executor
    outcome: dict[str, str | None] = {}
    tries = dict.fromkeys(keys, 0)
    todo = list(keys)
    while todo:
        with ProcessPoolExecutor(settings.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            running: dict[Future, str] = {pool.submit(run_unit, job, run_id, key): key for key in todo}
            todo = []
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = running.pop(future)
                    tries[key] += 1
                    error = _error(future)
                    if error is not None and tries[key] <= settings.retries:
                        log.warning("unit %s failed (attempt %d): %s; trying again", key, tries[key], error)
                        time.sleep(RETRY_WAIT_S * tries[key])
                        if isinstance(future.exception(), BrokenProcessPool):
                            todo.append(key)  # the pool is gone: the next one runs it
                        else:
                            running[pool.submit(run_unit, job, run_id, key)] = key
                        continue
                    outcome[key] = error
                    if on_unit:
                        on_unit(key, error)
    return outcome


def _error(future: Future) -> str | None:
    exc = future.exception()
    return None if exc is None else one_line(exc)


def _dask_unit(job: JobConfig, run_id: str, key: str, semaphore: object) -> dict:
    return run_unit(job, run_id, key, writer_slot=lambda: semaphore)  # type: ignore[arg-type, return-value]


def _on_dask(job: JobConfig, run_id: str, keys: list[str], scheduler: str | None,
             on_unit: OnUnit | None) -> dict[str, str | None]:
    from distributed import Client, LocalCluster, Semaphore, as_completed

    settings = job.intervals_section.executor
    address = scheduler or settings.scheduler
    cluster = None if address else LocalCluster(n_workers=settings.workers, threads_per_worker=1,
                                                processes=True, dashboard_address=None)
    try:
        with Client(address or cluster) as client:
            semaphore = Semaphore(max_leases=settings.writers, name=f"smart360-etl-writers-{run_id}")
            futures = {client.submit(_dask_unit, job, run_id, key, semaphore, key=f"smart360-unit-{run_id}-{key}",
                                     retries=settings.retries, pure=False): key for key in keys}
            outcome: dict[str, str | None] = {}
            for future in as_completed(futures):
                key = futures[future]
                exc = future.exception() if future.status == "error" else None
                outcome[key] = None if exc is None else one_line(exc)
                if on_unit:
                    on_unit(key, outcome[key])
            return outcome
    finally:
        if cluster is not None:
            cluster.close()
