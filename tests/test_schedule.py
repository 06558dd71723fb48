"""The scheduler: fire times (with an injected clock), catch-up, the run lock, SIGTERM, and the
cron and systemd renderings of the same schedule."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from smart360_etl.config import ScheduleConfig, load_job
from smart360_etl.db import target_connection
from smart360_etl.demo.job import create_demo_source
from smart360_etl.load.schema import migrate
from smart360_etl.ops.operate import run_job
from smart360_etl.ops.schedule import Scheduler, crontab_line, next_run, on_calendar, systemd_units

CLI = [str(Path(sys.executable).with_name("smart360-etl"))]
UTC = timezone.utc


class FakeClock:
    """Time that passes only when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def scheduled(job_sections: dict, clock: FakeClock, last_started=None, run_once=None):
    from smart360_etl.config import parse_job

    job = parse_job({"source": {"csv": "x.csv"}, "target": {"url": "postgresql://h/db"}, **job_sections})
    fired: list[datetime] = []
    scheduler = Scheduler(
        job, run_once or (lambda: fired.append(clock.now())), lambda: last_started, clock.now, clock.sleep
    )
    return scheduler, fired


def test_runs_fire_at_the_cron_times():
    clock = FakeClock(datetime(2026, 11, 26, 10, 2, 30, tzinfo=UTC))
    scheduler, fired = scheduled({"schedule": {"cron": "*/5 * * * *"}}, clock)
    assert scheduler.loop(max_runs=3) == 3
    assert [t.strftime("%H:%M:%S") for t in fired] == ["10:05:00", "10:10:00", "10:15:00"]


def test_the_time_zone_and_daylight_saving_are_respected():
    london = ScheduleConfig(cron="0 8 * * *", timezone="Europe/London")
    before_switch = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    first = next_run(london, before_switch)
    second = next_run(london, first)
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 BST
    assert second.astimezone(UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert next_run(london, datetime(2026, 1, 10, 12, 0, tzinfo=UTC)).astimezone(UTC).hour == 8  # 08:00 GMT


@pytest.mark.parametrize(
    ("last_started", "expected"),
    [
        (None, True),  # never ran
        (datetime(2026, 11, 24, 8, 0, 3, tzinfo=UTC), True),  # yesterday's 08:00 was missed
        (datetime(2026, 11, 25, 8, 0, 2, tzinfo=UTC), False),  # today's 08:00 ran
    ],
)
def test_catch_up_runs_a_missed_run_once_at_start(last_started, expected):
    clock = FakeClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    sections = {"schedule": {"cron": "0 8 * * *", "catch_up": True}}
    scheduler, fired = scheduled(sections, clock, last_started)
    scheduler.loop(max_runs=1)
    at_start, next_morning = datetime(2026, 11, 25, 12, 0, tzinfo=UTC), datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert fired == [at_start if expected else next_morning]


@pytest.fixture
def scheduled_job(source_url, target_url, write_job):
    def make(rows: int, cron: str = "*/10 * * * *", catch_up: bool = False):
        create_demo_source(source_url, rows)
        path = write_job(
            source={"url": source_url, "table": "consumer_data"},
            target={"url": target_url},
            schedule={"cron": cron, "catch_up": catch_up},
        )
        job = load_job(path)
        with target_connection(job.target) as conn:
            migrate(conn, job.target)
        return path, job

    return make


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT status, inserted, unchanged FROM smart360_etl.run ORDER BY started_at").fetchall()


def test_scheduled_runs_load_and_a_locked_run_is_skipped(scheduled_job, target_url, caplog):
    _, job = scheduled_job(300)
    clock = FakeClock(datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC))
    Scheduler(job, lambda: run_job(job), lambda: None, clock.now, clock.sleep).loop(max_runs=2)
    first, second = ledger(target_url)
    assert first[0] == second[0] == "ok" and first[1] > 0 and second[2] == first[1]
    with psycopg.connect(target_url) as other:  # a run of the same job is going on elsewhere
        other.execute("SELECT pg_advisory_lock(hashtextextended('smart360-etl:run:job', 0))")
        Scheduler(job, lambda: run_job(job), lambda: None, clock.now, clock.sleep).loop(max_runs=1)
    assert len(ledger(target_url)) == 2 and "skipped: another run of job `job` is in progress" in caplog.text


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sigterm_while_waiting_exits_cleanly(scheduled_job, target_url):
    path, _ = scheduled_job(200, cron="0 0 1 1 *", catch_up=True)  # next regular run: New Year
    process = subprocess.Popen([*CLI, "schedule", "-c", str(path)], stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: [row[0] for row in ledger(target_url)] == ["ok"])
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr[-2000:]
    assert "scheduler stopped" in stderr and "next run of job job at 2027-01-01T00:00:00+00:00" in stderr


