"""Account, meter, tariff, payment status and consumption of each source record (jobs with `accounts:`).

Every part that cannot be produced gives the record a reason, and the record is rejected whole: its
consumer, account, meters and readings land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..config import PAYMENT_STATUSES, AccountsConfig, Crosswalks
from ..reasons import ACCOUNT_NUMBER_INVALID, METER_MISSING, PAYMENT_STATUS_UNKNOWN, TARIFF_UNKNOWN
from .consumption import parse_consumption
from .fields import resolve_column
from .text import clean, hash_rows

PART_COLUMNS = {
    "account_number": "Account Number",
    "meter_number": "Meter Number",
    "tariff_plan": "Tariff Plan",
    "consumption_history": "Consumption History",
    "payment_status": "Payment Status",
}


@dataclass(frozen=True)
class AccountRules:
    settings: AccountsConfig
    columns: dict[str, str]  # part -> the source's own column name
    tariffs: dict[str, str]  # case-folded legacy code or SMART360 code -> SMART360 code
    statuses: dict[str, str]  # case-folded legacy status -> SMART360 status


def account_rules(
    settings: AccountsConfig, crosswalks: Crosswalks, source_columns: list[str], known_tariffs: set[str]
) -> AccountRules:
    """Resolve the five source columns and the code crosswalks (known target plan codes map to themselves)."""
    columns = {}
    for part, default in PART_COLUMNS.items():
        column = resolve_column(settings.columns.get(part, default), source_columns, part)
        if column is not None:  # the account parts are never optional: a missing one raises
            columns[part] = column
    tariffs = {code.casefold(): code for code in known_tariffs}
    tariffs |= {legacy.strip().casefold(): code for legacy, code in crosswalks.tariff_plan.items()}
    statuses = {status.casefold(): status for status in PAYMENT_STATUSES}
    statuses |= {legacy.strip().casefold(): status for legacy, status in crosswalks.payment_status.items()}
    return AccountRules(settings, columns, tariffs, statuses)


def map_accounts(batch: pl.DataFrame, rules: AccountRules) -> tuple[pl.DataFrame, list[pl.Series]]:
    """The account parts of a batch (numbers, codes, meters, readings, the codes left unmapped, the source
    row hash) and their reasons."""
    settings, text = rules.settings, {part: _clean(batch[column]) for part, column in rules.columns.items()}
    number, number_reason = _account_number(text["account_number"], settings)
    tariff, tariff_gap = _crosswalk(text["tariff_plan"], rules.tariffs, settings.unknown_tariff)
    if settings.create_unknown_tariffs:  # the plan is created from the source's own code
        tariff = pl.select(pl.coalesce(pl.lit(tariff), pl.lit(text["tariff_plan"]))).to_series()
        tariff_gap = _where(pl.Series([False] * batch.height), tariff_gap)
    status, status_gap = _crosswalk(text["payment_status"], rules.statuses, settings.unknown_payment_status)
    meters = _meters(text["meter_number"])
    consumption = parse_consumption(
        text["consumption_history"], settings.unit, settings.migrated_reading_date, settings.consumption_ceiling
    )
    no_meter = (consumption["readings"].is_not_null() & meters.list.len().fill_null(0).eq(0)).fill_null(False)
    frame = pl.DataFrame(
        [
            number.alias("account_number"),
            text["account_number"].alias("legacy_account_number"),
            tariff.alias("tariff_code"),
            status.alias("payment_status"),
            meters.alias("meters"),
            consumption["readings"],
            tariff_gap.alias("unmapped_tariff_plan"),
            status_gap.alias("unmapped_payment_status"),
            hash_rows(batch),  # for the legacy-id crosswalk: which source row each SMART360 row came from
        ]
    )
    reasons = [
        number_reason,
        _reason(tariff_gap.is_not_null(), TARIFF_UNKNOWN),
        _reason(status_gap.is_not_null(), PAYMENT_STATUS_UNKNOWN),
        _reason(no_meter, METER_MISSING),
        consumption["reason"],
    ]
    return frame, reasons


def claimed_numbers(batch: pl.DataFrame, rules: AccountRules) -> pl.DataFrame:
    """The account number and the meter numbers each record claims (one row per meter), as the load sees them."""
    return pl.DataFrame(
        [
            _clean(batch[rules.columns["account_number"]]).alias("account_number"),
            _meters(_clean(batch[rules.columns["meter_number"]])).alias("meter_number"),
        ]
    )


def _meters(numbers: pl.Series) -> pl.Series:
    """ "MTR-1; MTR-2" -> ["MTR-1", "MTR-2"]: an account may have several meters."""
    split = numbers.str.split(";").list.eval(pl.element().str.strip_chars())
    return split.list.eval(pl.element().filter(pl.element() != ""))


def _clean(values: pl.Series) -> pl.Series:
    return pl.select(clean(pl.lit(values))).to_series().alias(values.name)


def _account_number(legacy: pl.Series, settings: AccountsConfig) -> tuple[pl.Series, pl.Series]:
    """Kept when it fits the job's format; otherwise null (a number is generated at load) or a reason."""
    never = _reason(pl.Series([False] * len(legacy)), ACCOUNT_NUMBER_INVALID)
    if settings.number_format is None:
        return legacy, never
    fits = legacy.str.contains(f"^(?:{settings.number_format})$").fill_null(False)
    if settings.generate_prefix is not None:
        return _where(fits, legacy), never
    return legacy, _reason(legacy.is_not_null() & ~fits, ACCOUNT_NUMBER_INVALID)


def _crosswalk(codes: pl.Series, mapping: dict[str, str], default: str | None) -> tuple[pl.Series, pl.Series]:
    """SMART360 codes for the source's (matched case-folded); unmapped codes take `default`, or are returned
    as the gap (and the record is rejected)."""
    mapped = codes.str.to_lowercase().replace_strict(mapping, default=None, return_dtype=pl.String)
    unmapped = mapped.is_null() & codes.is_not_null()
    if default is not None:
        return pl.select(pl.when(unmapped).then(pl.lit(default)).otherwise(mapped)).to_series(), _where(
            pl.Series([False] * len(codes)), codes
        )
    return mapped, _where(unmapped, codes)


def _where(condition: pl.Series, values: pl.Series) -> pl.Series:
    """`values` where `condition` holds, null elsewhere."""
    return pl.select(pl.when(pl.lit(condition)).then(pl.lit(values))).to_series().alias(values.name)


def _reason(flags: pl.Series, reason: str) -> pl.Series:
    return pl.select(pl.when(pl.lit(flags)).then(pl.lit(reason))).to_series().alias("reason")
