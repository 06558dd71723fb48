"""The whole consumer on a real PostgreSQL: accounts, meters, tariffs, readings, payment status, lineage."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from click.testing import CliRunner

from smart360_etl.cli import main
from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.errors import ConfigError
from smart360_etl.load.schema import migrate
from smart360_etl.run.pipeline import run

from .conftest import SAMPLES

PLANS = (
    "code,name,service,unit\nRES-STD,Residential standard,ELECTRICITY,kWh\n"
    "RES-TOU,Residential time of use,ELECTRICITY,kWh\n"
)
CROSSWALKS = {
    "tariff_plan": {"Plan A": "RES-STD", "Plan B": "RES-TOU"},
    "payment_status": {"Paid": "PAID", "Unpaid": "UNPAID"},
}


def query(url: str, statement: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


@pytest.fixture
def account_job(target_url, write_job, tmp_path):
    """A job over the case-study sample (plus extra rows), with the tariff plans loaded by the CLI."""

    def make(extra_rows: str = "", accounts: dict | None = None, crosswalks: dict | None = None):
        csv_path = tmp_path / "consumers.csv"
        csv_path.write_text(SAMPLES.joinpath("case_study_sample.csv").read_text().rstrip("\n") + "\n" + extra_rows)
        path = write_job(
            source={"csv": "consumers.csv"},
            target={"url": target_url},
            accounts=accounts or {"number_format": r"ACCT-\d+"},
            crosswalks=crosswalks or CROSSWALKS,
        )
        job = load_job(path)
        with target_connection(job.target) as conn:
            migrate(conn, job.target)
        (tmp_path / "plans.csv").write_text(PLANS)
        loaded = CliRunner().invoke(main, ["load-reference", "-c", str(path), str(tmp_path / "plans.csv")])
        assert loaded.exit_code == 0 and "2 inserted" in loaded.output, loaded.output
        return job

    return make


def test_unmapped_codes_that_differ_only_in_case_are_one_entry(account_job):
    result = run(account_job("14,Ann Lee,1 Oak St,,,ACCT-014,MTR-014,plan c ,100 kWh,Paid\n"))
    assert result.unmapped_codes["tariff_plan"] == {"Plan C": 5}


def test_every_table_loads_and_reconciles(account_job, target_url):
    result = run(account_job())
    # Plan C has no crosswalk entry: those records are rejected whole, and the gap is reported with counts.
    assert result.unmapped_codes == {"tariff_plan": {"Plan C": 4}, "payment_status": {}}
    assert result.rejects_by_reason["tariff_unknown"] == 4
    assert result.entities["account"] == {"extracted": 13, "inserted": 9, "updated": 0, "unchanged": 0, "rejected": 4}
    assert result.entities["meter"]["inserted"] == 9 and result.entities["consumption_reading"]["inserted"] == 9
    rows = query(
        target_url,
        "SELECT a.account_number, a.consumer_id, a.tariff_code, a.payment_status, m.meter_number, r.period, "
        "r.quantity, r.reading_type FROM smart360.account a JOIN smart360.meter m USING (account_number) "
        "JOIN smart360.consumption_reading r USING (meter_number) WHERE a.consumer_id = '1'",
    )
    assert rows == [("ACCT-001", "1", "RES-STD", "PAID", "MTR-001", date(2026, 1, 1), 100, "MIGRATED")]
    # Nothing of a rejected record landed anywhere.
    assert query(target_url, "SELECT count(*) FROM smart360.consumer WHERE consumer_id = '3'") == [(0,)]
    assert query(target_url, "SELECT count(*) FROM smart360.meter WHERE meter_number = 'MTR-003'") == [(0,)]
    totals = {(t["measure"], t["key"]): (t["source"], t["target"], t["match"]) for t in result.business_totals}
    assert totals[("consumers_by_payment_status", "PAID")] == (5, 5, True)
    assert totals[("consumption_by_tariff_plan", "RES-STD")] == (100 + 120 + 130 + 110 + 140, 600, True)
    lineage = query(
        target_url,
        "SELECT entity, legacy_key, smart360_key FROM smart360_etl.legacy_crosswalk WHERE legacy_key IN "
        "('1', 'ACCT-001', 'MTR-001') ORDER BY entity",
    )
    assert lineage == [("account", "ACCT-001", "ACCT-001"), ("consumer", "1", "1"), ("meter", "MTR-001", "MTR-001")]
    page = open(result.report_path.replace(".json", ".html"), encoding="utf-8").read()
    assert '<tr data-entity="account"><td>account</td><td class="num">13</td><td class="num">9</td>' in page
    assert "no crosswalk entry</span> tariff_plan: Plan C (4)" in page


def test_a_rerun_is_idempotent_and_a_change_touches_only_its_rows(account_job, target_url, tmp_path):
    job = account_job()
    run(job)
    again = run(job)
    assert again.entities["account"]["unchanged"] == 9 and again.entities["account"]["updated"] == 0
    assert again.entities["consumption_reading"]["unchanged"] == 9
    csv_path = tmp_path / "consumers.csv"
    csv_path.write_text(
        csv_path.read_text().replace("ACCT-002,MTR-002,Plan B,150 kWh,Unpaid", "ACCT-002,MTR-002,Plan B,155 kWh,Paid")
    )
    changed = run(job)
    assert changed.entities["account"]["updated"] == 1 and changed.entities["consumption_reading"]["updated"] == 1
    assert changed.entities["meter"]["updated"] == 0 and changed.counts["updated"] == 0
    assert query(target_url, "SELECT payment_status FROM smart360.account WHERE account_number = 'ACCT-002'") == [
        ("PAID",)
    ]


def test_a_bad_reading_rejects_the_whole_record_with_every_reason(account_job, target_url):
    extra = (
        "14,Nora Quinn,1 Oak St,555-111-2222,nora@example.com,ACCT-014,MTR-014,Plan A,-5 kWh,Maybe\n"
        '15,Omar Reyes,2 Oak St,555-111-3333,omar@example.com,ACCT-015,MTR-015,Plan B,"Jan-2024:100; Feb-2024:120",P\n'
    )
    result = run(account_job(extra, crosswalks={**CROSSWALKS, "payment_status": {"Paid": "PAID", "P": "PAID"}}))
    reasons = dict(
        query(target_url, "SELECT consumer_id, reasons FROM smart360_etl.reject WHERE consumer_id IN ('14', '15')")
    )
    assert set(reasons["14"]) == {"consumption_invalid", "payment_status_unknown"} and "15" not in reasons
    assert query(target_url, "SELECT count(*) FROM smart360.account WHERE consumer_id = '14'") == [(0,)]
    assert query(
        target_url,
        "SELECT period, quantity FROM smart360.consumption_reading WHERE meter_number = 'MTR-015' ORDER BY 1",
    ) == [(date(2024, 1, 1), 100), (date(2024, 2, 1), 120)]
    assert result.unmapped_codes["payment_status"] == {"Maybe": 1}


def test_account_numbers_outside_the_format_get_a_new_number_and_keep_it(account_job, target_url):
    accounts = {"number_format": r"WU-\d+", "generate_prefix": "WU-", "unknown_tariff": "RES-STD"}
    job = account_job(accounts=accounts)
    first = run(job)
    assert first.rejects_by_reason == {} and first.entities["account"]["inserted"] == 13
    numbers = dict(query(target_url, "SELECT legacy_account_number, account_number FROM smart360.account"))
    assert numbers["ACCT-001"].startswith("WU-") and len(set(numbers.values())) == 13
    run(job)
    assert dict(query(target_url, "SELECT legacy_account_number, account_number FROM smart360.account")) == numbers


def test_a_crosswalk_to_a_plan_smart360_lacks_stops_the_run(account_job):
    job = account_job(crosswalks={"tariff_plan": {"Plan A": "RES-GOLD"}})
    with pytest.raises(Exception, match=r"RES-GOLD.*load-reference") as error:
        run(job)
    assert isinstance(error.value.__cause__ or error.value, ConfigError)


def test_account_anomalies_are_found_by_validate(account_job, target_url):
    from smart360_etl.run.queries import validate

    job = account_job()
    run(job)
    clean = {o.name: o for o in validate(job)[0]}
    assert clean["consumer_without_account"].status == "pass" and clean["account_without_meter"].status == "pass"
    with psycopg.connect(target_url) as conn:
        conn.execute("UPDATE smart360.meter SET account_number = NULL WHERE meter_number = 'MTR-002'")
        conn.execute(
            "INSERT INTO smart360.consumer (consumer_id, first_name, last_name, address_line_1) "
            "VALUES ('99', 'No', 'Account', '1 Oak St')"
        )
        # A SMART360 database need not key meters by number: a meter on two active accounts.
        conn.execute("ALTER TABLE smart360.consumption_reading DROP CONSTRAINT consumption_reading_meter_number_fkey")
        conn.execute("ALTER TABLE smart360.meter DROP CONSTRAINT meter_pkey")
        conn.execute(
            "INSERT INTO smart360.meter (meter_number, service, unit, account_number) "
            "VALUES ('MTR-001', 'ELECTRICITY', 'kWh', 'ACCT-004')"
        )
    found = {o.name: o for o in validate(job)[0]}
    assert (found["account_without_meter"].status, found["account_without_meter"].sample) == ("warn", ["ACCT-002"])
    assert (found["consumer_without_account"].status, found["consumer_without_account"].sample) == ("warn", ["99"])
    assert found["meter_on_several_active_accounts"].sample == ["MTR-001"]


def test_the_console_summary_shows_every_table_and_the_gaps(account_job, tmp_path):
    account_job()
    result = CliRunner().invoke(main, ["run", "-c", str(tmp_path / "job.yaml")], terminal_width=200)
    assert result.exit_code == 2, result.output  # the case study's phone numbers are all nulled (555 numbers)
    assert "field_mostly_nulled" in result.output and "a check with severity `fail` failed" in result.output
    assert "accounts, meters, readings" in result.output and "consumption_reading" in result.output
    assert "no crosswalk entry for tariff_plan: 'Plan C' (4)" in result.output
    assert "business totals: 6 of 6 match between source and target" in result.output  # 2 statuses, 2 plans x 2


def test_export_writes_one_csv_per_table_with_the_templates_headers(account_job, target_url, tmp_path):
    import csv

    job = account_job()
    run(job)
    job_path = tmp_path / "job.yaml"
    import yaml

    settings = yaml.safe_load(job_path.read_text())
    settings["export"] = {"headers": {"consumer": {"consumer_id": "Consumer No", "first_name": "First Name"}}}
    job_path.write_text(yaml.safe_dump(settings))
    result = CliRunner().invoke(main, ["export", "-c", str(job_path), "--out", str(tmp_path / "upload")])
    assert result.exit_code == 0, result.output
    files = {p.name: list(csv.DictReader(p.open())) for p in (tmp_path / "upload").glob("*.csv")}
    assert set(files) == {"tariff_plan.csv", "consumer.csv", "account.csv", "meter.csv", "consumption_reading.csv"}
    assert len(files["consumer.csv"]) == 9 and files["consumer.csv"][0]["Consumer No"] == "1"
    assert files["consumer.csv"][0]["First Name"] == "John" and len(files["consumption_reading.csv"]) == 9
    assert "consumer.csv: 9 rows" in result.output
    settings["export"] = {"headers": {"consumers": {}}}
    job_path.write_text(yaml.safe_dump(settings))
    wrong = CliRunner().invoke(main, ["export", "-c", str(job_path), "--out", str(tmp_path / "upload")])
    assert wrong.exit_code == 1 and "unknown tables ['consumers']" in wrong.output


def test_export_from_a_dry_run_writes_what_the_run_would_load_and_leaves_the_target_alone(
    account_job, target_url, tmp_path
):
    import csv

    account_job()  # migrated, tariff plans loaded, nothing else
    upload = tmp_path / "upload"
    result = CliRunner().invoke(main, ["export", "-c", str(tmp_path / "job.yaml"), "--out", str(upload), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "extracted 13 = inserted 9 + updated 0 + unchanged 0 + rejected 4" in result.output
    files = {p.name: list(csv.DictReader(p.open())) for p in upload.glob("*.csv")}
    assert len(files["consumer.csv"]) == 9 and len(files["account.csv"]) == 9 and len(files["meter.csv"]) == 9
    assert {row["consumer_id"] for row in files["account.csv"]} == {row["consumer_id"] for row in files["consumer.csv"]}
    assert "consumption_reading.csv: 9 rows" in result.output
    assert (
        query(target_url, "SELECT (SELECT count(*) FROM smart360.consumer) + (SELECT count(*) FROM smart360.account)")[
            0
        ][0]
        == 0
    )
    assert query(target_url, "SELECT count(*) FROM smart360_etl.run")[0][0] == 0  # a dry run leaves no ledger entry


def test_compare_mode_totals_cover_what_the_run_moved_and_lineage_keeps_its_run(account_job, target_url, tmp_path):
    import yaml

    job = account_job()
    settings = yaml.safe_load((tmp_path / "job.yaml").read_text())
    settings["source"]["incremental"] = {"mode": "compare"}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(settings))
    job = load_job(tmp_path / "job.yaml")
    first = run(job)
    csv_path = tmp_path / "consumers.csv"
    csv_path.write_text(
        csv_path.read_text().replace("ACCT-005,MTR-005,Plan B,180 kWh,Paid", "ACCT-005,MTR-005,Plan B,185 kWh,Paid")
    )
    second = run(job)
    assert second.counts["unchanged"] == 9 and second.entities["consumption_reading"]["updated"] == 1
    assert second.entities["account"]["extracted"] == 5  # the changed record, and the 4 rejects tried again
    assert second.business_totals and all(t["match"] for t in second.business_totals)
    assert {(t["measure"], t["key"]) for t in second.business_totals} == {
        ("consumers_by_payment_status", "PAID"),
        ("consumers_by_tariff_plan", "RES-TOU"),
        ("consumption_by_tariff_plan", "RES-TOU"),
    }
    runs = dict(
        query(target_url, "SELECT legacy_key, run_id FROM smart360_etl.legacy_crosswalk WHERE entity = 'consumer'")
    )
    assert runs["1"] == first.run_id and runs["5"] == second.run_id  # only the changed record's lineage moved


def test_a_record_gone_from_the_source_leaves_its_account_inactive(account_job, target_url, tmp_path):
    import yaml

    account_job()
    settings = yaml.safe_load((tmp_path / "job.yaml").read_text())
    settings["source"]["incremental"] = {"mode": "compare", "deletes": "mark_inactive"}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(settings))
    job = load_job(tmp_path / "job.yaml")
    run(job)
    csv_path = tmp_path / "consumers.csv"
    kept = [line for line in csv_path.read_text().splitlines() if not line.startswith("7,")]
    csv_path.write_text("\n".join(kept) + "\n")
    run(job)
    status = "SELECT c.status, a.status FROM smart360.consumer c JOIN smart360.account a USING (consumer_id) "
    assert query(target_url, status + "WHERE consumer_id = '7'") == [("INACTIVE", "INACTIVE")]
    assert query(target_url, status + "WHERE consumer_id = '1'") == [("ACTIVE", "ACTIVE")]


def test_preview_shows_the_account_parts_and_their_rejects(account_job, tmp_path):
    account_job()
    result = CliRunner().invoke(main, ["preview", "-c", str(tmp_path / "job.yaml"), "--limit", "5"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "reject: tariff_unknown" in result.output and "RES-STD" in result.output
    assert "readings         2026-01-01 100 kWh (MIGRATED)" in result.output


CONSTRAINTS_AND_INDEXES = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE connamespace IN ('smart360'::regnamespace, 'smart360_etl'::regnamespace) AND contype IN ('f', 'p', 'u')
UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname IN ('smart360', 'smart360_etl')
ORDER BY 1, 2
"""


