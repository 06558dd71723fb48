"""Schema drift between runs: each kind of change, with the message a user reads."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from smart360_etl.run.drift import SchemaDrift
from smart360_etl.run.pipeline import run


def _alter(url: str, statement: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(statement)


def _report(job) -> dict:
    newest = max(Path(job.report_dir).glob("2*.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(newest.read_text())


def _ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT status, error FROM smart360_etl.run ORDER BY started_at").fetchall()


def _consumer_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0]


def test_a_renamed_column_fails_the_run_naming_the_fix(demo_job, source_url, target_url):
    run(demo_job)
    with psycopg.connect(target_url) as conn:
        loaded_id = conn.execute("SELECT min(consumer_id::bigint) FROM smart360.consumer").fetchone()[0]
    _alter(source_url, "ALTER TABLE consumer_data RENAME COLUMN contact_number TO phone")
    _alter(source_url, f"UPDATE consumer_data SET name = 'Changed Name' WHERE consumer_id = {loaded_id}")
    with pytest.raises(SchemaDrift) as error:
        run(demo_job)
    message = str(error.value)
    assert "source column `contact_number` is gone; a column `phone` appeared" in message
    assert "`mapping.phone_number.from: phone`" in message and "`mapping.phone_extension.from: phone`" in message
    report = _report(demo_job)
    assert report["status"] == "failed"
    assert [d["column"] for d in report["drift"] if d["breaking"]] == ["contact_number"]
    assert report["drift"][0]["affects"] == ["mapping.phone_number", "mapping.phone_extension"]
    assert _ledger(target_url)[-1][0] == "failed"
    page = (Path(demo_job.report_dir) / f"{report['run_id']}.html").read_text()
    assert "Schema drift" in page and "set `mapping.phone_number.from: phone`" in page
    with psycopg.connect(target_url) as conn:  # nothing of the second run was written
        query = "SELECT first_name FROM smart360.consumer WHERE consumer_id = %s"
        assert conn.execute(query, [str(loaded_id)]).fetchone()[0] != "Changed"


def test_a_dropped_column_names_the_mapping_entries_it_breaks(demo_job, source_url):
    run(demo_job)
    _alter(source_url, "ALTER TABLE consumer_data DROP COLUMN address")
    with pytest.raises(SchemaDrift) as error:
        run(demo_job)
    message = str(error.value)
    assert "source column `address` is gone (used by mapping.address_line_1, mapping.address_line_2" in message
    assert "`mapping.address_line_1: {from: <column>, transform: address.line_1}`" in message


def test_an_incompatible_retype_fails_and_a_compatible_one_warns(demo_job, source_url, target_url):
    run(demo_job)
    _alter(source_url, "ALTER TABLE consumer_data ALTER COLUMN consumer_id TYPE text")  # ids read as text anyway
    second = run(demo_job)
    assert second.status == "ok"
    assert [(d["column"], d["change"], d["breaking"]) for d in second.drift] == [("consumer_id", "retyped", False)]
    _alter(source_url, "ALTER TABLE consumer_data ALTER COLUMN name TYPE bytea USING convert_to(name, 'UTF8')")
    with pytest.raises(
        SchemaDrift,
        match=r"source column `name` changed type from text to bytea, which "
        r"mapping.title, mapping.first_name",
    ):
        run(demo_job)


def test_a_new_unmapped_column_is_a_warning(demo_job, source_url):
    run(demo_job)
    _alter(source_url, "ALTER TABLE consumer_data ADD COLUMN loyalty_tier text")
    result = run(demo_job)
    assert result.status == "ok"
    assert result.drift == [
        {
            "side": "source",
            "column": "loyalty_tier",
            "change": "added",
            "breaking": False,
            "message": "source column `loyalty_tier` is new and not mapped (harmless)",
            "fix": "",
            "affects": [],
        }
    ]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("ALTER TABLE smart360.consumer DROP COLUMN city", "target column smart360.consumer.city is gone"),
        (
            "ALTER TABLE smart360.consumer ALTER COLUMN middle_name SET NOT NULL",
            "smart360.consumer.middle_name became NOT NULL, but the mapping can leave it empty",
        ),
        (
            "ALTER TABLE smart360.consumer ADD COLUMN region_code text NOT NULL",
            "smart360.consumer.region_code is new, NOT NULL and has no default",
        ),
        (
            "ALTER TABLE smart360.consumer ALTER COLUMN zip_code TYPE integer USING NULL",
            "zip_code is integer, not text",
        ),
        ("ALTER TABLE smart360.consumer DROP CONSTRAINT consumer_pkey CASCADE", "consumer_id is not unique any more"),
    ],
)
def test_target_drift_stops_the_run_before_any_write(demo_job, target_url, statement, expected):
    _alter(target_url, statement)
    with pytest.raises(SchemaDrift, match=expected):
        run(demo_job)
    assert _consumer_count(target_url) == 0


def test_a_new_nullable_target_column_is_harmless(demo_job, target_url):
    _alter(target_url, "ALTER TABLE smart360.consumer ADD COLUMN notes text")
    result = run(demo_job)
    assert result.status == "ok" and result.counts["inserted"] > 0
    assert [d["message"] for d in result.drift] == [
        "target column smart360.consumer.notes is new; the load leaves it empty"
    ]
