"""Each VEE rule with reads that must make it fire and reads that must not; days at daylight-saving
changes in several time zones; the normaliser's times, units and rejects, with a property test."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart360_etl.config.intervals import IntervalsConfig
from smart360_etl.intervals import rejects, vee
from smart360_etl.intervals.normalise import MICRO, normalise

UTC = timezone.utc


def config(zone: str = "America/Chicago", **vee_settings) -> IntervalsConfig:
    return IntervalsConfig(source={"csv": "x.csv"}, timezone=zone, vee=vee_settings)


def day_reads(zone: str, first: date, days: int, meter: str = "M1", value: float = 0.25,
              channel: str = "delivered") -> pl.DataFrame:
    """Every 15-minute read of `days` local days from `first`, in UTC."""
    tz = ZoneInfo(zone)
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    starts = pl.datetime_range(start, end - timedelta(minutes=15), "15m", eager=True, time_zone="UTC")
    return pl.DataFrame({"meter": meter, "channel": channel, "start": starts.dt.cast_time_unit("us"),
                         "seconds": 900, "micro": int(value * MICRO), "duplicate": False}).with_columns(
        pl.col("seconds").cast(pl.Int32), pl.col("micro").cast(pl.Int64))


def flagged(reads: pl.DataFrame, cfg: IntervalsConfig, service: str = "ELECTRICITY",
            installed: date | None = None, removed: date | None = None) -> dict[str, int]:
    meters = pl.DataFrame({"meter": reads["meter"].unique(), "service": service, "installed_on": installed,
                           "removed_on": removed}, schema={"meter": pl.String, "service": pl.String,
                                                           "installed_on": pl.Date, "removed_on": pl.Date})
    marked = vee.flags(vee.with_days(reads.sort(["meter", "channel", "start"]), cfg.timezone), meters, cfg, 900)
    return {rule: int(((marked["vee_mask"] & bit) != 0).sum()) for rule, bit in vee.RULE_BITS.items()
            if ((marked["vee_mask"] & bit) != 0).any()}


@pytest.mark.parametrize(("zone", "spring", "autumn"), [
    ("America/Chicago", date(2026, 3, 8), date(2026, 11, 1)),
    ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
    ("Australia/Sydney", date(2026, 10, 4), date(2026, 4, 5)),
])
def test_daylight_saving_days_have_92_and_100_intervals_and_are_not_gaps(zone, spring, autumn):
    lengths = vee.day_seconds([spring, autumn, spring + timedelta(days=1)], zone)
    assert lengths[spring] // 900 == 92 and lengths[autumn] // 900 == 100 and lengths[spring + timedelta(1)] == 86400
    for change in (spring, autumn):
        reads = vee.with_days(day_reads(zone, change - timedelta(days=1), 3), zone)
        assert vee.gaps(reads, 900, zone).is_empty()
        missing = reads.filter(pl.col("day") == change).head(40).vstack(reads.filter(pl.col("day") != change))
        found = vee.gaps(missing.sort("start"), 900, zone)
        assert found.select("day", "expected", "missing").rows() == [(change, lengths[change] // 900,
                                                                     lengths[change] // 900 - 40)]


def test_zero_run_fires_at_its_length_and_not_below():
    reads = day_reads("UTC", date(2026, 5, 1), 2)
    fifteen = reads.with_columns(micro=pl.when(pl.int_range(pl.len()).is_between(10, 24)).then(0).otherwise("micro"))
    sixteen = reads.with_columns(micro=pl.when(pl.int_range(pl.len()).is_between(10, 25)).then(0).otherwise("micro"))
    assert "zero_run" not in flagged(fifteen, config("UTC"))
    assert flagged(sixteen, config("UTC"))["zero_run"] == 16
    assert "zero_run" not in flagged(sixteen, config("UTC", zero_run={"intervals": 17}))
    assert "zero_run" not in flagged(sixteen, config("UTC", zero_run={"enabled": False}))


def test_spike_is_a_days_highest_against_its_third_highest():
    reads = day_reads("UTC", date(2026, 5, 1), 1)
    one_high = reads.with_columns(micro=pl.when(pl.int_range(pl.len()) == 30).then(5 * MICRO).otherwise("micro"))
    three_high = reads.with_columns(
        micro=pl.when(pl.int_range(pl.len()).is_in([30, 31, 32])).then(5 * MICRO).otherwise("micro"))
    small = reads.with_columns(micro=pl.when(pl.int_range(pl.len()) == 30).then(400_000).otherwise(10_000))
    assert flagged(one_high, config("UTC"))["spike"] == 1
    assert "spike" not in flagged(three_high, config("UTC"))  # a peak of three is load, not a spike
    assert "spike" not in flagged(small, config("UTC"))  # 0.4 kWh is below the floor however flat the rest


def test_negative_reads_are_flagged_except_on_received_and_net_channels():
    reads = day_reads("UTC", date(2026, 5, 1), 1, value=-0.1)
    assert flagged(reads, config("UTC"))["negative_value"] == 96
    assert "negative_value" not in flagged(day_reads("UTC", date(2026, 5, 1), 1, value=-0.1, channel="net"),
                                           config("UTC"))


def test_high_low_compares_whole_days_with_the_meters_own_average():
    reads = day_reads("UTC", date(2026, 5, 1), 6)
    high_day = reads.with_columns(micro=pl.when(pl.col("start").dt.day() == 3).then(pl.col("micro") * 20)
                                  .otherwise("micro"))
    assert flagged(high_day, config("UTC"))["high_low"] == 96
    assert "high_low" not in flagged(reads, config("UTC"))
    partial_last = reads.head(reads.height - 90)  # six reads of the last day: short, not low
    assert "high_low" not in flagged(partial_last, config("UTC"))


def test_never_zero_is_a_water_meter_whose_flow_never_stops():
    reads = day_reads("UTC", date(2026, 5, 1), 4, value=0.01)
    assert flagged(reads, config("UTC"), service="WATER")["never_zero"] == 4 * 96
    assert "never_zero" not in flagged(reads, config("UTC"), service="ELECTRICITY")
    nightly_stop = reads.with_columns(micro=pl.when(pl.col("start").dt.hour() == 3).then(0).otherwise("micro"))
    assert "never_zero" not in flagged(nightly_stop, config("UTC"), service="WATER")


def test_reads_outside_the_meters_service_dates_are_flagged():
    reads = day_reads("UTC", date(2026, 5, 1), 4)
    assert flagged(reads, config("UTC"), installed=date(2026, 5, 2), removed=date(2026, 5, 3))[
        "outside_meter_dates"] == 96 * 2
    assert "outside_meter_dates" not in flagged(reads, config("UTC"), installed=date(2026, 4, 1))


def test_length_mismatch_is_a_read_of_another_length():
    reads = day_reads("UTC", date(2026, 5, 1), 1).with_columns(
        seconds=pl.when(pl.int_range(pl.len()) == 5).then(1800).otherwise("seconds").cast(pl.Int32))
    assert flagged(reads, config("UTC"))["interval_length_mismatch"] == 1


def test_sum_check_compares_a_month_with_the_migrated_monthly_reading_within_tolerance():
    reads = pl.concat([day_reads("UTC", date(2026, 5, 1), 31, meter=m) for m in ("A", "B", "C")])
    month_total = 31 * 96 * 0.25
    monthly = pl.DataFrame({"meter": ["A", "B"], "quantity": [month_total * 1.01, month_total * 1.10]})
    off = vee.sum_check(reads, monthly, 0.02)
    assert off["meter"].to_list() == ["B"]


def source(starts: list[str], zone_meter: str = "M1", values: list[str] | None = None, **extra) -> pl.DataFrame:
    return pl.DataFrame({"meter": [zone_meter] * len(starts), "start": starts,
                         "value": values or ["1"] * len(starts), "source": "f.csv",
                         "line": list(range(1, len(starts) + 1)), **extra})


def test_the_hour_a_fall_back_change_repeats_is_read_in_order():
    local = ["2026-11-01 00:45", "2026-11-01 01:00", "2026-11-01 01:45", "2026-11-01 01:00", "2026-11-01 01:45",
             "2026-11-01 02:00"]
    reads = normalise(source(local), config(), {}).reads
    hours = [s.strftime("%H:%M") for s in reads.sort("line")["start"].to_list()]
    assert hours == ["05:45", "06:00", "06:45", "07:00", "07:45", "08:00"]


def test_a_local_time_skipped_by_spring_forward_is_rejected_with_its_own_reason():
    result = normalise(source(["2026-03-29 01:45", "2026-03-29 02:15", "2026-03-29 03:00"]),
                       config("Europe/Berlin"), {})
    assert result.rejected["reason"].to_list() == [rejects.TIME_NONEXISTENT]
    assert result.reads.height == 2


def test_times_with_offsets_z_and_epoch_seconds_are_the_same_instant():
    written = ["2026-03-08T01:45:00-06:00", "2026-03-08T07:45:00Z", "2026-03-08 07:45:00+0000", "1772955900"]
    reads = normalise(source(written, values=["1"] * 4), config(), {}).reads
    assert reads["start"].n_unique() == 1


def test_units_and_multipliers_are_applied_exactly_and_unknown_units_rejected():
    frame = source(["2026-05-01T00:00:00Z"] * 4, values=["1500", "2", "0.5", "3"], unit=["Wh", "MWh", "kWh", "therm"],
                   multiplier=["1", "1", "40", "1"])
    result = normalise(frame, config(), {})
    assert sorted(result.reads["micro"].to_list()) == [1_500_000, 20_000_000, 2_000_000_000]
    assert result.rejected["reason"].to_list() == [rejects.UNIT_UNKNOWN]


def test_values_that_are_not_numbers_are_rejected_with_the_source_row():
    result = normalise(source(["2026-05-01T00:00:00Z"] * 4, values=["1,5", "NaN", "", "inf"]), config(), {})
    assert result.rejected["reason"].to_list() == [rejects.VALUE_INVALID] * 4
    assert '"value":"1,5"' in result.rejected["row"][0]


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(["America/Chicago", "America/New_York", "Europe/London", "Europe/Berlin",
                             "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata"]),
       first=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2027, 6, 30)),
       count=st.integers(min_value=1, max_value=400))
def test_reads_written_as_local_times_come_back_as_the_instants_they_were(zone, first, count):
    """A meter's reads every 15 minutes, written in local time without an offset (as many exports do),
    are the same instants after normalising: repeated hours in order, skipped hours never written."""
    start = first.replace(minute=first.minute // 15 * 15, second=0, microsecond=0, tzinfo=UTC)
    instants = [start + timedelta(minutes=15 * i) for i in range(count)]
    local = [i.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") for i in instants]
    reads = normalise(source(local), config(zone), {}).reads.sort("line")
    assert reads["start"].to_list() == instants


def test_nul_characters_are_removed_from_text_a_parquet_or_xml_source_may_hold():
    frame = source(["2026-05-01T00:00:00Z"], zone_meter="MTR\x00-7", quality=["valid\x00"], channel=["net\x00"])
    reads = normalise(frame, config(), {}).reads
    assert reads.select("meter", "quality", "channel").row(0) == ("MTR-7", "valid", "net")


def test_a_start_centuries_away_costs_its_row_not_the_unit():
    result = normalise(source(["9999-12-31T23:45:00Z", "0001-01-01T00:00:00Z", "2026-05-01T00:00:00Z"]),
                       config(), {})
    assert result.rejected["reason"].to_list() == [rejects.TIME_OUT_OF_RANGE] * 2
    assert result.reads["month"].to_list() == [date(2026, 4, 1)]  # 19:00 on 30 April in Chicago
