"""E-mail addresses: trimmed, domain lower-cased, syntax-checked (no DNS look-ups).

Plain ASCII addresses are checked vectorised by a pattern narrower than what `email-validator`
accepts; everything else goes to `email-validator`, once per distinct value. tests/test_emails.py
checks that both paths agree.
"""

from __future__ import annotations

from email.utils import getaddresses

import polars as pl
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from ..reasons import EMAIL_INVALID
from .text import by_unique, clean

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_PLAIN = rf"^(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+(?P<tld>[A-Za-z]{{2,63}}))$"


def normalise_emails(values: pl.Series) -> pl.DataFrame:
    """Returns email_address and reason (`email_invalid` or null)."""
    cleaned = values.to_frame("raw").select(clean(pl.col("raw")).alias("raw"))["raw"]
    fast = cleaned.to_frame().select(fast_path(pl.col("raw")))["raw"]
    slow_input = cleaned.to_frame().select(pl.when(fast.is_null()).then(pl.col("raw")))["raw"]
    slow = by_unique(slow_input, parse_one, pl.String)
    email = pl.select(pl.coalesce(fast, slow)).to_series()
    return pl.DataFrame(
        {
            "email_address": email,
            "reason": pl.select(
                pl.when(cleaned.is_not_null() & email.is_null()).then(pl.lit(EMAIL_INVALID))
            ).to_series(),
        }
    )


def parse_one(value: str) -> str | None:
    try:
        # strict: the length limits of RFC 5321 too (a local part over 64 octets cannot be delivered)
        return validate_email(_address_in(value), check_deliverability=False, strict=True).normalized
    except EmailNotValidError:
        return None


def _address_in(value: str) -> str:
    """The address of "mailto:ann@example.com" and of "Ann Lee <ann@example.com>" (a mail client's copy);
    a value with two addresses is left whole, so it stays invalid rather than losing one."""
    if value[:7].lower() == "mailto:":
        value = value[7:]
    if value.endswith(">") and "<" in value:
        found = [address for _, address in getaddresses([value]) if address]
        if len(found) == 1:
            return found[0]
    return value


def fast_path(raw: pl.Expr) -> pl.Expr:
    """The normalised address where a plain ASCII address surely passes; null means 'ask the library'."""
    parts = raw.str.extract_groups(_PLAIN).struct
    domain = parts["domain"].str.to_lowercase()
    plain = (
        (parts["local"].str.len_bytes() <= 64)
        & (raw.str.len_bytes() <= 254)
        & ~domain.str.contains("--", literal=True)
        & ~parts["tld"].str.to_lowercase().is_in(list(SPECIAL_USE_DOMAIN_NAMES))
    )
    return pl.when(plain).then(parts["local"] + "@" + domain).alias("raw")
