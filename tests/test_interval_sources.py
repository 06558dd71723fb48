"""The interval sources other than CSV, each run end to end: Parquet (typed columns), a PostgreSQL table,
Green Button ESPI XML (written here from the published schema); hostile and mislabelled files refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import psycopg
import pytest

from smart360_etl.errors import SourceError
from smart360_etl.intervals.runner import run_intervals

from .intervals_support import interval_job, prepare_target, target_totals

ESPI_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <id>urn:uuid:0071C5A7-91CF-434E-8BCE-C38AC8AF215D</id>
  <title>Green Button Usage Feed</title>
  <entry>
    <id>urn:uuid:up-1</id>
    <link rel="self" href="https://utility.example/espi/1_1/resource/Subscription/5/UsagePoint/1"/>
    <title>{meter}</title>
    <content><espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory></espi:UsagePoint></content>
  </entry>
  <entry>
    <id>urn:uuid:block-1</id>
    <link rel="self" href="https://utility.example/espi/1_1/resource/Subscription/5/UsagePoint/1/MeterReading/1/IntervalBlock/1"/>
    <link rel="up" href="https://utility.example/espi/1_1/resource/Subscription/5/UsagePoint/1/MeterReading/1/IntervalBlock"/>
    <content><espi:IntervalBlock>
      <espi:interval><espi:duration>86400</espi:duration><espi:start>{day_start}</espi:start></espi:interval>
{readings}
    </espi:IntervalBlock></content>
  </entry>
  <entry>
    <id>urn:uuid:mr-1</id>
    <link rel="self" href="https://utility.example/espi/1_1/resource/Subscription/5/UsagePoint/1/MeterReading/1"/>
    <link rel="related" href="https://utility.example/espi/1_1/resource/Subscription/5/UsagePoint/1/MeterReading/1/IntervalBlock"/>
    <link rel="related" href="https://utility.example/espi/1_1/resource/ReadingType/07"/>
    <content><espi:MeterReading/></content>
  </entry>
  <entry>
    <id>urn:uuid:rt-07</id>
    <link rel="self" href="https://utility.example/espi/1_1/resource/ReadingType/07"/>
    <content><espi:ReadingType>
      <espi:accumulationBehaviour>4</espi:accumulationBehaviour>
      <espi:commodity>1</espi:commodity>
      <espi:flowDirection>1</espi:flowDirection>
      <espi:intervalLength>900</espi:intervalLength>
      <espi:kind>12</espi:kind>
      <espi:powerOfTenMultiplier>-3</espi:powerOfTenMultiplier>
      <espi:uom>72</espi:uom>
    </espi:ReadingType></content>
  </entry>
</feed>
"""


def espi_file(path, meter: str, day: date, values: list[int]) -> None:
    start = int(datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc).timestamp())
    readings = "\n".join(
        f"      <espi:IntervalReading><espi:ReadingQuality><espi:quality>0</espi:quality></espi:ReadingQuality>"
        f"<espi:timePeriod><espi:duration>900</espi:duration><espi:start>{start + 900 * i}</espi:start>"
        f"</espi:timePeriod><espi:value>{value}</espi:value></espi:IntervalReading>"
        for i, value in enumerate(values))
    path.write_text(ESPI_FEED.format(meter=meter, day_start=start, readings=readings), encoding="utf-8")


def test_green_button_reads_are_scaled_by_their_power_of_ten_into_kwh(target_url, tmp_path):
    (tmp_path / "xml").mkdir()
    values = [250 + i for i in range(96)]  # Wh x 10^-3... written as integer thousandths of a Wh
    espi_file(tmp_path / "xml" / "usage-1.xml", "ESPI-100", date(2026, 5, 1), values)
    espi_file(tmp_path / "xml" / "usage-2.xml", "ESPI-200", date(2026, 5, 1), values)
    job = interval_job(target_url, tmp_path, source={"green_button": str(tmp_path / "xml" / "*.xml")})
    prepare_target(job, ["ESPI-100", "ESPI-200"])
    report = run_intervals(job)
    assert report["status"] == "succeeded" and report["counts"]["inserted"] == 192
    expected = 2 * sum(Decimal(v) / 1000 / 1000 for v in values)  # thousandths of a Wh -> kWh
    assert Decimal(target_totals(target_url)[1]) == expected
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT DISTINCT channel, seconds, unit, quality FROM smart360.interval_reading"
                            ).fetchall() == [("delivered", 900, "kWh", "0")]