def test_a_bulk_load_into_empty_tables_leaves_every_foreign_key_and_index_as_it_was(account_job, target_url):
    job = account_job()
    with psycopg.connect(target_url) as conn:  # comments are part of a definition too
        conn.execute("COMMENT ON INDEX smart360.meter_account_number IS 'meters by account'")
        conn.execute("COMMENT ON CONSTRAINT account_consumer_id_fkey ON smart360.account IS 'whose account'")
    comments = (
        "SELECT obj_description('smart360.meter_account_number'::regclass, 'pg_class'), "
        "obj_description((SELECT oid FROM pg_constraint WHERE conname = 'account_consumer_id_fkey'), 'pg_constraint')"
    )
    before = query(target_url, CONSTRAINTS_AND_INDEXES)
    assert len([row for row in before if row[2].startswith("FOREIGN KEY")]) == 7  # 4 between accounts, 3 to the run
    assert ("smart360_etl.legacy_crosswalk", "legacy_crosswalk_pkey", "PRIMARY KEY (job, entity, legacy_key)") in before
    result = run(job)
    assert result.entities["account"]["inserted"] == 9
    assert query(target_url, CONSTRAINTS_AND_INDEXES) == before
    assert query(target_url, comments) == [("meters by account", "whose account")]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # and they are enforced again
        query(
            target_url,
            "INSERT INTO smart360.meter (meter_number, service, unit, account_number) "
            "VALUES ('M-X', 'ELECTRICITY', 'kWh', 'NO-SUCH')",
        )


