"""End to end on a real PostgreSQL: source -> run -> SMART360 target, and everything the run promises."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import psycopg
import pytest

from smart360_etl.config import FieldSpec, load_job
from smart360_etl.db import target_connection
from smart360_etl.demo.job import create_demo_source
from smart360_etl.errors import (
    ConfigError,
    ReconciliationError,
    RunBlocked,
    RunLocked,
    SourceError,
    StageFailed,
    TargetNotInitialised,
)
from smart360_etl.load.schema import MIGRATIONS, migrate, pending_migrations
from smart360_etl.mapping.fields import build_rules, mapping_notes
from smart360_etl.run.context import RunHooks
from smart360_etl.run.pipeline import run

from .conftest import DEMO_ROWS, SAMPLES

ROWS = DEMO_ROWS


def consumers(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT consumer_id, first_name, middle_name, last_name, address_line_1, city, state, "
            "zip_code, phone_number, email_address FROM smart360.consumer"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_demo_data_lands_and_reconciles(demo_job, target_url):
    result = run(demo_job)
    c = result.counts
    assert c["extracted"] == ROWS
    assert c["extracted"] == c["inserted"] + c["updated"] + c["unchanged"] + c["rejected"]
    assert 0.02 * ROWS <= c["rejected"] <= 0.05 * ROWS
    assert set(result.rejects_by_reason) <= {"name_incomplete", "address_unparsed", "consumer_id_duplicate"}
    loaded = consumers(target_url)
    assert len(loaded) == c["inserted"]
    with psycopg.connect(target_url) as conn:
        stored = conn.execute("SELECT count(*) FROM smart360_etl.reject WHERE run_id = %s", [result.run_id]).fetchone()[
            0
        ]
        ledger = conn.execute(
            "SELECT status, extracted, inserted, rejected FROM smart360_etl.run WHERE run_id = %s", [result.run_id]
        ).fetchone()
    assert stored == c["rejected"]
    assert ledger == ("ok", ROWS, c["inserted"], c["rejected"])
    report = json.loads(open(result.report_path).read())
    assert (
        report["counts"] == c and report["status"] == "ok" and report["rejects_by_reason"] == result.rejects_by_reason
    )
    assert {"run_id", "duration_s", "warnings_by_reason", "checks"} <= set(report)


def test_second_run_changes_nothing_and_ten_edits_update_ten(demo_job, source_url, target_url):
    first = run(demo_job)
    second = run(demo_job)
    assert (second.counts["inserted"], second.counts["updated"]) == (0, 0)
    assert second.counts["unchanged"] == first.counts["inserted"]
    with psycopg.connect(source_url) as conn:
        conn.execute(
            "UPDATE consumer_data SET email_address = 'changed' || consumer_id || '@example.org' "
            "WHERE consumer_id IN (SELECT consumer_id FROM consumer_data GROUP BY consumer_id "
            "HAVING count(*) = 1 AND bool_and(name ~ '^[A-Z][a-z]+ [A-Z][a-z]+$' AND address ~ ', [A-Z]{2} ') "
            "ORDER BY consumer_id LIMIT 10)"
        )
    third = run(demo_job)
    assert third.counts["updated"] == 10 and third.counts["inserted"] == 0
    assert third.counts["unchanged"] == first.counts["inserted"] - 10


def test_rejects_keep_every_reason_and_the_source_row(demo_job, source_url, target_url):
    with psycopg.connect(source_url) as conn:
        conn.execute("INSERT INTO consumer_data (consumer_id, name, address) VALUES (NULL, 'Madonna', NULL)")
    result = run(demo_job)
    with psycopg.connect(target_url) as conn:
        reasons, row = conn.execute(
            "SELECT reasons, source_row FROM smart360_etl.reject WHERE run_id = %s AND consumer_id IS NULL",
            [result.run_id],
        ).fetchone()
    assert reasons == ["consumer_id_missing", "name_incomplete", "address_unparsed"]
    assert row["name"] == "Madonna" and row["consumer_id"] is None


def test_duplicate_ids_are_all_rejected_even_across_batches(source_url, target_url, write_job):
    with psycopg.connect(source_url) as conn:
        conn.execute("CREATE TABLE legacy (id text, name text, address text)")
        conn.execute("INSERT INTO legacy SELECT g::text, 'Ann Lee', g || ' Main St' FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO legacy VALUES ('7', 'Bob Ray', '1 Oak St'), (' 7 ', 'Cy Dee', '2 Oak St')")
    job = load_job(
        write_job(
            source={"url": source_url, "table": "legacy", "batch_size": 10},
            target={"url": target_url},
            mapping={"consumer_id": {"from": "id"}, "phone_number": None, "email_address": None},
        )
    )
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    result = run(job)
    assert result.rejects_by_reason == {"consumer_id_duplicate": 3}
    assert "7" not in consumers(target_url) and len(consumers(target_url)) == 49


def test_a_value_too_long_for_its_target_column_rejects_the_row_not_the_run(source_url, target_url, write_job):
    with psycopg.connect(source_url) as conn:
        conn.execute("CREATE TABLE legacy (id text, name text, address text)")
        conn.execute("INSERT INTO legacy VALUES ('1', 'Ann Lee', '1 Main St'), ('2', 'Maximiliana Lee', '2 Oak St')")
    job = load_job(
        write_job(
            source={"url": source_url, "table": "legacy"},
            target={"url": target_url},
            mapping={"consumer_id": "id", "phone_number": None, "email_address": None},
        )
    )
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
        conn.execute("ALTER TABLE smart360.consumer ALTER COLUMN first_name TYPE varchar(10)")  # a real SMART360
    result = run(job)
    assert result.status == "ok" and result.rejects_by_reason == {"value_too_long": 1}
    assert list(consumers(target_url)) == ["1"]


def test_csv_and_postgres_sources_give_the_same_target(demo_job, source_url, new_database, write_job, tmp_path):
    csv_path = tmp_path / "export.csv"
    with psycopg.connect(source_url) as conn, open(csv_path, "wb") as out:
        with conn.cursor().copy("COPY consumer_data TO STDOUT (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                out.write(block)
    run(demo_job)
    csv_target = new_database()
    csv_job = load_job(write_job(source={"csv": str(csv_path), "batch_size": 500}, target={"url": csv_target}))
    with target_connection(csv_job.target) as conn:
        migrate(conn, csv_job.target)
    run(csv_job)
    assert consumers(csv_target) == consumers(demo_job.target.url)


def test_case_study_sample_keeps_street_only_addresses(target_url, write_job):
    job = load_job(write_job(source={"csv": str(SAMPLES / "case_study_sample.csv")}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    result = run(job)
    assert result.counts["inserted"] == 13 and result.counts["rejected"] == 0
    assert result.warnings_by_reason == {"phone_invalid": 13}  # 555 numbers are not valid NANP numbers
    john = consumers(target_url)["1"]
    assert john == ("John", None, "Doe", "123 Main St", None, None, None, None, "johndoe@example.com")
    # every nulled phone is kept with its source value, per row, queryable like the rejects
    with psycopg.connect(target_url) as conn:
        warnings = conn.execute(
            "SELECT consumer_id, reason, field, source_column, source_value FROM smart360_etl.warning "
            "WHERE run_id = %s ORDER BY source_row_number",
            [result.run_id],
        ).fetchall()
    assert len(warnings) == 13 and {w[1:4] for w in warnings} == {("phone_invalid", "phone_number", "Contact Number")}
    assert warnings[0][0] == "1" and warnings[0][4].startswith("555")


def test_dry_run_leaves_the_target_unchanged(demo_job, target_url):
    result = run(demo_job, dry_run=True)
    assert result.status == "dry_run" and result.counts["inserted"] > 0
    assert consumers(target_url) == {}
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM smart360_etl.run").fetchone()[0] == 0


def test_a_failure_mid_load_rolls_everything_back(demo_job, source_url, target_url):
    run(demo_job)
    before = consumers(target_url)
    with psycopg.connect(source_url) as conn:  # changes to existing rows, and a new row the target refuses
        conn.execute(
            "UPDATE consumer_data SET email_address = 'new' || consumer_id || '@example.org' WHERE consumer_id < 100100"
        )
        conn.execute(
            "INSERT INTO consumer_data (consumer_id, name, address) "
            "VALUES (999999, 'Ann Lee', '1 Oak St, Austin, TX 78701')"
        )
    with psycopg.connect(target_url) as conn:  # a rule of the target, as a real SMART360 might have
        conn.execute("ALTER TABLE smart360.consumer ADD CONSTRAINT no_austin CHECK (city <> 'Austin') NOT VALID")
    with pytest.raises(StageFailed) as failure:
        run(demo_job)
    assert failure.value.stage == "load" and "no_austin" in str(failure.value)
    assert consumers(target_url) == before
    report = json.loads((demo_job.report_dir / f"{failure.value.run_id}.json").read_text())
    assert "no_austin" in report["error"] and "Ann Lee" not in report["error"] and "values hidden" in report["error"]
    with psycopg.connect(target_url) as conn:
        status, error = conn.execute(
            "SELECT status, error FROM smart360_etl.run ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        rejects = conn.execute("SELECT count(DISTINCT run_id) FROM smart360_etl.reject").fetchone()[0]
    assert status == "failed" and "no_austin" in error and "1 Oak St" not in error and rejects == 1


def test_a_lost_row_fails_the_reconciliation_and_nothing_is_kept(demo_job, target_url):
    rejects = demo_job.target.table("reject")

    def lose_one_row(table, frame):  # a fault: one clean row never reaches the database
        return frame.head(-1) if table != rejects and frame.height else frame

    with pytest.raises(StageFailed) as failure:
        run(demo_job, hooks=RunHooks(before_copy=lose_one_row))
    assert failure.value.stage == "reconcile" and isinstance(failure.value.cause, ReconciliationError)
    assert consumers(target_url) == {}
    report = json.loads(next((demo_job.report_dir).glob("*.json")).read_text())
    assert report["status"] == "failed" and "do not reconcile" in report["error"]


def test_second_concurrent_run_refuses_at_once(demo_job, target_url):
    with psycopg.connect(target_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"smart360-etl:run:{demo_job.name}"])
        outcome: list[BaseException] = []
        worker = threading.Thread(target=lambda: _capture(outcome, demo_job))
        worker.start()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(outcome[0], RunLocked) and demo_job.name in str(outcome[0])
    report = json.loads(next(demo_job.report_dir.glob("*.json")).read_text())
    assert report["status"] == "failed" and "another run" in report["error"]


def test_a_run_waits_for_the_lock_when_asked(demo_job, target_url):
    """`run --wait`: a run killed a moment ago holds the job's lock until its session is gone."""
    holder = psycopg.connect(target_url)
    holder.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"smart360-etl:run:{demo_job.name}"])
    threading.Timer(1.0, holder.close).start()
    result = run(demo_job, lock_wait_s=20)
    assert result.status == "ok" and result.counts["inserted"] > 0


