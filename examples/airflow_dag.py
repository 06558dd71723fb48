"""Example Airflow DAG for teams that orchestrate with Airflow (copy it into your DAGs folder).

The job's own run lock, ledger, metrics and alerts still apply; Airflow only decides when. Exit code 2
(loaded, but a check with severity `fail` failed) fails the task, so it shows red in Airflow too; give
the run task `skip_on_exit_code=2` to show it as skipped instead.
"""

from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

SMART360_ETL = "/opt/smart360-etl/.venv/bin/smart360-etl"  # where `make` installed the tool
JOB = "/opt/smart360-etl/jobs/abc-utility.yaml"

with DAG(
    dag_id="smart360_etl_abc_utility",
    schedule="0 8 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,  # the tool's run lock refuses a second run anyway
    tags=["smart360", "migration"],
) as dag:
    doctor = BashOperator(task_id="doctor", bash_command=f"{SMART360_ETL} doctor -c {JOB}")
    load = BashOperator(
        task_id="run",
        bash_command=f"{SMART360_ETL} run -c {JOB}",
        retries=0,  # connections are retried inside the tool; a failed run is rolled back and alerted
    )
    doctor >> load
