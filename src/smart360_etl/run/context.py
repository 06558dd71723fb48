"""What the stages of one run share (RunContext), and the seams where a test steps into a run (RunHooks)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from ..checks import Check
from ..config import JobConfig
from ..mapping.fields import FieldRule
from ..regions import Region
from ..result import RunResult
from ..review.resubmit import Resubmission

OnProgress = Callable[[str, int, int | None], None]  # what is being done, how far, out of (when known)
# The points a run passes, in order, where RunHooks.at is called: entering extraction, the id pass (after an
# incremental window is opened), the main pass, then the stages after it.
STAGE_EVENTS = ("extract", "id_pass", "load", "sync", "reconcile", "resubmit", "check", "export")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _nothing(stage: str) -> None:
    return None


def _unchanged(table: sql.Identifier, frame: pl.DataFrame) -> pl.DataFrame:
    return frame


@dataclass(frozen=True)
class RunHooks:
    """Seams for fault injection, in the run's own thread. `at(event)` is called as the run reaches each
    of STAGE_EVENTS; what it raises fails the run there as a real fault would (rolled back, recorded).
    `before_copy(table, frame)` returns the frame the consumer loader COPYs into `table`."""

    at: Callable[[str], None] = _nothing
    before_copy: Callable[[sql.Identifier, pl.DataFrame], pl.DataFrame] = _unchanged


NO_HOOKS = RunHooks()


@dataclass
class RunContext:
    """What the stages of one run share, inside its transaction (the job's run lock held)."""

    conn: psycopg.Connection
    job: JobConfig
    region: Region  # the job's, validated once
    source: Any  # an open source (sources/)
    rules: list[FieldRule]
    checks: list[Check]
    result: RunResult
    started: datetime
    on_progress: OnProgress | None = None
    full_refresh: bool = False
    before_rollback: Callable[[psycopg.Connection], None] | None = None
    hooks: RunHooks = field(default=NO_HOOKS)
    resubmit: Resubmission | None = None  # a fixed rejects file loaded instead of the source
