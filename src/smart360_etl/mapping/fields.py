"""The field map: which SMART360 consumer field comes from which source column, by which transform.

Readable on one screen; a job's `mapping:` section overrides any entry. Source columns match
case-, space- and punctuation-insensitively: "Contact Number", "contact_number", "CONTACT-NUMBER".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..config import FieldSpec
from ..errors import ConfigError, SourceError

CONSUMER_FIELDS = (
    "consumer_id",
    "title",
    "first_name",
    "middle_name",
    "last_name",
    "suffix",
    "preferred_name",
    "secondary_first_name",
    "secondary_last_name",
    "address_line_1",
    "address_line_2",
    "city",
    "state",
    "zip_code",
    "phone_number",
    "phone_extension",
    "email_address",
)

# target field: (case-study source column, transform)
DEFAULT_MAPPING: dict[str, tuple[str, str]] = {
    "consumer_id": ("Consumer ID", "id"),
    "title": ("Name", "name.title"),
    "first_name": ("Name", "name.first"),
    "middle_name": ("Name", "name.middle"),
    "last_name": ("Name", "name.last"),
    "suffix": ("Name", "name.suffix"),
    "preferred_name": ("Name", "name.preferred"),
    "secondary_first_name": ("Name", "name.secondary_first"),
    "secondary_last_name": ("Name", "name.secondary_last"),
    "address_line_1": ("Address", "address.line_1"),
    "address_line_2": ("Address", "address.line_2"),
    "city": ("Address", "address.city"),
    "state": ("Address", "address.state"),
    "zip_code": ("Address", "address.zip_code"),
    "phone_number": ("Contact Number", "phone"),
    "phone_extension": ("Contact Number", "phone.extension"),
    "email_address": ("Email Address", "email"),
}

SIMPLE_TRANSFORMS = ("id", "text", "upper", "lower", "phone", "email")
PART_TRANSFORMS = {
    "name": ("title", "first", "middle", "last", "suffix", "preferred", "secondary_first", "secondary_last"),
    "address": ("line_1", "line_2", "city", "state", "zip_code"),
    "phone": ("extension",),
}


@dataclass(frozen=True)
class FieldRule:
    target: str
    column: str
    transform: str
    default: str | None = None
    max_length: int | None = None  # the target column's, e.g. varchar(50): a longer value rejects the row
    name_order: str = "given_first"  # name rules: how the source writes names without a comma

    @property
    def family(self) -> str:
        """The parser this rule reads from: rules sharing (column, family) share one parse."""
        return self.transform.split(".")[0]


def column_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def build_rules(
    overrides: dict[str, FieldSpec | None], source_columns: list[str], name_order: str = "given_first"
) -> list[FieldRule]:
    """Resolve the default map plus overrides against the source's actual columns.

    An override of None (`phone_number: ~` in YAML) leaves that field empty: the source has no such data.
    """
    unknown = sorted(set(overrides) - set(CONSUMER_FIELDS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], CONSUMER_FIELDS, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ConfigError(f"unknown target field `mapping.{unknown[0]}`{hint} fields are: {', '.join(CONSUMER_FIELDS)}")
    skipped = {field for field, spec in overrides.items() if spec is None}
    rules, missing = [], []
    for field in (f for f in CONSUMER_FIELDS if f not in skipped):
        try:
            rules.append(_rule(field, overrides.get(field), source_columns, name_order))
        except SourceError as exc:  # every missing column at once, not one per attempt
            missing.append(str(exc))
    if len(missing) == 1:
        raise SourceError(missing[0])
    if missing:
        raise SourceError(
            f"{len(missing)} mapped columns are not in the source:\n" + "\n".join(f"  - {m}" for m in missing)
        )
    return [rule for rule in rules if rule is not None]


def wanted_columns(overrides: dict[str, FieldSpec | None]) -> dict[str, tuple[str, str]]:
    """Target field -> (source column as the job names it, transform), for every field the job maps."""
    return {
        field: _wanted(field, overrides.get(field))
        for field in CONSUMER_FIELDS
        if field not in overrides or overrides[field] is not None
    }


def _wanted(field: str, spec: FieldSpec | None) -> tuple[str, str]:
    default_column, default_transform = DEFAULT_MAPPING[field]
    column = spec.from_ if spec and spec.from_ else default_column
    transform = spec.transform if spec and spec.transform else default_transform
    if (
        spec
        and spec.from_
        and not spec.transform
        and "." in default_transform
        and default_transform != "phone.extension"
    ):
        # A column of its own holds just this field: take it as text rather than re-parse it.
        transform = "text"
    return column, transform


def _rule(field: str, spec: FieldSpec | None, source_columns: list[str], name_order: str) -> FieldRule | None:
    column, transform = _wanted(field, spec)
    _check_transform(field, transform)
    actual = resolve_column(column, source_columns, field)
    if actual is None:
        return None
    return FieldRule(field, actual, transform, spec.default if spec else None, name_order=name_order)


def _check_transform(field: str, transform: str) -> None:
    family, _, part = transform.partition(".")
    if (not part and family in SIMPLE_TRANSFORMS) or part in PART_TRANSFORMS.get(family, ()):
        return
    known = list(SIMPLE_TRANSFORMS) + [f"{f}.{p}" for f, ps in PART_TRANSFORMS.items() for p in ps]
    close = difflib.get_close_matches(transform, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    raise ConfigError(
        f"unknown transform `{transform}`; {hint}transforms are: {', '.join(known)}", key=f"mapping.{field}.transform"
    )


# Words that give away a column's meaning, to suggest a fix when the case-study name is not there.
HINTS = {
    "consumer_id": ("consumer", "customer", "cust", "id"),
    "phone_number": ("phone", "tel", "mobile", "contact", "cell"),
    "email_address": ("email", "mail"),
    "address_line_1": ("address", "addr", "street"),
    "first_name": ("name",),
}
OPTIONAL_FIELDS = {
    "title",
    "middle_name",
    "suffix",
    "preferred_name",
    "secondary_first_name",
    "secondary_last_name",
    "address_line_2",
    "phone_extension",
}


def resolve_column(wanted: str, source_columns: list[str], field: str) -> str | None:
    """The source's own spelling of `wanted`; a missing column is an error unless the field is optional."""
    by_key = {column_key(c): c for c in source_columns}
    if column_key(wanted) in by_key:
        return by_key[column_key(wanted)]
    if field in OPTIONAL_FIELDS and DEFAULT_MAPPING[field][0] == wanted:
        return None
    close = (
        difflib.get_close_matches(wanted, source_columns, n=1, cutoff=0.5)
        or [c for c in source_columns if any(h in column_key(c) for h in HINTS.get(field, ()))][:1]
    )
    transform = DEFAULT_MAPPING[field][1]
    if close and "." in transform:  # a part split out of a column: `from` alone would take the column whole
        hint = f"did you mean `{close[0]}`? set `mapping.{field}: {{from: {close[0]}, transform: {transform}}}`"
    elif close:
        hint = f"did you mean `{close[0]}`? set `mapping.{field}.from: {close[0]}`"
    else:
        hint = f"set `mapping.{field}.from` to one of them, or `mapping.{field}: null` if the source has no such data"
    raise SourceError(
        f"column `{wanted}` (for `{field}`) not found in source; columns are: {', '.join(source_columns)}; {hint}"
    )
