"""Connecting to the source and target: transient failures are retried with backoff before a run fails."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl
import psycopg
from psycopg import sql
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from .config import TargetConfig
from .errors import EtlError, TargetError
from .urls import redact_url

log = logging.getLogger("smart360_etl")
BACKOFF_S = 1.0  # first wait; doubles with each attempt
# Failures that waiting will not fix: retrying them only delays the message.
_PERMANENT = ("authentication failed", "does not exist", "no pg_hba.conf entry", "role", "invalid")


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and not any(w in str(exc) for w in _PERMANENT)


def connect(url: str, retries: int, what: str, key: str, error: type[EtlError], **kwargs) -> psycopg.Connection:
    """psycopg.connect, retried `retries` times on a transient error (server starting, refused, timed out).

    Still failing, it raises `error` naming the database (`what`, its job-file `key`), what happened and
    what to check.
    """
    attempt = retry(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential(multiplier=BACKOFF_S, max=30),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "cannot connect to %s %s (attempt %d of %d): %s; retrying",
            what,
            redact_url(url),
            state.attempt_number,
            retries + 1,
            str(state.outcome.exception() if state.outcome else "").strip(),
        ),
    )
    connecting = attempt(psycopg.connect)
    try:
        return connecting(url, connect_timeout=kwargs.pop("connect_timeout", 10), **kwargs)
    except psycopg.OperationalError as exc:
        tries = connecting.statistics.get("attempt_number", 1)  # a permanent failure is not retried
        raise error(
            f"cannot connect to {what} {redact_url(url)} (tried {tries} time{'s' if tries > 1 else ''}): "
            f"{' '.join(str(exc).split())}; "
            f"check `{key}`, that the server runs and accepts connections, and the credentials"
        ) from None


# The load turns hash and merge joins off for its per-batch probes (load/consumers.py); work over whole
# tables afterwards (checks, totals, rebuilt keys, incremental bookkeeping) needs them back, and memory.
WHOLE_TABLE_SETTINGS = (
    "enable_hashjoin = on",
    "enable_mergejoin = on",
    "work_mem = '256MB'",
    "maintenance_work_mem = '256MB'",  # an index build sorts in memory
    "jit TO DEFAULT",  # back on where the server has it on: a scan of a whole table gains from it
)


def for_whole_tables(conn: psycopg.Connection) -> None:
    """Planner settings for joins and aggregates over whole tables, for the rest of the transaction."""
    for setting in WHOLE_TABLE_SETTINGS:
        conn.execute(f"SET LOCAL {setting}")


@contextmanager
def target_connection(target: TargetConfig) -> Iterator[psycopg.Connection]:
    """A connection to the SMART360 target (retried as `target.connect_retries` says), closed on exit."""
    conn = connect(target.url, target.connect_retries, "the SMART360 target", "target.url", TargetError)
    with conn:
        yield conn


def one_row(cursor: psycopg.Cursor) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate, EXISTS, a row known to be there)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("a query that always returns a row returned none")
    return row


def nul_joined(text: sql.Composable) -> sql.Composed:
    """An aggregate of a text expression's non-null values into one bytea, a NUL between values (a text never
    holds a NUL). Read with `nul_chunks`: many values in one piece cost far less than a row each by COPY,
    which takes a Python step per row. Two of them over one scan see the rows in one order."""
    return sql.SQL("string_agg(convert_to({}, 'UTF8'), '\\x00'::bytea)").format(text)


def nul_chunks(blob: bytes | None, name: str, size: int = 50_000) -> Iterator[pl.Series]:
    """The values `nul_joined` aggregated (fetch it with `binary=True`: raw bytes, not hex), as text series of
    `size` values each: a million ids at once would take ten times their size while being split."""
    if blob is None:  # no values (b"" is one empty value)
        return
    ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 0)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(blob)]])
    for first in range(0, len(starts), size):
        last = min(first + size, len(starts)) - 1
        piece = blob[int(starts[first]) : int(stops[last])].decode()
        yield pl.Series(name, [piece]).str.split("\x00").explode()
