"""What every command shares: the consoles, the job-file option, errors turned into messages and exit codes,
the progress bar, and the command group that reads `-v` after a command's name too."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..config import JobConfig, load_job
from ..errors import EtlError, Terminated, set_job_file
from ..ops import logs
from ..urls import redact

# No text is ever read as markup: data and configuration may hold "[...]" (styles come as rich Text).
console = Console(stderr=False, markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)
log = logging.getLogger("smart360_etl")

EXIT_CODES = """\b
Exit codes:
  0  ok
  1  error: nothing was written (the run is rolled back)
  2  loaded, but a check with severity `fail` failed: see the report
  130, 143  interrupted (Ctrl-C) or terminated (SIGTERM): rolled back, recorded `failed`, reported
"""

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="job file (YAML), e.g. job.yaml",
)


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="print the result as JSON (for scripts and CI)")


def print_json(value: object) -> None:
    """JSON on stdout, alone: the log goes to stderr, so a script can parse stdout as it is."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _terminate(signum, frame) -> None:
    raise Terminated()


@contextmanager
def errors_to_exit_codes():
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except EtlError as exc:
        err_console.print(Text.assemble(("error: ", "red"), redact(str(exc))), soft_wrap=True)
        sys.exit(1)
    except psycopg.Error as exc:
        err_console.print(Text.assemble(("database error: ", "red"), redact(str(exc)).strip()), soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted: the run was rolled back, nothing was written")
        sys.exit(130)
    except Terminated:
        err_console.print("terminated (SIGTERM): the run was rolled back, nothing was written")
        sys.exit(143)
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def progress(label: str):
    """A progress bar on a terminal; elsewhere the pipeline's log lines say how far it got."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda stage, done, total: bar.update(task, description=stage, completed=done, total=total)


def job_from(config_path: Path, alerts: bool = False) -> JobConfig:
    """The job file; with `alerts`, its `alerts:` section must resolve too (only runs send alerts)."""
    set_job_file(str(config_path))
    job = load_job(config_path, unused=() if alerts else ("alerts",))
    logs.setup_job(job)
    return job


class Commands(click.Group):
    """`-v` and `-q` are read before or after the command's name (`smart360-etl run -c job.yaml -v`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        head = args[: args.index("--")] if "--" in args else args
        verbose = [a for a in head if re.fullmatch(r"-v+|--verbose|-q|--quiet", a)]
        rest = [a for i, a in enumerate(args) if not (a in verbose and i < len(head))]
        return super().parse_args(ctx, verbose + rest)
