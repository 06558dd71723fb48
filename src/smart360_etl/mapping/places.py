"""A gazetteer of place names by postal code and by state, from a well-kept data package.

US: the `zipcodes` package (USPS ZIP codes with their city, the other city names USPS accepts for the
code, and the state). Other regions have none built in yet: `Places.empty()` knows no place, and the parser
then relies on its grammar alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .address_words import word_key

# Words a place name may be written with either way ("St Louis", "Saint Louis").
SPELLED_OUT = {"ST": "SAINT", "STE": "SAINTE", "FT": "FORT", "MT": "MOUNT", "PT": "POINT"}


def place_key(words: list[str] | tuple[str, ...] | str) -> str:
    """One spelling per place: upper case, no accents or dots, hyphens as spaces, St/Ft/Mt spelled out."""
    if isinstance(words, str):
        words = words.split()
    parts = [word_key(w) for word in words for w in word.replace("-", " ").split()]
    return " ".join(SPELLED_OUT.get(p, p) for p in parts)


@dataclass(frozen=True)
class Places:
    by_postal: dict[str, frozenset[str]] = field(default_factory=dict)
    by_state: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Places:
        return cls()

    def for_postal(self, postal: str | None) -> frozenset[str] | None:
        """The place keys of a postal code (its first five digits for a ZIP+4), or None when unknown."""
        if not postal or not self.by_postal:
            return None
        return self.by_postal.get(postal.replace(" ", "").upper()[:5])

    def for_state(self, state: str | None) -> frozenset[str] | None:
        return self.by_state.get(state.upper()) if state and self.by_state else None

    def pairs(self, postals: set[str] | None = None) -> list[tuple[str, str]]:
        """(postal code, place key) for every place of every code (of `postals`): the check's reference table."""
        return [
            (postal, place)
            for postal, places in self.by_postal.items()
            if postals is None or postal in postals
            for place in places
        ]


def has_gazetteer(region_code: str) -> bool:
    """Whether `places_for` knows places for the region (without reading them)."""
    return region_code.upper() == "US"


CACHE_FORMAT = 1  # bump when what `_built_places` derives changes


@cache
def places_for(region_code: str) -> Places:
    """The region's gazetteer. Built from its package once per package version, then read from a JSON copy
    in the user's cache directory (0.07 s instead of 0.9 s for the US, in every run that maps addresses)."""
    if not has_gazetteer(region_code):
        return Places.empty()
    import zipcodes

    path = _cache_dir() / f"places-US-zipcodes-{getattr(zipcodes, '__version__', 'unknown')}-{CACHE_FORMAT}.json"
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        return Places(
            {k: frozenset(v) for k, v in kept["by_postal"].items()},
            {k: frozenset(v) for k, v in kept["by_state"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # none yet, or unreadable: built again
    places = _built_places()
    _keep(path, places)
    return places


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smart360-etl"


def _keep(path: Path, places: Places) -> None:
    """Write the copy atomically (a concurrent run reads the old file or the new one, never half of one);
    a cache that cannot be written only costs the next run the build."""
    data = {
        "by_postal": {k: sorted(v) for k, v in places.by_postal.items()},
        "by_state": {k: sorted(v) for k, v in places.by_state.items()},
    }
    written: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as out:
            written = Path(out.name)
            json.dump(data, out)
        os.replace(written, path)
    except OSError:
        if written is not None:
            written.unlink(missing_ok=True)  # half a copy (a full disk) is not left behind


def _built_places() -> Places:
    import zipcodes

    by_postal: dict[str, set[str]] = {}
    by_state: dict[str, set[str]] = {}
    # By first digit: `list_all()` would hold all 42,000 records as Python dicts at once (and cache them
    # for the process's life), about 100 MB more peak memory than ten lists of a tenth each.
    for entry in (e for digit in "0123456789" for e in zipcodes.similar_to(digit)):
        names = [entry["city"], *entry.get("acceptable_cities", [])]
        keys = {place_key(name) for name in names if name}
        by_postal.setdefault(entry["zip_code"], set()).update(keys)
        by_state.setdefault(entry["state"], set()).update(keys)
    return Places(
        {k: frozenset(v) for k, v in by_postal.items()},
        {k: frozenset(v) for k, v in by_state.items()},
    )