def test_a_row_that_breaks_a_set_aside_foreign_key_fails_the_rebuild_by_the_constraints_name(account_job, target_url):
    from psycopg import sql

    from smart360_etl.load.deferred import set_aside

    account_job()
    with psycopg.connect(target_url) as conn:
        aside = set_aside(conn, [sql.Identifier("smart360", "meter")])
        assert len(aside.restore) == 2  # the index on account_number, then the foreign key
        conn.execute(
            "INSERT INTO smart360.meter (meter_number, service, unit, account_number) "
            "VALUES ('M-X', 'ELECTRICITY', 'kWh', 'NO-SUCH')"
        )
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="meter_account_number_fkey"):
            aside.rebuild(conn)


def test_tables_the_role_does_not_own_keep_their_foreign_keys(account_job, target_url):
    from psycopg import sql

    from smart360_etl.load.deferred import set_aside

    account_job()
    with psycopg.connect(target_url) as conn:
        conn.execute("CREATE ROLE smart360_etl_test_owner")
        try:
            conn.execute("ALTER TABLE smart360.meter OWNER TO smart360_etl_test_owner")
            conn.execute("SET ROLE NONE")
            conn.execute("CREATE ROLE smart360_etl_test_loader")
            conn.execute("GRANT USAGE ON SCHEMA smart360 TO smart360_etl_test_loader")
            conn.execute("SET ROLE smart360_etl_test_loader")
            aside = set_aside(conn, [sql.Identifier("smart360", "meter")])
            assert aside.restore == []
        finally:
            conn.rollback()
    assert len([row for row in query(target_url, CONSTRAINTS_AND_INDEXES) if "meter_account_number" in row[1]]) == 2


