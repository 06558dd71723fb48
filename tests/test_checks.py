"""Each check passes on good data and fails on bad data, on a real PostgreSQL target, which (like a real
SMART360 database) may lack our constraints."""

from __future__ import annotations

import psycopg
import pytest

from smart360_etl.checks import Check, judge
from smart360_etl.checks.builtin import record_count
from smart360_etl.checks.context import CheckContext, RunFacts
from smart360_etl.checks.runner import configured_checks, run_checks
from smart360_etl.config import CheckSetting, load_job
from smart360_etl.db import target_connection
from smart360_etl.demo.job import create_demo_source
from smart360_etl.errors import ConfigError
from smart360_etl.load.schema import migrate
from smart360_etl.run.pipeline import run

GOOD = ("100", "Ann", "Lee", "12 Oak St", "Springfield", "IL", "62704", "+12124567890", "ann.lee@example.com")
COLUMNS = "consumer_id, first_name, last_name, address_line_1, city, state, zip_code, phone_number, email_address"


@pytest.fixture
def target(target_url, write_job, tmp_path):
    (tmp_path / "x.csv").write_text("Consumer ID\n1\n")
    job = load_job(write_job(source={"csv": "x.csv"}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
        # a real SMART360 database need not have our constraints: the checks must not rely on them
        conn.execute("ALTER TABLE smart360.consumer DROP CONSTRAINT consumer_pkey CASCADE")
        for column in ("consumer_id", "first_name", "last_name", "address_line_1"):
            conn.execute(f"ALTER TABLE smart360.consumer ALTER COLUMN {column} DROP NOT NULL")
        conn.commit()
    return job


def outcomes(job, *rows):
    with target_connection(job.target) as conn:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO smart360.consumer ({COLUMNS}) VALUES ({', '.join(['%s'] * 9)})", rows)
        conn.commit()
        with conn.transaction():
            ctx = CheckContext(conn, job.target, job.region_config(), "validate-test")
            return {o.name: o for o in run_checks(ctx, configured_checks(job.checks))}


def variant(n: int, **changes) -> tuple:
    values = dict(zip(COLUMNS.split(", "), GOOD))
    values.update(
        consumer_id=str(n),
        phone_number=f"+1212456{n:04d}",
        email_address=f"c{n}@example.com",
        first_name=["Ann", "Bob", "Cy", "Di", "Ed", "Flo"][n % 6],
        address_line_1=f"{n} Oak St",
    )
    values.update(changes)
    return tuple(values.values())


GOOD_ROWS = [variant(n) for n in range(1, 6)]

BAD = {
    "consumer_id_not_null": variant(9, consumer_id=None),
    "consumer_id_unique": variant(1),
    "first_name_present": variant(9, first_name="  "),
    "last_name_present": variant(9, last_name=None),
    "address_line_1_present": variant(9, address_line_1=""),
    "phone_number_format": variant(9, phone_number="555-123-4567"),
    "email_address_format": variant(9, email_address="ann@@Example.COM"),
    "zip_code_format": variant(9, zip_code="6270"),
    "state_known": variant(9, state="XX"),
    "zip_code_matches_state": variant(9, state="TX", zip_code="62704"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_row_and_integrity_checks_pass_then_fail(target, name):
    assert outcomes(target, *GOOD_ROWS)[name].status == "pass"
    failed = outcomes(target, BAD[name])[name]
    assert failed.status == ("fail" if name.startswith(("consumer_id", "first", "last", "address")) else "warn")
    assert failed.failing == 1 and failed.sample in (["9"], ["1"], ["(no id)"])


def test_phone_of_another_country_is_only_held_to_e164(target):
    assert outcomes(target, variant(1, phone_number="+442079460958"))["phone_number_format"].status == "pass"


@pytest.mark.parametrize("column", ["phone_number", "email_address"])
def test_shared_contact_over_the_limit(target, column):
    shared = {"phone_number": "+12124569999", "email_address": "family@example.com"}[column]
    name = "shared_" + column
    assert outcomes(target, *[variant(n, **{column: shared}) for n in range(1, 4)])[name].status == "pass"
    assert outcomes(target, variant(4, **{column: shared}))[name].status == "warn"


def test_thresholds_severity_and_switching_off_come_from_the_job(target):
    job = target.model_copy(
        update={
            "checks": {
                "phone_number_format": CheckSetting(severity="fail", threshold=2),
                "state_known": CheckSetting(enabled=False),
            }
        }
    )
    found = outcomes(job, variant(1, phone_number="bad", state="XX"))
    assert found["phone_number_format"].severity == "fail" and found["phone_number_format"].status == "pass"
    assert "state_known" not in found
    found = outcomes(job, variant(2, phone_number="bad"), variant(3, phone_number="bad"))
    assert found["phone_number_format"].status == "fail" and found["phone_number_format"].failing == 3


def test_rate_threshold():
    check = Check("x", "x", "warn", lambda *_: None, threshold=0.1)
    from smart360_etl.checks import Measure

    assert judge(check, Measure(10, 100, [])).status == "pass"
    assert judge(check, Measure(11, 100, [])).status == "warn"


def test_unknown_check_name_is_a_config_error():
    with pytest.raises(ConfigError, match="did you mean `reject_rate`"):
        configured_checks({"reject_rat": CheckSetting()})


def test_record_count_check_fails_when_counts_do_not_add_up():
    facts = RunFacts("r", {"extracted": 10, "inserted": 5, "updated": 1, "unchanged": 1, "rejected": 2}, {}, 10)
    measure = record_count(type("Ctx", (), {"facts": facts})(), None)
    assert measure.failing == 1
    facts.counts["rejected"] = 3
    assert record_count(type("Ctx", (), {"facts": facts})(), None).failing == 0


@pytest.fixture
def demo_job(source_url, target_url, write_job):
    create_demo_source(source_url, 600)
    job = load_job(write_job(source={"url": source_url, "table": "consumer_data"}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return job


def test_source_keys_check_catches_a_row_that_changed_its_key(demo_job, target_url):
    first = run(demo_job)
    assert {c["name"]: c["status"] for c in first.checks}["source_keys_reconcile"] == "pass"
    with psycopg.connect(target_url) as conn:  # a target-side rule that silently rewrites one key
        conn.execute(
            "CREATE FUNCTION ghost() RETURNS trigger AS $$ BEGIN "
            "IF NEW.consumer_id = '100005' THEN NEW.consumer_id := 'ghost'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER ghost BEFORE INSERT OR UPDATE ON smart360.consumer FOR EACH ROW EXECUTE FUNCTION ghost()"
        )
        conn.execute("DELETE FROM smart360.consumer")
    second = run(demo_job)
    keys = {c["name"]: c for c in second.checks}["source_keys_reconcile"]
    assert second.status == "checks_failed" and keys["status"] == "fail"
    assert keys["sample"] == ["missing 100005", "unexpected ghost"]
    with psycopg.connect(target_url) as conn:  # loaded all the same: the report says what to fix
        assert conn.execute("SELECT count(*) FROM smart360.consumer").fetchone()[0] == second.counts["inserted"]


def test_reject_rate_warns_above_its_threshold(demo_job):
    result = run(demo_job.model_copy(update={"checks": {"reject_rate": CheckSetting(threshold=0.001)}}))
    rate = {c["name"]: c for c in result.checks}["reject_rate"]
    assert rate["status"] == "warn" and any(s.startswith("name_incomplete") for s in rate["sample"])
    assert result.status == "ok"


# The row checks' conditions are tuned for PostgreSQL's regex engine; these edges pin what they mean.
EDGES = [
    ("phone_number_format", {"phone_number": "+1212456789"}, "warn"),  # 10 digits: short for the US plan
    ("phone_number_format", {"phone_number": "+442079460958"}, "pass"),  # another country: E.164 only
    ("phone_number_format", {"phone_number": "+441234567890123"}, "pass"),  # 15 digits, the most E.164 has
    ("phone_number_format", {"phone_number": "+4412345678901234"}, "warn"),  # 16 digits
    ("phone_number_format", {"phone_number": "+4412345"}, "pass"),  # 7 digits, the fewest
    ("phone_number_format", {"phone_number": "+441234"}, "warn"),
    ("phone_number_format", {"phone_number": "+0212456789"}, "warn"),  # no country code starts with 0
    ("email_address_format", {"email_address": "Ann.Lee@example.com"}, "pass"),  # the local part keeps its case
    ("email_address_format", {"email_address": "ann@Example.com"}, "warn"),  # the domain must be lower case
    ("email_address_format", {"email_address": "ann..lee@example.com"}, "warn"),
    ("zip_code_matches_state", {"state": "PR", "zip_code": "00901"}, "pass"),
    ("zip_code_matches_state", {"state": "NY", "zip_code": "00901"}, "warn"),
    ("zip_code_matches_state", {"state": "TX", "zip_code": "7A001"}, "pass"),  # not three digits: not judged
    ("zip_code_matches_state", {"state": "XX", "zip_code": "62704"}, "pass"),  # a state without prefixes
    ("first_name_present", {"first_name": " \t "}, "pass"),  # a tab is not a space: present, if odd
    ("first_name_present", {"first_name": "   "}, "fail"),
    ("first_name_present", {"first_name": " Ann"}, "pass"),
]


@pytest.mark.parametrize("name, changes, status", EDGES)
def test_row_check_edges(target, name, changes, status):
    assert outcomes(target, variant(1, **changes))[name].status == status


def test_profile_counts_placeholders_and_odd_characters(target):
    from smart360_etl.checks.profile import quality_profile

    rows = [variant(1, city=" N/A "), variant(2, city="Unknown"), variant(3, first_name="Ann2"), variant(4)]
    with target_connection(target.target) as conn:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO smart360.consumer ({COLUMNS}) VALUES ({', '.join(['%s'] * 9)})", rows)
        with conn.transaction():
            ctx = CheckContext(conn, target.target, target.region_config(), "validate-test")
            run_checks(ctx, configured_checks(target.checks))
            profile = quality_profile(ctx)
    assert profile["city"]["placeholders"] == 2 and profile["first_name"]["odd_characters"] == 1
    assert profile["first_name"]["placeholders"] == 0 and profile["city"]["missing"] == 0


def test_city_matches_postal_code_uses_the_gazetteer(target):
    rows = [
        variant(1, city="Springfield", zip_code="62704"),
        variant(2, city="St. Louis", zip_code="63101"),  # spelled as people write it: Saint Louis
        variant(3, city="Winston-Salem", state="NC", zip_code="27101"),
        variant(4, city="Chicago", zip_code="62704"),  # 62704 is Springfield's
        variant(5, city="Heights", state="MI", zip_code="48310"),  # "Sterling Heights" split wrong
        variant(6, city="Nowhere", zip_code="00000"),  # a code the gazetteer does not know is not judged
    ]
    outcome = outcomes(target, *rows)["city_matches_postal_code"]
    assert (outcome.status, outcome.failing, outcome.total, outcome.sample) == ("warn", 2, 5, ["4", "5"])


def test_a_field_that_lost_most_of_its_values_fails_the_run(target_url, write_job, tmp_path):
    """The case study's 13 phone numbers are all 555 numbers: all 13 nulled (kept in the warning table)."""
    from .conftest import SAMPLES

    (tmp_path / "c.csv").write_text(SAMPLES.joinpath("case_study_sample.csv").read_text())
    job = load_job(write_job(source={"csv": "c.csv"}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    result = run(job)
    outcome = next(c for c in result.checks if c["name"] == "field_mostly_nulled")
    assert (outcome["status"], outcome["failing"], outcome["total"]) == ("fail", 13, 13)
    assert outcome["sample"] == ["phone_number: 13 of 13 nulled (phone_invalid)"]
    assert result.status == "checks_failed"
    with target_connection(job.target) as conn:
        kept = conn.execute("SELECT count(*) FROM smart360_etl.warning WHERE run_id = %s AND field = 'phone_number'"
                            " AND source_value IS NOT NULL", [result.run_id]).fetchone()[0]
    assert kept == 13


@pytest.mark.parametrize(("nulled", "status"), [(1, "pass"), (3, "warn"), (6, "fail")])
def test_field_mostly_nulled_warns_above_a_fifth_and_fails_above_half(nulled, status):
    check = next(c for c in configured_checks({}) if c.name == "field_mostly_nulled")
    from smart360_etl.checks import Measure

    assert judge(check, Measure(nulled, 10)).status == status
    relaxed = next(c for c in configured_checks({"field_mostly_nulled": CheckSetting(fail_above=0.9)})
                   if c.name == "field_mostly_nulled")
    assert judge(relaxed, Measure(6, 10)).status == "warn"
