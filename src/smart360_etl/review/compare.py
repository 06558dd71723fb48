"""`compare`: two runs of a job side by side, for the go / no-go between mock loads: counts, rejects and
warnings by reason with their deltas, checks whose outcome changed, consumers new, gone and changed from
one run to the other, and business totals.

Consumers are told apart by each run's row hashes (`run_consumer`, one per loaded consumer): a consumer is
new when only the later run loaded it, gone when only the earlier did, changed when both did and the
mapped rows differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..config import JobConfig
from ..errors import ConfigError
from ..load.schema import require_migrated
from ..result import COUNTS

SAMPLE = 10


def compare_runs(conn: psycopg.Connection, job: JobConfig, first: str | None = None,
                 second: str | None = None) -> dict[str, Any]:
    """The comparison of run `first` (earlier) with `second`; without them, the job's last two runs that loaded."""
    require_migrated(conn, job.target)
    a, b = _runs(conn, job, first, second)
    return {
        "job": job.name,
        "a": _about(a),
        "b": _about(b),
        "counts": [_delta(name, a[name] or 0, b[name] or 0) for name in COUNTS],
        "rejects": _by_reason(a["rejects_by_reason"], b["rejects_by_reason"]),
        "warnings": _by_reason(a["warnings_by_reason"], b["warnings_by_reason"]),
        "checks_changed": _checks_changed(a["checks"] or [], b["checks"] or []),
        "consumers": _consumers(conn, job, a["run_id"], b["run_id"]),
        "business_totals": _totals(job.report_dir, a["run_id"], b["run_id"]),
    }


def _runs(conn: psycopg.Connection, job: JobConfig, first: str | None,
          second: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
    columns = sql.SQL("run_id, job, started_at, status, extracted, inserted, updated, unchanged, rejected, "
                      "rejects_by_reason, warnings_by_reason, checks, resubmits")
    if first is None or second is None:
        rows = cursor.execute(
            sql.SQL("SELECT {} FROM {} WHERE job = %s AND status IN ('ok', 'checks_failed') "
                    "ORDER BY started_at DESC LIMIT 2").format(columns, job.target.table("run")), [job.name]
        ).fetchall()
        if len(rows) < 2:
            raise ConfigError(f"job {job.name} has {len(rows)} run(s) that loaded: compare needs two "
                              "(or name them: `compare -c job.yaml RUN_A RUN_B`)")
        return rows[1], rows[0]
    found = {}
    for run_id in (first, second):
        row = cursor.execute(sql.SQL("SELECT {} FROM {} WHERE run_id = %s").format(columns, job.target.table("run")),
                             [run_id]).fetchone()
        if row is None or row["job"] != job.name:
            raise ConfigError(f"run {run_id} is not a run of job {job.name}; `smart360-etl history` lists its runs")
        if row["status"] not in ("ok", "checks_failed"):
            raise ConfigError(f"run {run_id} {row['status']}: it loaded nothing to compare")
        found[run_id] = row
    return found[first], found[second]


def _about(run: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run["run_id"], "started_at": run["started_at"].isoformat(), "status": run["status"],
            "resubmits": run["resubmits"]}


def _delta(name: str, a: float, b: float) -> dict[str, Any]:
    return {"name": name, "a": a, "b": b, "delta": b - a}


def _by_reason(a: dict[str, int] | None, b: dict[str, int] | None) -> list[dict[str, Any]]:
    a, b = a or {}, b or {}
    rows = [_delta(reason, a.get(reason, 0), b.get(reason, 0)) for reason in set(a) | set(b)]
    return sorted(rows, key=lambda row: (-abs(row["delta"]), row["name"]))


def _checks_changed(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    before = {check["name"]: check for check in a}
    after = {check["name"]: check for check in b}
    changed = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name), after.get(name)
        if (was or {}).get("status") != (now or {}).get("status"):
            changed.append({
                "name": name,
                "a": was["status"] if was else "not run",
                "b": now["status"] if now else "not run",
                "a_failing": (was or {}).get("failing"),
                "b_failing": (now or {}).get("failing"),
            })
    return changed


def _consumers(conn: psycopg.Connection, job: JobConfig, a: str, b: str) -> dict[str, Any] | None:
    """New, gone, changed and unchanged consumers from run a to run b, with a few ids of each."""
    table = job.target.table("run_consumer")
    recorded = conn.execute(sql.SQL("SELECT count(DISTINCT run_id) FROM {} WHERE run_id IN (%s, %s)").format(table),
                            [a, b]).fetchone()
    if not recorded or recorded[0] < 2:
        return None  # a run from before consumers were recorded per run
    pairs = sql.SQL(
        "SELECT consumer_id, CASE WHEN x.row_hash IS NULL THEN 'new' WHEN y.row_hash IS NULL THEN 'gone' "
        "WHEN x.row_hash <> y.row_hash THEN 'changed' ELSE 'unchanged' END AS change "
        "FROM (SELECT consumer_id, row_hash FROM {t} WHERE run_id = %s) x "
        "FULL JOIN (SELECT consumer_id, row_hash FROM {t} WHERE run_id = %s) y USING (consumer_id)"
    ).format(t=table)
    rows = conn.execute(
        sql.SQL("SELECT change, count(*), (array_agg(consumer_id ORDER BY consumer_id) "
                "FILTER (WHERE change <> 'unchanged'))[1:%s] FROM ({}) p GROUP BY change").format(pairs),
        [SAMPLE, a, b],
    ).fetchall()
    found: dict[str, Any] = {change: 0 for change in ("new", "gone", "changed", "unchanged")}
    samples: dict[str, list[str]] = {}
    for change, count, sample in rows:
        found[change] = count
        if sample:
            samples[change] = sample
    return {**found, "samples": samples}


def _totals(report_dir: Path, a: str, b: str) -> list[dict[str, Any]]:
    """Business totals of both runs (from their JSON reports, when they are in the report folder)."""
    def totals(run_id: str) -> dict[tuple[str, str], float]:
        path = report_dir / f"{run_id}.json"
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return {(t["measure"], t["key"]): t["target"] for t in report.get("business_totals", [])}

    before, after = totals(a), totals(b)
    return [
        {"measure": measure, "key": key, "a": before.get((measure, key), 0), "b": after.get((measure, key), 0),
         "delta": round(after.get((measure, key), 0) - before.get((measure, key), 0), 3)}
        for measure, key in sorted(set(before) | set(after))
    ]
