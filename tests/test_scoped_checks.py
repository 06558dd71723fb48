"""Checks scoped to the rows a run wrote find what a whole-target pass finds on those rows.

Property: on a target with failures planted in rows the run wrote and in rows it did not (every row
check's kind, shared contacts, the same person twice, a repeated id where there is no primary key), the
scoped pass reports, for each check, exactly the whole-target pass's failures among the written rows.
End to end: a later run's report names each check's scope; a first load and --full-refresh check all.
"""

from __future__ import annotations

import csv
import random

import psycopg
import pytest
from psycopg import sql

from smart360_etl.checks.context import CheckContext
from smart360_etl.checks.runner import configured_checks, run_checks
from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.load.consumers import WRITTEN
from smart360_etl.load.schema import migrate
from smart360_etl.run.pipeline import run
from tests.test_duplicates import FIRST, LAST, STREETS, typo

COLUMNS = ("consumer_id", "first_name", "last_name", "address_line_1", "city", "state", "zip_code", "phone_number",
           "email_address")
# Springfield, Illinois: its ZIP codes and a real neighbour's, so that the gazetteer check has work too
PLACES = [("Springfield", "62701"), ("Springfield", "62704"), ("Chatham", "62629"), ("Rochester", "62563")]


def planted(rng: random.Random, rows: int, repeat_ids: bool) -> list[dict]:
    """Consumers of Springfield, IL; about half carry one planted failure."""
    people: list[dict] = []
    shared_phone = f"+1217{rng.randint(2000000, 9999999)}"
    for n in range(rows):
        city, zip_code = rng.choice(PLACES)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        person = {
            "consumer_id": f"C{n:04d}",
            "first_name": first,
            "last_name": last,
            "address_line_1": f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
            "city": city,
            "state": "IL",
            "zip_code": zip_code,
            "phone_number": f"+1217{rng.randint(2000000, 9999999)}",
            "email_address": f"{first}.{last}{n}@example.com".lower(),
        }
        fault = rng.randrange(20)
        if fault == 0:
            person["first_name"] = rng.choice(["", "  ", None])
        elif fault == 1:
            person["phone_number"] = rng.choice(["217-555-0100", "+1123", "+12175550"])
        elif fault == 2:
            person["email_address"] = rng.choice(["ann@@example.com", "a..b@example.com", "x@Example.COM"])
        elif fault == 3:
            person["zip_code"] = rng.choice(["6270", "ABCDE"])
        elif fault == 4:
            person["state"] = rng.choice(["XX", "TX"])  # unknown, or not the ZIP code's state
        elif fault == 5:
            person["city"] = "Peoria"  # not a place of its ZIP code
        elif fault in (6, 7):
            person["phone_number"] = shared_phone
        elif fault in (8, 9, 10) and people:  # someone already here again, written a little differently
            other = rng.choice(people)
            person.update({k: other[k] for k in ("address_line_1", "zip_code", "city", "phone_number")})
            person["first_name"] = other["first_name"]
            person["last_name"] = typo(other["last_name"], rng) if other["last_name"] else None
        elif fault == 11 and repeat_ids and people:
            person["consumer_id"] = rng.choice(people)["consumer_id"]
        people.append(person)
    return people


def failing_ids(conn, ctx: CheckContext, name: str) -> set[str]:
    """The ids the whole-target pass's condition for a row check finds."""
    rows = conn.execute(sql.SQL("SELECT consumer_id FROM {} WHERE {}").format(ctx.consumer, ctx.predicates[name]))
    return {row[0] for row in rows}


def pairs(conn, check_id: str) -> set[tuple[str, str]]:
    query = "SELECT consumer_id_a, consumer_id_b FROM smart360_etl.duplicate_candidate WHERE run_id = %s"
    return set(conn.execute(query, [check_id]).fetchall())