@pytest.mark.parametrize("hostile", [
    '<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]>'
    '<feed xmlns="http://www.w3.org/2005/Atom">&b;</feed>',
    '<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<feed xmlns="http://www.w3.org/2005/Atom">&x;</feed>',
    '<feed xmlns="http://www.w3.org/2005/Atom"><entry>',
    'meter,start,value\nM1,2026-01-01,1\n',
])
def test_hostile_or_broken_green_button_files_are_refused_in_one_line(target_url, tmp_path, hostile):
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "usage.xml").write_text(hostile)
    job = interval_job(target_url, tmp_path, source={"green_button": str(tmp_path / "xml" / "usage.xml")})
    prepare_target(job, ["M1"])
    with pytest.raises(SourceError) as raised:
        run_intervals(job)
    assert "\n" not in str(raised.value) and "usage.xml" in str(raised.value)
    assert "root:" not in str(raised.value)
    assert target_totals(target_url) == (0, "0")


def test_parquet_with_typed_columns_is_read_as_it_is(target_url, tmp_path):
    (tmp_path / "reads").mkdir()
    starts = [datetime(2026, 5, 1, tzinfo=timezone.utc) + timedelta(minutes=15 * i) for i in range(96)]
    pl.DataFrame({"meter_id": ["PQ-1"] * 96, "ts": starts, "kwh": [0.125] * 96, "len_s": [900] * 96}).write_parquet(
        tmp_path / "reads" / "may.parquet")
    job = interval_job(target_url, tmp_path, source={"parquet": str(tmp_path / "reads" / "*.parquet")},
                       columns={"meter": "meter_id", "start": "ts", "value": "kwh", "seconds": "len_s"})
    prepare_target(job, ["PQ-1"])
    report = run_intervals(job)
    assert report["counts"]["inserted"] == 96 and Decimal(target_totals(target_url)[1]) == Decimal("12")


def test_a_postgresql_table_of_reads_with_local_times_and_channels(target_url, source_url, tmp_path):
    with psycopg.connect(source_url) as conn:
        conn.execute("CREATE TABLE ami_reads (meter text, local_start text, flow text, wh numeric, uom text)")
        rows = [("PG-1", f"2026-05-01 {h:02d}:{m:02d}", direction, 500 if direction == "forward" else -100, "Wh")
                for h in range(24) for m in (0, 15, 30, 45) for direction in ("forward", "reverse")]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO ami_reads VALUES (%s, %s, %s, %s, %s)", rows)
    job = interval_job(target_url, tmp_path, source={"url": source_url, "table": "ami_reads"},
                       columns={"meter": "meter", "start": "local_start", "value": "wh", "channel": "flow",
                                "unit": "uom"})
    prepare_target(job, ["PG-1"])
    report = run_intervals(job)
    assert report["counts"]["inserted"] == 192 and "negative_value" not in report["flags_by_rule"]
    with psycopg.connect(target_url) as conn:
        sums = dict(conn.execute("SELECT channel, sum(value) FROM smart360.interval_reading GROUP BY 1").fetchall())
        first = conn.execute("SELECT min(interval_start) FROM smart360.interval_reading").fetchone()[0]
    assert sums == {"delivered": Decimal("48"), "received": Decimal("-9.6")}
    assert first == datetime(2026, 5, 1, 5, tzinfo=timezone.utc)  # 00:00 in Chicago, summer time
