"""Regions are configuration: a whole run in Australia, and a region the tool does not know yet."""

from __future__ import annotations

import csv

import psycopg

from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.load.schema import migrate
from smart360_etl.run.pipeline import run


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Consumer ID", "Name", "Address", "Contact Number", "Email Address"])
        writer.writerows(rows)


def load(target_url, write_job, path, **settings):
    job = load_job(write_job(source={"csv": str(path)}, target={"url": target_url}, **settings))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return run(job)


def test_an_australian_run(target_url, write_job, tmp_path):
    write_csv(
        tmp_path / "au.csv",
        [
            ("A1", "Olivia Nguyen", "Unit 5, 12 Smith St, Sydney NSW 2000", "(02) 9374 4000", "olivia@example.com.au"),
            ("A2", "Jack Wilson", "8 George Street Brisbane QLD 4000", "0412 345 678", "jack@example.com.au"),
        ],
    )
    result = load(target_url, write_job, tmp_path / "au.csv", region="AU")
    assert result.counts["inserted"] == 2 and result.warnings_by_reason == {}
    with psycopg.connect(target_url) as conn:
        rows = conn.execute(
            "SELECT consumer_id, address_line_1, address_line_2, city, state, zip_code, phone_number "
            "FROM smart360.consumer ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("A1", "12 Smith St", "Unit 5", "Sydney", "NSW", "2000", "+61293744000"),
        ("A2", "8 George Street", None, "Brisbane", "QLD", "4000", "+61412345678"),
    ]
    statuses = {c["name"]: c["status"] for c in result.checks}
    assert statuses["state_known"] == "pass" and "zip_code_matches_state" not in statuses


def test_a_region_defined_in_the_job_file(target_url, write_job, tmp_path):
    write_csv(
        tmp_path / "nz.csv",
        [
            ("N1", "Aroha Smith", "1 Queen St, Auckland AUK 1010", "09 379 0000", "a@example.nz"),
            ("N2", "Tama Jones", "2 Lambton Quay, Wellington XX 6011", "04 499 0000", ""),
        ],
    )
    result = load(
        target_url,
        write_job,
        tmp_path / "nz.csv",
        region="NZ",
        region_settings={"phone_region": "NZ", "postal": r"\d{4}", "states": {"AUK": "Auckland"}},
    )
    assert result.counts["inserted"] == 2 and result.warnings_by_reason == {"state_invalid": 1}
    with psycopg.connect(target_url) as conn:
        rows = conn.execute(
            "SELECT consumer_id, city, state, zip_code, phone_number FROM smart360.consumer ORDER BY 1"
        ).fetchall()
    assert rows == [("N1", "Auckland", "AUK", "1010", "+6493790000"), ("N2", "Wellington", None, "6011", "+6444990000")]


def test_address_words_of_a_job_extend_the_lexicon_and_a_misspelt_list_is_an_error():
    import pydantic
    import pytest

    from smart360_etl.mapping.address_grammar import AddressGrammar
    from smart360_etl.regions import region_for

    raw = "12 Kirk Vennel Perth PH1 5AA"  # a Scots street word the built-in lexicon lacks
    assert AddressGrammar(region_for("GB")).parse(raw)["city"] is None
    region = region_for("GB", {"address_words": {"street_types": ["Wynd", "Vennel"]}})
    assert AddressGrammar(region).parse(raw)["city"] == "Perth"
    with pytest.raises(pydantic.ValidationError, match="unknown word list `street_type`"):
        region_for("GB", {"address_words": {"street_type": ["Wynd"]}})


def test_the_gazetteer_is_kept_and_a_broken_copy_is_built_again(tmp_path, monkeypatch):
    from smart360_etl.mapping import places

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    places.places_for.cache_clear()
    built = places.places_for("US")
    [kept] = (tmp_path / "smart360-etl").glob("places-US-*.json")
    places.places_for.cache_clear()
    assert places.places_for("US") == built  # read back from the copy
    assert "SPRINGFIELD" in built.for_postal("62704") and built.for_postal("10001")
    kept.write_text('{"by_postal": {"62704": ["NOWHERE"]')  # cut short by a full disk
    places.places_for.cache_clear()
    assert places.places_for("US") == built
    assert '"NOWHERE"' not in kept.read_text() and places._cache_dir() == tmp_path / "smart360-etl"  # written again
    places.places_for.cache_clear()
