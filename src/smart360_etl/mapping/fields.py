"""The field map: which SMART360 consumer field comes from which source column, by which transform.

Readable on one screen; a job's `mapping:` section overrides any entry. Source columns match
case-, space- and punctuation-insensitively: "Contact Number", "contact_number", "CONTACT-NUMBER".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..config import FieldSpec
from ..errors import ConfigError, SourceError
from .columns import SourceColumns, column_key, resolve_source_columns

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


def consumer_id_rule(rules: list[FieldRule]) -> FieldRule:
    """The rule that maps the consumer id (every job has one: build_rules refuses a mapping without)."""
    return next(rule for rule in rules if rule.target == "consumer_id")


def build_rules(
    overrides: dict[str, FieldSpec | None],
    source_columns: list[str],
    name_order: str = "given_first",
    columns: dict[str, str] | None = None,
) -> list[FieldRule]:
    """Resolve the default map plus overrides against the source's actual columns.

    An override of None (`phone_number: ~` in YAML) leaves that field empty: the source has no such data.
    `columns` names the source's column for a case-study column (`{Name: full_name}`): every field split
    out of it reads that column. Every problem is reported at once, one line per source column.
    """
    unknown = sorted(set(overrides) - set(CONSUMER_FIELDS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], CONSUMER_FIELDS, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ConfigError(f"unknown target field `mapping.{unknown[0]}`{hint} fields are: {', '.join(CONSUMER_FIELDS)}")
    resolved = resolve_source_columns(source_columns, columns)
    skipped = {field for field, spec in overrides.items() if spec is None}
    rules: list[FieldRule | None] = []
    missing: list[str] = []
    unfound: dict[str, list[str]] = {}
    for field in (f for f in CONSUMER_FIELDS if f not in skipped):
        spec = overrides.get(field)
        if spec is not None and spec.from_:
            try:
                rules.append(_rule(field, spec, source_columns, name_order))
            except SourceError as exc:  # every missing column at once, not one per attempt
                missing.append(str(exc))
            continue
        column, transform = _wanted(field, spec)
        _check_transform(field, transform)
        actual = resolved.found[column]
        if actual is not None:
            rules.append(FieldRule(field, actual, transform, spec.default if spec else None, name_order=name_order))
        elif field not in OPTIONAL_FIELDS:
            unfound.setdefault(column, []).append(field)
    missing += [f"`columns:` names a column the source does not have: {entry}" for entry in resolved.unknown_entries]
    missing += [_not_found(concept, fields, resolved, source_columns) for concept, fields in unfound.items()]
    if len(missing) == 1:
        raise SourceError(missing[0])
    if missing:
        raise SourceError(f"{len(missing)} source columns are missing:\n" + "\n".join(f"  - {m}" for m in missing))
    return [rule for rule in rules if rule is not None]


def _not_found(concept: str, fields: list[str], resolved: SourceColumns, source_columns: list[str]) -> str:
    used_by = ", ".join(f"`{f}`" for f in fields)
    close = resolved.suggestions.get(concept)
    if close:
        hint = f"did you mean `{close}`? write `columns: {{{concept}: {close}}}`"
    else:
        nulls = ", ".join(f"{f}: null" for f in fields)
        hint = (f"write `columns: {{{concept}: <column>}}` for the column that holds it, or `mapping: {{{nulls}}}` "
                "if the source has no such data")
    return f"column `{concept}` (for {used_by}) not found in source; {hint}; columns are: {', '.join(source_columns)}"


def mapping_notes(
    overrides: dict[str, FieldSpec | None], source_columns: list[str], columns: dict[str, str] | None = None
) -> list[tuple[bool, str]]:
    """What a run says about its mapping, as (a problem?, text): the synonyms it read (not a problem),
    and split fields left partly empty (a problem: values of the source are not loaded)."""
    resolved = resolve_source_columns(source_columns, columns)
    notes = [
        (False, f"column `{concept}` read from `{column}` (a common name for it; `columns: {{{concept}: <column>}}` "
         "chooses another)")
        for concept, column in resolved.by_synonym.items()
    ]
    for family in ("name", "address"):
        split_from = {
            spec.from_: field
            for field, spec in overrides.items()
            if spec is not None and spec.from_ and (spec.transform or "").startswith(family + ".")
        }
        empty = [
            field
            for field, (concept, transform) in DEFAULT_MAPPING.items()
            if transform.startswith(family + ".") and field not in overrides and resolved.found[concept] is None
        ]
        if split_from and empty:
            column = next(iter(split_from))
            concept = DEFAULT_MAPPING[split_from[column]][0]
            notes.append((True,
                f"{family} parts split out of `{column}` for {', '.join(split_from.values())}, but "
                f"{', '.join(empty)} stay empty; write `columns: {{{concept}: {column}}}` to split every part out "
                "of it"
            ))
    return notes


def wanted_columns(
    overrides: dict[str, FieldSpec | None],
    source_columns: list[str] | None = None,
    columns: dict[str, str] | None = None,
) -> dict[str, tuple[str, str]]:
    """Target field -> (source column, transform), for every field the job maps; with `source_columns`, a
    case-study column is the one the source has for it (its `columns:` entry or synonym)."""
    found = resolve_source_columns(source_columns, columns).found if source_columns is not None else {}
    wanted = {}
    for field in CONSUMER_FIELDS:
        if field in overrides and overrides[field] is None:
            continue
        column, transform = _wanted(field, overrides.get(field))
        spec = overrides.get(field)
        wanted[field] = (column if spec and spec.from_ else found.get(column) or column, transform)
    return wanted


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
    if field in OPTIONAL_FIELDS and DEFAULT_MAPPING.get(field, ("",))[0] == wanted:
        return None
    close = (
        difflib.get_close_matches(wanted, source_columns, n=1, cutoff=0.5)
        or [c for c in source_columns if any(h in column_key(c) for h in HINTS.get(field, ()))][:1]
    )
    transform = DEFAULT_MAPPING.get(field, ("", "text"))[1]
    if close and "." in transform:  # a part split out of a column: `from` alone would take the column whole
        hint = f"did you mean `{close[0]}`? set `mapping.{field}: {{from: {close[0]}, transform: {transform}}}`"
    elif close:
        hint = f"did you mean `{close[0]}`? set `mapping.{field}.from: {close[0]}`"
    else:
        hint = f"set `mapping.{field}.from` to one of them, or `mapping.{field}: null` if the source has no such data"
    raise SourceError(
        f"column `{wanted}` (for `{field}`) not found in source; columns are: {', '.join(source_columns)}; {hint}"
    )
