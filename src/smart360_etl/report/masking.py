"""Personal data masked for reports and samples: enough to recognise a record, not to contact a person."""

from __future__ import annotations

import re

PERSONAL_FIELDS = {
    "first_name",
    "middle_name",
    "last_name",
    "first_name_b",
    "last_name_b",
    "address_line_1",
    "address_line_1_b",
    "phone_number",
    "phone_number_b",
    "email_address",
    "email_address_b",
}


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    return value[:2] + "*" * max(len(value) - 6, 0) + value[-4:] if len(value) > 6 else "***"


def mask_name(value: str) -> str:
    return " ".join(part[:1] + "." for part in value.split())


def mask_address(value: str) -> str:
    return re.sub(r"\d", "#", value)


def mask_value(field: str, value):
    if value is None or not isinstance(value, str) or field not in PERSONAL_FIELDS:
        return value
    if "email" in field:
        return mask_email(value)
    if "phone" in field:
        return mask_phone(value)
    if "address" in field:
        return mask_address(value)
    return mask_name(value)


# A warning's field, as the mapper names it, and the target field whose masking its source value gets.
_WARNED_AS = {"name": "first_name", "address": "address_line_1"}


def mask_warning(row: dict) -> dict:
    """A warning sample's source value masked as the field it was meant for."""
    field = str(row.get("field"))
    field = _WARNED_AS.get(field, field)
    return {**row, "source_value": mask_value(field, row.get("source_value"))}


def mask_row(row: dict) -> dict:
    return {field: mask_value(field, value) for field, value in row.items()}