@pytest.fixture
def job(target_url, write_job, tmp_path):
    (tmp_path / "x.csv").write_text("Consumer ID\n1\n")
    job = load_job(write_job(source={"csv": "x.csv"}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return job


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("primary_key", [True, False])
def test_scoped_checks_find_the_whole_pass_failures_among_the_written_rows(job, seed, primary_key):
    rng = random.Random(seed)
    people = planted(rng, 400, repeat_ids=not primary_key)
    written = {p["consumer_id"] for p in people if rng.random() < 0.25}
    if primary_key:  # one row per id, as the key demands
        people = list({p["consumer_id"]: p for p in people}.values())
    checks = configured_checks(job.checks)
    with target_connection(job.target) as conn, conn.transaction(force_rollback=True):
        conn.execute("ALTER TABLE smart360.consumer ALTER COLUMN first_name DROP NOT NULL")  # a blank name loaded
        if not primary_key:
            conn.execute("ALTER TABLE smart360.consumer DROP CONSTRAINT consumer_pkey CASCADE")
        with conn.cursor().copy(sql.SQL("COPY smart360.consumer ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        )) as copy:
            for person in people:
                copy.write_row([person[c] for c in COLUMNS])
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (consumer_id text) ON COMMIT DROP").format(WRITTEN))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(WRITTEN)) as copy:
            for consumer_id in written:
                copy.write_row([consumer_id])

        whole = CheckContext(conn, job.target, job.region_config(), "whole")
        whole_outcomes = {o.name: o for o in run_checks(whole, checks)}
        scoped = CheckContext(conn, job.target, job.region_config(), "scoped", scoped=True)
        scoped_outcomes = {o.name: o for o in run_checks(scoped, checks)}

        in_scope = sum(1 for p in people if p["consumer_id"] in written)
        row_checks = [c.name for c in checks if c.predicate is not None and c.predicate in whole.predicates]
        assert len(row_checks) >= 9
        for name in row_checks:
            outcome = scoped_outcomes[name]
            expected = [p for p in people if p["consumer_id"] in written]
            found = failing_ids(conn, whole, name) & written
            assert outcome.scope == "written" and outcome.total == in_scope == len(expected), name
            # counted per row: a repeated id counts once per row that fails
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE consumer_id = ANY(%s) AND {}").format(
                whole.consumer, whole.predicates[name]), [list(found)]).fetchone()[0]
            assert outcome.failing == rows, name
            assert set(outcome.sample) <= found, name
        assert whole_outcomes["phone_number_format"].failing > scoped_outcomes["phone_number_format"].failing > 0

        full_pairs, scoped_pairs = pairs(conn, "whole"), pairs(conn, "scoped")
        assert scoped_pairs == {(a, b) for a, b in full_pairs if a in written or b in written}
        assert scoped_pairs and full_pairs - scoped_pairs, "the seed plants pairs in and out of scope"
        assert scoped_outcomes["likely_duplicate_consumers"].scope == "written"

        # a phone shared by more than 3 consumers, counted over the whole table, for the values written rows have
        by_phone: dict[str, set[str]] = {}
        for p in people:
            if p["phone_number"]:
                by_phone.setdefault(p["phone_number"], set()).add(p["consumer_id"])
        shared = [ids for phone, ids in by_phone.items()
                  if sum(1 for q in people if q["phone_number"] == phone) > 3 and ids & written]
        assert scoped_outcomes["shared_phone_number"].failing == len(shared)

        unique = scoped_outcomes["consumer_id_unique"]
        if primary_key:
            assert unique.scope == "constraint" and unique.failing == 0
        else:
            repeated = {i for i in written if sum(1 for p in people if p["consumer_id"] == i) > 1}
            assert unique.scope == "written" and unique.failing == len(repeated)
            assert whole_outcomes["consumer_id_unique"].failing >= unique.failing

        city = scoped_outcomes["city_matches_postal_code"]
        assert 0 < city.failing < whole_outcomes["city_matches_postal_code"].failing
        assert set(city.sample) <= written


def write_csv(path, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Consumer ID", "Name", "Address", "Contact Number", "Email Address"])
        writer.writerows(rows)


def test_a_later_run_checks_what_it_wrote_and_says_so(target_url, write_job, tmp_path):
    source = tmp_path / "people.csv"
    rows = [(n, f"{FIRST[n % 20]} {LAST[n // 20]}", f"{n} Oak St, Springfield, IL 62704", f"(217) 555-{n:04d}",
             f"p{n}@example.com") for n in range(1, 201)]
    write_csv(source, rows)
    job = load_job(write_job(source={"csv": str(source)}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    first = run(job)
    assert first.check_scope == "target"
    assert {c["scope"] for c in first.checks if c["name"] == "first_name_present"} == {"target"}

    rows[10] = (11, "Changed Person", *rows[10][2:])
    rows.append((999, "New Person", "999 Elm St, Springfield, IL 62704", "(217) 555-0999", "new@example.com"))
    write_csv(source, rows)
    later = run(job)
    assert later.counts["inserted"] == 1 and later.counts["updated"] == 1
    scopes = {c["name"]: c["scope"] for c in later.checks}
    assert later.check_scope == "written"
    assert scopes["first_name_present"] == scopes["likely_duplicate_consumers"] == "written"
    assert scopes["record_count_reconciles"] == scopes["reject_rate"] == "run"
    assert scopes["consumer_id_unique"] == "constraint"
    assert {c["total"] for c in later.checks if c["name"] in ("first_name_present", "phone_number_format")} == {2}
    page = (tmp_path / "reports" / f"{later.run_id}.html").read_text()
    assert "the consumers this run inserted or updated" in page and ">written<" in page

    refreshed = run(job, full_refresh=True)
    assert refreshed.check_scope == "target"
    assert {c["total"] for c in refreshed.checks if c["name"] == "first_name_present"} == {201}
    with psycopg.connect(target_url) as conn:  # the duplicate finder stored each run's own pairs
        assert conn.execute("SELECT count(*) FROM smart360_etl.run WHERE status = 'ok'").fetchone()[0] == 3
