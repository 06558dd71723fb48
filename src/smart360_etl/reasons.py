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


CATALOG = (
    Reason(CONSUMER_ID_MISSING, "hard", "consumer_id", missing=("consumer_id",)),
    Reason(CONSUMER_ID_DUPLICATE, "hard", "consumer_id"),
    Reason(NAME_INCOMPLETE, "hard", "first_name", missing=("first_name", "last_name")),
    Reason(ADDRESS_UNPARSED, "hard", "address_line_1", missing=("address_line_1",)),
    Reason(VALUE_TOO_LONG, "hard"),
    Reason(ENCODING_INVALID, "hard"),
    Reason(PHONE_INVALID, "soft", "phone_number", nulls=True),
    Reason(EMAIL_INVALID, "soft", "email_address", nulls=True),
    Reason(POSTAL_CODE_INVALID, "soft", "zip_code", nulls=True),
    Reason(STATE_INVALID, "soft", "state", nulls=True),
    Reason(ADDRESS_AMBIGUOUS, "soft", "address_line_1"),
    Reason(NAME_ORGANISATION, "soft", "first_name"),
    Reason(NAME_MULTIPLE_PEOPLE, "soft", "secondary_first_name"),
    Reason(NAME_ORDER_UNCERTAIN, "soft", "first_name"),
    Reason(ACCOUNT_CONFLICT, "account", "account_number"),
    Reason(METER_CONFLICT, "account", "meter_number"),
    Reason(ACCOUNT_NUMBER_INVALID, "account", "account_number"),
    Reason(METER_MISSING, "account", "meter_number"),
    Reason(TARIFF_UNKNOWN, "account", "tariff_code"),
    Reason(PAYMENT_STATUS_UNKNOWN, "account", "payment_status"),
    Reason(CONSUMPTION_INVALID, "account", "consumption"),
)

HARD = tuple(r.code for r in CATALOG if r.kind == "hard")
SOFT = tuple(r.code for r in CATALOG if r.kind == "soft")
ACCOUNT = tuple(r.code for r in CATALOG if r.kind == "account")
NULLING = {r.code: r.field for r in CATALOG if r.nulls}
REQUIRED = {r.code: r.missing for r in CATALOG if r.missing}  # reason -> the fields it stands for
REQUIRED_FIELDS = tuple(f for fields in REQUIRED.values() for f in fields)
