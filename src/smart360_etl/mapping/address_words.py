"""The words an address grammar knows, per region, read from `lexicons/<REGION>.yaml` over `default.yaml`.

Words are compared by `word_key`: upper case, accents and dots dropped ("Apt." and "APT" are one word,
"Québec" is "QUEBEC"). A job's `region_settings.address_words` adds words to any list.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from importlib import resources

import yaml

LISTS = (
    "street_types",
    "place_leading",
    "units",
    "units_alone",
    "floor_words",
    "route_words",
    "po_box",
    "directionals",
    "directional_abbreviations",
    "house_number_words",
)


@lru_cache(maxsize=50_000)  # words repeat across addresses
def word_key(text: str) -> str:
    """How a word is looked up: 'Apt.' -> 'APT', 'Québec' -> 'QUEBEC', '(ON)' -> 'ON'."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.upper().replace(".", "").strip("()")


def phrase_key(words: list[str] | tuple[str, ...]) -> str:
    return " ".join(word_key(w) for w in words)


@dataclass(frozen=True)
class AddressWords:
    street_types: frozenset[str]
    place_leading: frozenset[str]
    units: frozenset[str]
    units_alone: frozenset[str]
    floor_words: frozenset[str]
    route_words: frozenset[str]
    po_box: frozenset[str]
    directionals: frozenset[str]
    directional_abbreviations: frozenset[str]
    house_number_words: frozenset[str]
    counties: dict[str, str]  # phrase key -> the county as the lexicon writes it
    slash_units: bool = False  # "5/12" is unit 5 of number 12

    @cached_property
    def street_only(self) -> frozenset[str]:
        """Street types that never begin a place name: a city cannot start with one."""
        return self.street_types - self.place_leading


def _read(name: str) -> dict:
    path = resources.files("smart360_etl.mapping").joinpath("lexicons", f"{name}.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}


@cache
def _builtin(region_code: str) -> tuple[dict[str, frozenset[str]], tuple[str, ...], bool]:
    base, own = _read("default"), _read(region_code)
    lists = {name: frozenset(word_key(str(w)) for w in base.get(name, []) + own.get(name, [])) for name in LISTS}
    return lists, tuple(own.get("counties", [])), bool(own.get("slash_units", False))


def address_words(region_code: str, extra: dict[str, list[str]] | None = None) -> AddressWords:
    """The region's lexicon, with a job's additions."""
    lists, counties, slash_units = _builtin(region_code.upper())
    extra = extra or {}
    merged = {name: words | {word_key(w) for w in extra.get(name, [])} for name, words in lists.items()}
    county_names = list(counties) + list(extra.get("counties", []))
    by_key = {phrase_key(c.split()): c for c in county_names}
    return AddressWords(**merged, counties=by_key, slash_units=slash_units)