def test_sigterm_during_a_run_rolls_it_back_and_exits_cleanly(scheduled_job, target_url):
    path, _ = scheduled_job(150_000, catch_up=True)
    process = subprocess.Popen([*CLI, "schedule", "-c", str(path)], stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: [row[0] for row in ledger(target_url)] == ["running"])
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    assert [row[0] for row in ledger(target_url)] == ["failed"]
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0] == 0


def test_sigterm_during_run_rolls_back_records_reports_and_exits_143(scheduled_job, target_url):
    """`run` under cron, systemd or Airflow: SIGTERM does what Ctrl-C does, with its own exit code."""
    import json

    path, _ = scheduled_job(150_000)
    process = subprocess.Popen([*CLI, "run", "-c", str(path)], stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: [row[0] for row in ledger(target_url)] == ["running"])
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr[-2000:]
    assert "terminated (SIGTERM): the run was rolled back" in stderr
    assert [row[0] for row in ledger(target_url)] == ["failed"]
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0] == 0
    reports = sorted((path.parent / "reports").glob("*.json"))
    assert reports and json.loads(reports[-1].read_text())["status"] == "failed"


def _job_with_schedule(tmp_path, cron: str, tz: str):
    from smart360_etl.config import parse_job

    return parse_job(
        {
            "name": "nightly",
            "source": {"csv": "x.csv"},
            "target": {"url": "postgresql://h/db"},
            "schedule": {"cron": cron, "timezone": tz},
        }
    )


def test_print_cron_and_systemd(tmp_path):
    job = _job_with_schedule(tmp_path, "30 2 * * 1-5", "Europe/London")
    line = crontab_line(job, tmp_path / "job.yaml")
    assert "CRON_TZ=Europe/London" in line
    assert line.splitlines()[-1].startswith("30 2 * * 1-5 ") and f"run -c {tmp_path / 'job.yaml'}" in line
    units = systemd_units(job, tmp_path / "job.yaml")
    assert "OnCalendar=Mon..Fri *-*-* 02:30:00 Europe/London" in units and "Type=oneshot" in units


@pytest.mark.parametrize(
    "cron",
    ["0 8 * * *", "*/15 8-17 * * 1-5", "30 2 1,15 * *", "0 6 * 1-3 0", "5 4 13 * 5", "0 */6 * * *"],
)
def test_systemd_calendar_fires_when_cron_does(cron):
    """systemd's own calendar parser, asked for the next times, agrees with croniter."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    expected = []
    schedule, moment = ScheduleConfig(cron=cron), start
    for _ in range(6):
        moment = next_run(schedule, moment)
        expected.append(moment)
    systemd_times: set[datetime] = set()
    for calendar in on_calendar(cron, "UTC"):
        done = subprocess.run(
            [analyze, "calendar", "--iterations=6", f"--base-time={start:%Y-%m-%d %H:%M:%S} UTC", calendar],
            capture_output=True,
            text=True,
            check=True,
            env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
        )
        for stamp in re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", done.stdout):
            systemd_times.add(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))
    assert sorted(systemd_times)[:6] == expected


def test_a_failing_run_does_not_end_the_schedule(caplog):
    from smart360_etl.errors import TargetError

    clock = FakeClock(datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC))
    attempts = []

    def flaky():
        attempts.append(clock.now())
        if len(attempts) == 1:
            raise TargetError("cannot connect to the SMART360 target")
        if len(attempts) == 2:
            raise ValueError("a bug")

    scheduler, _ = scheduled({"schedule": {"cron": "*/10 * * * *"}}, clock, run_once=flaky)
    assert scheduler.loop(max_runs=3) == 3 and len(attempts) == 3
    assert "run failed: cannot connect" in caplog.text and "run failed unexpectedly" in caplog.text
