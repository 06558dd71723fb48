"""Running a job on its cron schedule in the foreground, and the same schedule for cron and systemd.

The loop never starts a run while one is going (the per-job run lock refuses it), stops cleanly on
SIGTERM or Ctrl-C (a run in progress is rolled back and recorded as failed), and, when the job asks,
makes up once at start for a run missed while it was down. The clock and the sleep are injectable so
that tests need not wait for real minute boundaries.
"""

from __future__ import annotations

import logging
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

from ..config import JobConfig, ScheduleConfig
from ..errors import ConfigError, EtlError, RunLocked

log = logging.getLogger("smart360_etl")


def require_schedule(job: JobConfig) -> ScheduleConfig:
    if job.schedule is None:
        raise ConfigError('the job has no `schedule:` section; add e.g. `schedule: {cron: "0 8 * * *"}`')
    return job.schedule


def next_run(schedule: ScheduleConfig, after: datetime) -> datetime:
    """The first scheduled time after `after`, in the schedule's time zone (DST handled by croniter)."""
    return croniter(schedule.cron, after.astimezone(ZoneInfo(schedule.timezone))).get_next(datetime)


def previous_run(schedule: ScheduleConfig, before: datetime) -> datetime:
    return croniter(schedule.cron, before.astimezone(ZoneInfo(schedule.timezone))).get_prev(datetime)


class Stop(BaseException):
    """SIGTERM: leave the loop. A BaseException, like KeyboardInterrupt, so that no `except Exception`
    on the way treats it as a failed run to carry on from: a run in progress rolls back and stops."""


class Scheduler:
    def __init__(
        self,
        job: JobConfig,
        run_once: Callable[[], object],
        last_started: Callable[[], datetime | None],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.job, self.schedule = job, require_schedule(job)
        self.run_once, self.last_started, self.now, self.sleep = run_once, last_started, now, sleep
        self.runs = 0

    def missed_run(self) -> bool:
        """A scheduled time passed since the last run started (or no run ever did)."""
        try:
            last = self.last_started()
        except EtlError as exc:  # the run itself will fail and alert; that is where it belongs
            log.warning("cannot tell when the last run was (%s): running now", exc)
            return True
        return last is None or previous_run(self.schedule, self.now()) > last

    def loop(self, max_runs: int | None = None) -> int:
        """Run on schedule until SIGTERM/Ctrl-C (or `max_runs`, for tests); returns the runs started."""
        if self.schedule.catch_up and self.missed_run():
            log.info("a scheduled run was missed while the scheduler was down: running it now")
            self._run()
        while max_runs is None or self.runs < max_runs:
            due = next_run(self.schedule, self.now())
            log.info("next run of job %s at %s", self.job.name, due.isoformat(), extra={"stage": "schedule"})
            self._wait_until(due)
            self._run()
        return self.runs

    def _wait_until(self, due: datetime) -> None:
        while (left := (due - self.now()).total_seconds()) > 0:
            self.sleep(min(left, 30.0))  # short naps: a changed wall clock is noticed

    def _run(self) -> None:
        self.runs += 1
        try:
            self.run_once()
        except RunLocked as exc:
            log.warning("skipped: %s", exc)
        except EtlError as exc:  # already reported and alerted; the schedule goes on
            log.error("run failed: %s", exc)
        except Exception:  # a bug must not end months of unattended runs; SIGTERM (Stop) still does
            log.exception("run failed unexpectedly; the schedule goes on")


def serve(job: JobConfig, run_once: Callable[[], object], last_started: Callable[[], datetime | None]) -> None:
    """The foreground scheduler: SIGTERM or Ctrl-C rolls back a run in progress, then exits cleanly."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        Scheduler(job, run_once, last_started).loop()
    except (KeyboardInterrupt, Stop):
        log.info("scheduler stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame) -> None:
    raise Stop()


# -- the same schedule for the system's own schedulers ----------------------------------------------------

DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def command_line(config_path: Path) -> str:
    """How the installed tool runs this job once, with absolute paths (cron and systemd have no PATH of ours)."""
    executable = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "smart360-etl" else "smart360-etl"
    return f"{shlex.quote(str(executable))} run -c {shlex.quote(str(config_path.resolve()))}"


def crontab_line(job: JobConfig, config_path: Path) -> str:
    schedule = job.schedule_section
    lines = []
    if schedule.timezone != "UTC":
        lines.append(
            f"# times are {schedule.timezone}: cronie reads the CRON_TZ line; other crons use the server's zone"
        )
        lines.append(f"CRON_TZ={schedule.timezone}")
    lines.append(f"{schedule.cron} {command_line(config_path)} >> /var/log/smart360-etl-{job.name}.log 2>&1")
    return "\n".join(lines)


def on_calendar(cron: str, tz: str) -> list[str]:
    """systemd OnCalendar= values for a five-field cron expression.

    cron runs when day-of-month OR day-of-week matches (if both are restricted); systemd ANDs them, so
    that case becomes two OnCalendar= lines.
    """
    minute, hour, dom, month, dow = cron.split()
    clock = f"{_field(hour)}:{_field(minute)}:00"
    zone = "" if tz == "UTC" else f" {tz}"
    if dom != "*" and dow != "*":
        return [f"*-{_field(month)}-{_field(dom)} {clock}{zone}", f"{_days(dow)} *-{_field(month)}-* {clock}{zone}"]
    days = "" if dow == "*" else _days(dow) + " "
    return [f"{days}*-{_field(month)}-{_field(dom)} {clock}{zone}"]


def _field(value: str) -> str:
    """One numeric cron field in systemd's syntax: ranges a..b, steps start/step, lists as they are."""
    parts = []
    for part in value.split(","):
        base, _, step = part.partition("/")
        base = "*" if base == "*" and not step else ("0" if base == "*" else base)
        if "-" in base:
            start, end = base.split("-")
            base = f"{int(start):02d}..{int(end):02d}"
        elif base != "*":
            base = f"{int(base):02d}"
        parts.append(f"{base}/{step}" if step else base)
    return ",".join(parts)


def _days(value: str) -> str:
    def name(day: str) -> str:
        return DAY_NAMES[int(day)] if day.isdigit() else day[:3].capitalize()

    parts = []
    for part in value.split(","):
        if "/" in part:
            raise ConfigError(f"day-of-week steps (`{value}`) have no systemd equivalent; list the days instead")
        start, _, end = part.partition("-")
        parts.append(f"{name(start)}..{name(end)}" if end else name(start))
    return ",".join(parts)


def systemd_units(job: JobConfig, config_path: Path) -> str:
    schedule = job.schedule_section
    calendars = "\n".join(f"OnCalendar={value}" for value in on_calendar(schedule.cron, schedule.timezone))
    unit = f"smart360-etl-{re.sub(r'[^A-Za-z0-9_-]', '-', job.name)}"
    return f"""# /etc/systemd/system/{unit}.service
[Unit]
Description=smart360-etl job {job.name}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={config_path.resolve().parent}
ExecStart={command_line(config_path)}
# exit 2 (loaded, but a check with severity fail failed) is reported by the tool's own alerts
SuccessExitStatus=2

# /etc/systemd/system/{unit}.timer
[Unit]
Description=Run smart360-etl job {job.name} on schedule ({schedule.cron}, {schedule.timezone})

[Timer]
{calendars}
Persistent={"true" if schedule.catch_up else "false"}

[Install]
WantedBy=timers.target
"""