def test_runs_left_running_by_a_killed_process_are_marked_abandoned(demo_job, target_url):
    from smart360_etl.load import ledger

    started = datetime.now(timezone.utc)
    ledger.record_start_apart(demo_job.target.url, demo_job.target, "killed-run", demo_job.name, started)
    ledger.record_start_apart(demo_job.target.url, demo_job.target, "other-job", "another-job", started)
    result = run(demo_job)
    with psycopg.connect(target_url) as conn:
        statuses = dict(conn.execute("SELECT run_id, status FROM smart360_etl.run").fetchall())
    assert statuses == {"killed-run": "abandoned", "other-job": "running", result.run_id: "ok"}


def _capture(outcome: list, job) -> None:
    try:
        run(job)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        outcome.append(exc)


def test_run_on_an_uninitialised_target_says_to_init(source_url, target_url, write_job):
    create_demo_source(source_url, 10)
    job = load_job(write_job(source={"url": source_url, "table": "consumer_data"}, target={"url": target_url}))
    with pytest.raises(TargetNotInitialised, match="smart360-etl init"):
        run(job)


def test_init_is_idempotent(target_url, write_job, tmp_path):
    (tmp_path / "x.csv").write_text("a\n1\n")
    job = load_job(write_job(source={"csv": "x.csv"}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        assert migrate(conn, job.target) == [version for version, _, _ in MIGRATIONS]
        with conn.cursor() as cur:
            cur.execute(
                "SELECT md5(string_agg(table_name || column_name || data_type, ',' ORDER BY 1)) "
                "FROM information_schema.columns WHERE table_schema IN ('smart360', 'smart360_etl')"
            )
            shape = cur.fetchone()
        assert migrate(conn, job.target) == []
        assert (
            conn.execute(
                "SELECT md5(string_agg(table_name || column_name || data_type, ',' ORDER BY 1)) "
                "FROM information_schema.columns WHERE table_schema IN ('smart360', 'smart360_etl')"
            ).fetchone()
            == shape
        )
        assert pending_migrations(conn, job.target) == []


def test_init_creates_a_second_target_schema_beside_the_first(demo_job, write_job):
    """Side-by-side mock loads in one database: one ETL schema, a target schema each."""
    other = load_job(write_job(source=demo_job.source.model_dump(exclude_none=True), target={
        "url": demo_job.target.url, "schema": "mock_2"}))
    with target_connection(other.target) as conn:
        assert pending_migrations(conn, other.target) == [version for version, _, _ in MIGRATIONS]
        assert migrate(conn, other.target) == [version for version, _, _ in MIGRATIONS]
        assert pending_migrations(conn, other.target) == pending_migrations(conn, demo_job.target) == []
    first, second = run(demo_job), run(other)
    assert first.counts["inserted"] == second.counts["inserted"] > 0
    with target_connection(other.target) as conn:
        assert conn.execute("SELECT count(*) FROM mock_2.consumer").fetchone()[0] == second.counts["inserted"]


def test_a_ledger_from_before_per_schema_migrations_still_counts_for_its_schema(demo_job):
    with target_connection(demo_job.target) as conn:
        conn.execute("UPDATE smart360_etl.schema_migration SET target_schema = NULL")
        assert pending_migrations(conn, demo_job.target) == []
        assert migrate(conn, demo_job.target) == []


def test_common_column_names_are_found_for_every_field_split_out_of_them():
    rules = build_rules({}, ["cust_id", "full_name", "street_address", "phone", "email"])
    by_field = {rule.target: rule.column for rule in rules}
    assert {by_field[f] for f in ("title", "first_name", "middle_name", "last_name", "suffix")} == {"full_name"}
    assert {by_field[f] for f in ("address_line_1", "address_line_2", "city", "state", "zip_code")} == {
        "street_address"}
    assert (by_field["consumer_id"], by_field["phone_number"], by_field["phone_extension"],
            by_field["email_address"]) == ("cust_id", "phone", "phone", "email")


def test_every_missing_column_is_named_once_with_a_whole_fix():
    with pytest.raises(SourceError) as error:
        build_rules({}, ["Consumer ID", "fullnam", "Adress Line", "Contact Number", "Email Address"])
    message = str(error.value)
    assert message.startswith("2 source columns are missing")
    assert message.count("\n  - ") == 2  # a line per source column, not one per field
    assert "write `columns: {Name: fullnam}`" in message and "write `columns: {Address: Adress Line}`" in message


def test_a_suggestion_never_names_a_column_another_field_uses():
    with pytest.raises(SourceError) as error:
        build_rules({}, ["cust_id", "full_name", "street_address", "phone"])  # no e-mail column
    assert "did you mean" not in str(error.value) and "`columns: {Email Address: <column>}`" in str(error.value)


def test_a_columns_entry_points_every_split_field_at_the_column():
    rules = build_rules({}, ["id", "Customer", "Premise", "Tel", "Mail"], columns={
        "consumer id": "id", "Name": "Customer", "Address": "Premise"})
    assert {r.column for r in rules if r.transform.startswith("name.")} == {"Customer"}
    with pytest.raises(ConfigError, match="unknown case-study column `columns.Nmae`"):
        build_rules({}, ["id"], columns={"Nmae": "id"})


def test_a_split_field_mapped_for_some_parts_only_is_a_warning_naming_the_empty_parts():
    spec = {"from": "nm", "transform": "name.first"}
    overrides = {"first_name": FieldSpec(**spec), "last_name": FieldSpec(**{**spec, "transform": "name.last"})}
    notes = mapping_notes(overrides, ["cust_id", "nm", "Address", "phone", "email"])
    problems = [text for problem, text in notes if problem]
    assert len(problems) == 1 and "title, middle_name, suffix" in problems[0]
    assert "write `columns: {Name: nm}`" in problems[0]


def test_missing_source_column_is_reported_before_any_write(source_url, target_url, write_job):
    with psycopg.connect(source_url) as conn:
        conn.execute("CREATE TABLE legacy (consumer_id text, name text, address text, tel_no text, email_address text)")
    job = load_job(write_job(source={"url": source_url, "table": "legacy"}, target={"url": target_url},
                             checks={"phone_number_formt": {"enabled": False}}))
    with pytest.raises(RunBlocked) as error:  # every problem at once: the target is not initialised either
        run(job)
    message = str(error.value)
    assert message.startswith("3 problems stop the run before it writes anything")
    assert "column `Contact Number`" in message and "columns: {Contact Number: tel_no}" in message
    assert "smart360-etl init" in message and "did you mean `phone_number_format`?" in message
    with psycopg.connect(target_url) as conn:
        assert (
            conn.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'smart360'").fetchone()[
                0
            ]
            == 0
        )


def test_mapping_override_reads_separate_columns(source_url, target_url, write_job):
    with psycopg.connect(source_url) as conn:
        conn.execute(
            "CREATE TABLE legacy (cust_no int, given text, surname text, street text, town text, "
            "st text, postcode text, tel text, mail text)"
        )
        conn.execute(
            "INSERT INTO legacy VALUES (1, 'ada', 'LOVELACE', '12 Oak St', 'Albany', 'NY', '12207', "
            "'(518) 473-1234', 'Ada@Example.COM'), (2, NULL, 'Solo', '1 Elm St', NULL, NULL, NULL, NULL, NULL)"
        )
    mapping = {
        "consumer_id": {"from": "cust_no"},
        "first_name": {"from": "given"},
        "last_name": {"from": "surname"},
        "address_line_1": {"from": "street"},
        "city": {"from": "town"},
        "state": {"from": "st"},
        "zip_code": {"from": "postcode"},
        "phone_number": {"from": "tel"},
        "email_address": {"from": "mail"},
    }
    job = load_job(
        write_job(source={"url": source_url, "table": "legacy"}, target={"url": target_url}, mapping=mapping)
    )
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    result = run(job)
    assert consumers(target_url) == {
        "1": ("ada", None, "LOVELACE", "12 Oak St", "Albany", "NY", "12207", "+15184731234", "Ada@example.com")
    }
    assert result.rejects_by_reason == {"name_incomplete": 1}


def test_unknown_mapping_field_is_a_config_error(source_url, target_url, write_job):
    create_demo_source(source_url, 5)
    job = load_job(
        write_job(
            source={"url": source_url, "table": "consumer_data"},
            target={"url": target_url},
            mapping={"frist_name": {"from": "name"}},
        )
    )
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    with pytest.raises(ConfigError, match="did you mean `first_name`"):
        run(job)


def test_a_csv_that_changes_during_the_run_stops_it(target_url, write_job, tmp_path, monkeypatch):

    path = tmp_path / "c.csv"
    path.write_text(SAMPLES.joinpath("case_study_sample.csv").read_text().rstrip("\n") + "\n")
    job = load_job(write_job(source={"csv": str(path)}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    def then_append(event):  # another process appends a row between the two passes
        if event == "load":
            with open(path, "a") as handle:
                handle.write("14,Late Comer,1 Oak St,,,,,,,\n")

    with pytest.raises(StageFailed, match="changed while it was being read"):
        run(job, hooks=RunHooks(at=then_append))
    assert consumers(target_url) == {}


def test_an_interrupted_run_is_rolled_back_and_recorded(demo_job, target_url):
    def interrupt(event):
        if event == "load":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(demo_job, hooks=RunHooks(at=interrupt))
    assert consumers(target_url) == {}
    with psycopg.connect(target_url) as conn:
        status, error = conn.execute("SELECT status, error FROM smart360_etl.run").fetchone()
    assert status == "failed" and error.startswith("interrupted (KeyboardInterrupt)")


def test_one_bad_value_costs_its_row_not_the_run(target_url, write_job, tmp_path):
    """Hostile records: a 3,000-character and a 1 MB id (over PostgreSQL's btree limit), a 100,000-character
    name, a byte that is not UTF-8; each is rejected with its reason and row number, the rest loads."""
    good = "".join(f"{n},Ann Lee {n},{n} Oak St,+1 312 555 01{n:02d},a{n}@example.com\n" for n in range(1, 6))
    hostile = (
        f"{'9' * 3000},Bo Ek,1 Elm St,,\n".encode()
        + f"{'8' * 1_000_000},Cy Li,2 Elm St,,\n".encode()
        + f"77,{'Dee ' * 25_000},3 Elm St,,\n".encode()
        + b"78,Zo" + "ë".encode("latin-1") + b" Ng,4 Elm St,,\n"
    )
    header = b"Consumer ID,Name,Address,Contact Number,Email Address\n"
    (tmp_path / "c.csv").write_bytes(header + good.encode() + hostile)
    job = load_job(write_job(source={"csv": "c.csv"}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    result = run(job)
    assert result.counts["inserted"] == 5 and result.counts["rejected"] == 4
    with target_connection(job.target) as conn:
        rejects = dict(conn.execute(
            "SELECT source_row_number, reasons FROM smart360_etl.reject WHERE run_id = %s", [result.run_id]).fetchall())
    assert {n: ("value_too_long" in r, "encoding_invalid" in r) for n, r in rejects.items()} == {
        6: (True, False), 7: (True, False), 8: (True, False), 9: (False, True)}


def test_source_encoding_is_refused_for_a_database_source(write_job):
    path = write_job(source={"url": "postgresql://h/db", "table": "t", "encoding": "latin-1"},
                     target={"url": "postgresql://h/db"})
    with pytest.raises(ConfigError, match="`source.encoding` is for CSV files"):
        load_job(path)


def test_validate_never_waits_silently_on_a_run(demo_job, target_url):
    from smart360_etl.errors import TargetError
    from smart360_etl.run.queries import validate

    run(demo_job)
    with psycopg.connect(target_url) as holder:  # a run of this job in progress
        holder.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"smart360-etl:run:{demo_job.name}"])
        with pytest.raises(RunLocked):
            validate(demo_job)
    with psycopg.connect(target_url) as holder:  # another job's bulk load holding the consumer table
        holder.execute("LOCK TABLE smart360.consumer IN SHARE ROW EXCLUSIVE MODE")
        with pytest.raises(TargetError, match="validate waited 1 s .* run validate when that run ends"):
            validate(demo_job, lock_wait_s=1)
    outcomes, _ = validate(demo_job)
    assert outcomes
