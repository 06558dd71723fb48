"""Logging: readable lines on the console, structured JSON lines in a rotating file.

Every line carries the run id (set once per run, see `run_context`) and, where the pipeline gives it,
the stage and counts. Secrets (URL passwords, the SMTP password) never reach a handler, and e-mail
addresses and phone numbers are masked unless the job turns that off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from logging.handlers import RotatingFileHandler
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler

from ..config import JobConfig, LoggingConfig
from ..report.masking import mask_email, mask_phone
from ..urls import redact

log = logging.getLogger("smart360_etl")
_run_id: ContextVar[str | None] = ContextVar("run_id", default=None)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 10 to 15 digits, separators allowed, standing alone: phone numbers, not counts, dates, times or run ids.
_PHONE = re.compile(r"(?<![\w:.+-])\+?\d(?:[ ().-]*\d){9,14}(?![\w:-])")


@contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Lines logged inside carry `run_id`."""
    token = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(token)


def mask_personal_data(text: str) -> str:
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    return _PHONE.sub(lambda m: mask_phone(re.sub(r"[^\d+]", "", m.group())), text)


class _Scrub(logging.Filter):
    """Formats the message once, then hides secrets and (optionally) personal data in it."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.mask = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = mask_personal_data(message) if self.mask else message, ()
        record.run_id = getattr(record, "run_id", None) or _run_id.get()
        return True


_scrub = _Scrub()
_file_handler: logging.Handler | None = None


def setup_console(verbose: int) -> None:
    """Console lines: INFO when not on a terminal (a scheduler's log), WARNING on one unless -v;
    `verbose` -1 (-q): WARNING everywhere."""
    on_terminal = sys.stderr.isatty()
    if verbose < 0:
        level = logging.WARNING
    else:
        level = logging.DEBUG if verbose > 1 else logging.INFO if verbose or not on_terminal else logging.WARNING
    handler: logging.Handler
    if on_terminal:
        handler = RichHandler(console=Console(stderr=True), show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    handler.addFilter(lambda record: getattr(record, "console", True))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    if _scrub not in log.filters:
        log.addFilter(_scrub)


def setup_job(job: JobConfig) -> None:
    """The job's log file (if any) and what must never be logged."""
    global _file_handler
    os.umask(job.umask())  # before any file of the job is made: they hold personal data
    settings = job.logging
    _scrub.mask = settings.mask_personal_data
    _scrub.secrets = {s for s in _job_secrets(job) if s and len(s) >= 4}
    close_file()
    if settings.file is not None:
        _file_handler = _rotating_file(settings, settings.file)
        log.addHandler(_file_handler)
        log.setLevel(min(log.level or logging.WARNING, _file_handler.level))


def close_file() -> None:
    """Detach and close the job's log file (tests; a scheduler switching jobs)."""
    global _file_handler
    if _file_handler is not None:
        log.removeHandler(_file_handler)
        _file_handler.close()
        _file_handler = None


def _job_secrets(job: JobConfig) -> list[str]:
    email = job.alerts.email if job.alerts else None
    return [email.password] if email and email.password else []


def _rotating_file(settings: LoggingConfig, path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(
        path, maxBytes=settings.max_bytes, backupCount=settings.backups, encoding="utf-8"
    )
    handler.setLevel(settings.level)
    if settings.format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(run_id)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(run_id)s] %(message)s"))
    return handler
