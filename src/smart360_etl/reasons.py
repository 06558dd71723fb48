"""Every reason a record is rejected or warned, in one catalog.

The job file's `reasons:` section, the mappers that emit them, the checks and the README (tested) all
read this list: a new reason is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# hard: always rejects the record; soft: a warning by default (`reasons:` may make it reject);
# account: with `accounts:`, rejects the record whole (consumer, account, meters, readings).
Kind = Literal["hard", "soft", "account"]

CONSUMER_ID_MISSING = "consumer_id_missing"
CONSUMER_ID_DUPLICATE = "consumer_id_duplicate"
NAME_INCOMPLETE = "name_incomplete"
ADDRESS_UNPARSED = "address_unparsed"
VALUE_TOO_LONG = "value_too_long"
ENCODING_INVALID = "encoding_invalid"
PHONE_INVALID = "phone_invalid"
EMAIL_INVALID = "email_invalid"
POSTAL_CODE_INVALID = "postal_code_invalid"
STATE_INVALID = "state_invalid"
ADDRESS_AMBIGUOUS = "address_ambiguous"
NAME_ORGANISATION = "name_organisation"
NAME_MULTIPLE_PEOPLE = "name_multiple_people"
NAME_ORDER_UNCERTAIN = "name_order_uncertain"
ACCOUNT_CONFLICT = "account_conflict"
METER_CONFLICT = "meter_conflict"
ACCOUNT_NUMBER_INVALID = "account_number_invalid"
METER_MISSING = "meter_missing"
TARIFF_UNKNOWN = "tariff_unknown"
PAYMENT_STATUS_UNKNOWN = "payment_status_unknown"
CONSUMPTION_INVALID = "consumption_invalid"


@dataclass(frozen=True)
class Reason:
    code: str
    kind: Kind
    field: str | None = None  # the SMART360 field it is about
    nulls: bool = False  # a warning that nulls its field (the source value stays in the warning table)
    missing: tuple[str, ...] = ()  # fields SMART360 cannot do without: one of them empty gives the reason
    fix: str = ""  # what the person correcting the record does, in plain words (`rejects` exports it)


CATALOG = (
    Reason(CONSUMER_ID_MISSING, "hard", "consumer_id", missing=("consumer_id",),
           fix='fill in the consumer id: the id column is empty'),
    Reason(CONSUMER_ID_DUPLICATE, "hard", "consumer_id",
           fix='the same consumer id is on more than one record: keep one record per id (merge the others into it, '
               'or give each its own id)'),
    Reason(NAME_INCOMPLETE, "hard", "first_name", missing=("first_name", "last_name"),
           fix='give both a first and a last name, e.g. Ann Lee (one word is not enough)'),
    Reason(ADDRESS_UNPARSED, "hard", "address_line_1", missing=("address_line_1",),
           fix='write the street address with its house number and street, e.g. 12 Oak St, Austin, TX 78701'),
    Reason(VALUE_TOO_LONG, "hard",
           fix="shorten the value: it is longer than SMART360's column holds"),
    Reason(ENCODING_INVALID, "hard",
           fix='retype the characters shown as \\ufffd: the export held bytes that are not valid text'),
    Reason(PHONE_INVALID, "soft", "phone_number", nulls=True,
           fix='correct the phone number (every digit, with the area code); it was loaded empty'),
    Reason(EMAIL_INVALID, "soft", "email_address", nulls=True,
           fix='correct the e-mail address (name@domain); it was loaded empty'),
    Reason(POSTAL_CODE_INVALID, "soft", "zip_code", nulls=True,
           fix="correct the postal code to the region's form, e.g. 78701 or 78701-1234; it was loaded empty"),
    Reason(STATE_INVALID, "soft", "state", nulls=True,
           fix="use the state's code, e.g. TX; it was loaded empty"),
    Reason(ADDRESS_AMBIGUOUS, "soft", "address_line_1",
           fix='separate street, city and state with commas, e.g. 12 Oak St, Austin, TX 78701'),
    Reason(NAME_ORGANISATION, "soft", "first_name",
           fix="the name looks like an organisation's: check it is the account holder's"),
    Reason(NAME_MULTIPLE_PEOPLE, "soft", "secondary_first_name",
           fix='two people in one name: check who holds the account (the other was kept as the second person)'),
    Reason(NAME_ORDER_UNCERTAIN, "soft", "first_name",
           fix='write the name as First Last, or Last, First with the comma'),
    Reason(ACCOUNT_CONFLICT, "account", "account_number",
           fix='another consumer has the same account number: give each consumer its own'),
    Reason(METER_CONFLICT, "account", "meter_number",
           fix='another consumer has the same meter number: correct the meter number'),
    Reason(ACCOUNT_NUMBER_INVALID, "account", "account_number",
           fix='correct the account number to the form the job expects (accounts.number_format)'),
    Reason(METER_MISSING, "account", "meter_number",
           fix='fill in the meter number of this account'),
    Reason(TARIFF_UNKNOWN, "account", "tariff_code",
           fix="use a tariff plan SMART360 has, or ask for the legacy code to be added to the job's crosswalks"),
    Reason(PAYMENT_STATUS_UNKNOWN, "account", "payment_status",
           fix='use PAID, UNPAID, PARTIALLY_PAID or OVERDUE, or ask for the legacy status to be added to the '
               'crosswalks'),
    Reason(CONSUMPTION_INVALID, "account", "consumption",
           fix='correct the consumption: a number of units that is not negative'),
)

HARD = tuple(r.code for r in CATALOG if r.kind == "hard")
SOFT = tuple(r.code for r in CATALOG if r.kind == "soft")
ACCOUNT = tuple(r.code for r in CATALOG if r.kind == "account")
NULLING = {r.code: r.field for r in CATALOG if r.nulls}
REQUIRED = {r.code: r.missing for r in CATALOG if r.missing}  # reason -> the fields it stands for
REQUIRED_FIELDS = tuple(f for fields in REQUIRED.values() for f in fields)
FIXES = {r.code: r.fix for r in CATALOG}
