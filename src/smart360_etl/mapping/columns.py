"""The source's columns for the case study's five: by name, by a job's `columns:` section, or by a synonym.

Exports name the same data differently: "Name" is `full_name` in one and `customer_name` in another. A
column is found by its case-study name first, then by the job's `columns:` entry, then by a well-known
synonym when exactly one source column is one and no other case-study column has taken it. Names are
compared by `column_key` (case, spaces and punctuation ignored). What could not be found gets one
suggestion per case-study column, never a column another one already uses.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from ..errors import ConfigError

# The case study's columns and the names other systems' exports give them.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "Consumer ID": ("consumer_id", "consumer_no", "consumer_number", "customer_id", "customer_no", "customer_number",
                    "cust_id", "cust_no", "client_id", "client_no", "party_id", "account_holder_id"),
    "Name": ("full_name", "customer_name", "consumer_name", "cust_name", "client_name", "account_name",
             "account_holder", "account_holder_name", "name"),
    "Address": ("address", "street_address", "service_address", "premise_address", "premises_address",
                "supply_address", "site_address", "mailing_address", "postal_address", "full_address", "addr",
                "street"),
    "Contact Number": ("contact_number", "contact_no", "contact", "phone", "phone_number", "phone_no", "telephone",
                       "telephone_number", "tel", "mobile", "mobile_number", "mobile_no", "cell", "cell_phone",
                       "cellphone"),
    "Email Address": ("email_address", "email", "e_mail", "e_mail_address", "mail", "email_id", "mail_id"),
}
# Words that give a column's meaning away, for a suggestion when neither name nor synonym is there.
_HINTS = {
    "Consumer ID": ("consumer", "customer", "cust", "client", "id"),
    "Name": ("name",),
    "Address": ("address", "addr", "street"),
    "Contact Number": ("phone", "tel", "mobile", "contact", "cell"),
    "Email Address": ("email", "mail"),
}


def column_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


@dataclass
class SourceColumns:
    """The source's column for each case-study column (None: the source has none), and how it was found."""

    found: dict[str, str | None]
    by_synonym: dict[str, str] = field(default_factory=dict)  # case-study column -> the synonym used
    suggestions: dict[str, str] = field(default_factory=dict)  # case-study column -> a close source column
    unknown_entries: list[str] = field(default_factory=list)  # `columns:` entries the source does not have


def resolve_source_columns(source_columns: list[str], named: dict[str, str] | None = None) -> SourceColumns:
    named = _by_concept(named or {})
    by_key = {column_key(c): c for c in source_columns}
    found: dict[str, str | None] = dict.fromkeys(SYNONYMS)
    result = SourceColumns(found)
    for concept in SYNONYMS:
        wanted = named.get(concept)
        if wanted is not None:
            found[concept] = by_key.get(column_key(wanted))
            if found[concept] is None:
                result.unknown_entries.append(f"`columns.{concept}: {wanted}`")
        else:
            found[concept] = by_key.get(column_key(concept))
    for concept, synonyms in SYNONYMS.items():
        if found[concept] is not None or concept in named:
            continue
        taken = {c for c in found.values() if c}
        candidates = [by_key[k] for k in dict.fromkeys(column_key(s) for s in synonyms) if k in by_key]
        free = [c for c in candidates if c not in taken]
        if len(free) == 1:
            found[concept] = result.by_synonym[concept] = free[0]
    taken = {c for c in found.values() if c}
    for concept, column in found.items():
        if column is None:
            close = _close(concept, [c for c in source_columns if c not in taken])
            if close:
                result.suggestions[concept] = close
    return result


def _by_concept(named: dict[str, str]) -> dict[str, str]:
    """A job's `columns:` keyed by the case-study names ("name" or "NAME" is `Name`)."""
    concepts = {column_key(c): c for c in SYNONYMS}
    unknown = [key for key in named if column_key(key) not in concepts]
    if unknown:
        raise ConfigError(
            f"unknown case-study column `columns.{unknown[0]}`; they are: {', '.join(SYNONYMS)} "
            "(each maps to the source's own column, e.g. `columns: {Name: full_name}`)"
        )
    return {concepts[column_key(key)]: value for key, value in named.items()}


def _close(concept: str, free: list[str]) -> str | None:
    keys = {column_key(c): c for c in free}
    near = difflib.get_close_matches(column_key(concept), list(keys), n=1, cutoff=0.6)
    for synonym in SYNONYMS[concept]:  # "fullnam", "custmer_id": a synonym misspelt
        near = near or difflib.get_close_matches(column_key(synonym), list(keys), n=1, cutoff=0.8)
    if near:
        return keys[near[0]]
    hinted = [c for c in free if any(h in column_key(c) for h in _HINTS[concept])]
    return hinted[0] if len(hinted) == 1 else None
