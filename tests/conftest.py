"""Real PostgreSQL for every test: the server named by SMART360_TEST_DATABASE_URL when set, otherwise an
embedded one started once per session. Each test gets a database of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from hypothesis import settings

from smart360_etl.demo.embedded import embedded_postgres, with_database

# The same examples on every run: CI must not pass or fail by chance.
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.load_profile("deterministic")

DEMO_ROWS = 3000
SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data"


@pytest.fixture(scope="session")
def server_url():
    named = os.environ.get("SMART360_TEST_DATABASE_URL")
    if named:
        yield named
        return
    with embedded_postgres() as url:
        yield url


@pytest.fixture
def new_database(server_url):
    """A factory of fresh databases on the test server; all are dropped after the test."""
    created: list[str] = []

    def create() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return with_database(server_url, name)

    yield create
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def source_url(new_database):
    return new_database()


@pytest.fixture
def target_url(new_database):
    return new_database()


@pytest.fixture
def write_job(tmp_path):
    """Write a job file; returns its path. Keyword arguments become top-level sections."""

    def write(**sections) -> Path:
        sections.setdefault("report_dir", str(tmp_path / "reports"))
        path = tmp_path / "job.yaml"
        path.write_text(yaml.safe_dump(sections, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def demo_job(source_url, target_url, write_job):
    """A job over DEMO_ROWS generated ABC Utility consumers, its target initialised."""
    from smart360_etl.config import load_job
    from smart360_etl.db import target_connection
    from smart360_etl.demo.job import create_demo_source
    from smart360_etl.load.schema import migrate

    create_demo_source(source_url, DEMO_ROWS)
    job = load_job(
        write_job(source={"url": source_url, "table": "consumer_data", "batch_size": 700}, target={"url": target_url})
    )
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return job


@pytest.fixture(autouse=True)
def _no_log_file_outlives_its_test():
    """A job's log file is attached to the package logger by the CLI; detach it after each test."""
    yield
    from smart360_etl.ops.logs import close_file

    close_file()


@pytest.fixture(autouse=True)
def _umask_restored():
    """The CLI sets the process umask from the job (file_mode): in-process invocations must not leak it."""
    import os

    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(scope="session")
def chromium():
    path = shutil.which("chromium")
    for step in (
        ["apt-get", "install", "-y", "-q", "chromium"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "chromium"],
    ):
        if path is not None or shutil.which("apt-get") is None:
            break
        subprocess.run(step, capture_output=True, timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed and could not be installed here (apt-get install chromium)")
    return path
