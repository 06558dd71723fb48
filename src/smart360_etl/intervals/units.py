"""Units of measure for interval values, and the factor between two of the same dimension.

Factors are exact definitions: 1 kWh = 1,000 Wh; 1 US gallon = 231 in^3 = 3.785411784 L; 1 ft^3 =
28.316846592 L; 1 CCF = 100 ft^3 (NIST Handbook 44, Appendix C). Only units of one dimension convert."""

from __future__ import annotations

from decimal import Decimal

# canonical name -> (dimension, size in the dimension's base unit: Wh for energy, litres for volume)
UNITS: dict[str, tuple[str, Decimal]] = {
    "Wh": ("energy", Decimal(1)),
    "kWh": ("energy", Decimal(1_000)),
    "MWh": ("energy", Decimal(1_000_000)),
    "L": ("volume", Decimal(1)),
    "m3": ("volume", Decimal(1_000)),
    "gal": ("volume", Decimal("3.785411784")),
    "ft3": ("volume", Decimal("28.316846592")),
    "CCF": ("volume", Decimal("2831.6846592")),
}
_SPELLINGS = {name.casefold(): name for name in UNITS} | {
    "kwh": "kWh", "kw-h": "kWh", "kw.h": "kWh", "wh": "Wh", "mwh": "MWh", "l": "L", "litre": "L", "liter": "L",
    "litres": "L", "liters": "L", "m³": "m3", "cubic meter": "m3", "cubic metre": "m3", "gallon": "gal",
    "gallons": "gal", "usgal": "gal", "cf": "ft3", "cubic feet": "ft3", "ft³": "ft3", "hcf": "CCF", "ccf": "CCF",
}


def canonical_unit(text: str | None) -> str | None:
    """The unit's canonical name (kWh, m3, ...), or None for a unit this tool does not know."""
    if text is None:
        return None
    return _SPELLINGS.get(" ".join(str(text).split()).casefold())


def factor(source: str, target: str) -> Decimal | None:
    """What a value in `source` is multiplied by to be in `target`; None across dimensions."""
    (from_dim, from_size), (to_dim, to_size) = UNITS[source], UNITS[target]
    return from_size / to_size if from_dim == to_dim else None
