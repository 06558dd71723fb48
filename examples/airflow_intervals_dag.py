"""Example Airflow DAG that fans the intervals job's units out over Airflow workers (copy it into your
DAGs folder; Airflow 2.4+ for dynamic task mapping).

`intervals plan` reads and splits the source once and prints the units; one mapped task runs each unit
(`intervals unit`: idempotent, so Airflow's retries are safe); the `smart360_db_writers` pool caps how
many write to the SMART360 database at once (create it with as many slots as the database takes writers,
e.g. `airflow pools set smart360_db_writers 4 "SMART360 COPY writers"`); `intervals finish` reconciles,
reports, and fails the DAG run if a unit did not finish. The stage folder must be on storage every worker
sees (`intervals.stage_dir`).
"""

from __future__ import annotations

import json
import subprocess

import pendulum
from airflow.decorators import dag, task

SMART360_ETL = "/opt/smart360-etl/.venv/bin/smart360-etl"  # where `make` installed the tool
JOB = "/opt/smart360-etl/jobs/abc-utility.yaml"


@dag(schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC"), catchup=False, max_active_runs=1,
     tags=["smart360", "intervals"])
def smart360_intervals():
    @task
    def plan() -> dict:
        out = subprocess.run([SMART360_ETL, "-q", "intervals", "plan", "-c", JOB], check=True, capture_output=True,
                             text=True).stdout
        return json.loads(out)

    @task
    def unit_args(planned: dict) -> list[dict]:
        return [{"run_id": planned["run_id"], "key": unit["key"]} for unit in planned["units"]]

    @task(pool="smart360_db_writers", retries=2, retry_delay=pendulum.duration(seconds=30))
    def run_unit(run_id: str, key: str) -> None:
        subprocess.run([SMART360_ETL, "-q", "intervals", "unit", "-c", JOB, "--run", run_id, key], check=True)

    @task(trigger_rule="all_done")
    def finish(planned: dict) -> None:
        subprocess.run([SMART360_ETL, "intervals", "finish", "-c", JOB, "--run", planned["run_id"]], check=True)

    planned = plan()
    units = run_unit.expand_kwargs(unit_args(planned))
    units >> finish(planned)


smart360_intervals()