def test_a_key_that_logical_replication_identifies_rows_by_stays(account_job, target_url):
    from psycopg import sql

    from smart360_etl.load.deferred import set_aside

    account_job()
    with psycopg.connect(target_url) as conn:
        conn.execute("ALTER TABLE smart360_etl.legacy_crosswalk REPLICA IDENTITY USING INDEX legacy_crosswalk_pkey")
        assert set_aside(conn, [sql.Identifier("smart360_etl", "legacy_crosswalk")], keys=True).restore == []
        conn.rollback()
        assert len(set_aside(conn, [sql.Identifier("smart360_etl", "legacy_crosswalk")], keys=True).restore) == 1


def test_a_role_holding_exactly_what_doctor_lists_runs_a_job_with_accounts(account_job, target_url):
    import uuid

    from psycopg.conninfo import make_conninfo

    from smart360_etl.load.privileges import grant_statements
    from smart360_etl.ops.doctor import diagnose

    job = account_job(accounts={"number_format": r"ACCT-\d+", "generate_prefix": "WU-"})
    role = f"etl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        for statement in grant_statements(job, role):
            conn.execute(statement)
    as_role = job.target.model_copy(update={"url": make_conninfo(target_url, user=role)})
    limited = job.model_copy(update={"target": as_role})
    try:
        assert [f.status for f in diagnose(limited) if f.name == "permissions"] == ["ok"]
        first, second = run(limited), run(limited)
        assert first.entities["account"]["inserted"] == 9 and second.entities["account"]["unchanged"] == 9
    finally:
        with psycopg.connect(target_url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_two_jobs_with_accounts_into_one_empty_target_take_turns(target_url, write_job, tmp_path):
    """Both bulk-load the same empty tables at once: the second waits for the first, neither deadlocks."""
    import threading

    jobs = []
    for n, prefix in enumerate(("A", "B")):
        folder = tmp_path / prefix
        folder.mkdir()
        rows = [line for line in SAMPLES.joinpath("case_study_sample.csv").read_text().splitlines() if line]
        body = [rows[0]] + [f"{prefix}{line.replace('ACCT-', f'ACCT-{n}').replace('MTR-', f'MTR-{n}')}"
                            for line in rows[1:]]
        (folder / "consumers.csv").write_text("\n".join(body) + "\n")
        jobs.append(load_job(write_job(name=f"job-{prefix}", source={"csv": str(folder / "consumers.csv")},
                                       target={"url": target_url}, accounts={}, crosswalks=CROSSWALKS,
                                       report_dir=str(folder / "reports"))))
    with target_connection(jobs[0].target) as conn:
        migrate(conn, jobs[0].target)
    (tmp_path / "plans.csv").write_text(PLANS)
    path = write_job(source={"csv": "x.csv"}, target={"url": target_url})
    assert CliRunner().invoke(main, ["load-reference", "-c", str(path), str(tmp_path / "plans.csv")]).exit_code == 0
    outcomes: dict[str, object] = {}

    def go(job):
        try:
            outcomes[job.name] = run(job).entities["account"]["inserted"]
        except BaseException as exc:  # noqa: BLE001 - the assertion below shows it
            outcomes[job.name] = exc

    threads = [threading.Thread(target=go, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == {"job-A": 9, "job-B": 9}


def test_drift_in_an_entity_table_stops_the_run_before_it_writes(account_job, target_url):
    from smart360_etl.run.drift import SchemaDrift

    job = account_job()
    run(job)
    with psycopg.connect(target_url) as conn:
        conn.execute("ALTER TABLE smart360.meter DROP COLUMN unit")
        conn.execute("ALTER TABLE smart360.account ADD COLUMN region_code text NOT NULL DEFAULT 'X'")
        conn.execute("ALTER TABLE smart360.account ALTER COLUMN region_code DROP DEFAULT")
        conn.execute("ALTER TABLE smart360.consumption_reading ADD COLUMN note text")  # nullable: harmless
    before = query(target_url, "SELECT count(*), max(updated_at) FROM smart360.account")
    with pytest.raises(SchemaDrift) as error:
        run(job)
    message = str(error.value)
    assert "target column smart360.meter.unit is gone" in message
    assert "smart360.account.region_code is new, NOT NULL and has no default" in message
    assert "consumption_reading.note" not in message
    assert query(target_url, "SELECT count(*), max(updated_at) FROM smart360.account") == before
