"""Region settings (phone region, postal-code shape, states) as data, never hard-coded to one country."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

# A region we know nothing about still gets a working, permissive postal shape.
PERMISSIVE_POSTAL = r"\d{3,10}(?:-\d{1,6})?"


class Region(BaseModel):
    """How addresses and phones look in one country."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="ISO 3166-1 alpha-2 code, e.g. US")
    phone_region: str = Field(description="default region for phone numbers without a country code")
    postal: str = Field(PERMISSIVE_POSTAL, description="regular expression for one postal code")
    postal_needs_context: bool = Field(True, description="a postal code is only taken after a state or a comma")
    states: dict[str, str] = Field(default_factory=dict, description="state code -> state name")
    country_names: list[str] = Field(
        default_factory=list, description="how addresses name the country at their end; dropped there"
    )
    postal_prefixes: dict[str, list[str]] = Field(
        default_factory=dict, description="state code -> postal-code prefix ranges, e.g. IL: ['600-629']"
    )
    address_words: dict[str, list[str]] = Field(
        default_factory=dict,
        description="words added to the region's address lexicon (mapping/lexicons), e.g. street_types: [Wynd]",
    )

    @field_validator("address_words")
    @classmethod
    def _known_word_lists(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from .mapping.address_words import LISTS

        known = (*LISTS, "counties")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown word list `{unknown[0]}`; the lists are: {', '.join(known)}")
        return value

    def state_lookup(self) -> dict[str, str]:
        """Upper-cased code or name -> code, to normalise 'illinois', 'Il' and 'IL' alike."""
        lookup = {name.upper(): code for code, name in self.states.items()}
        lookup.update({code.upper(): code for code in self.states})
        return lookup


@cache
def builtin_regions() -> dict[str, dict]:
    text = resources.files("smart360_etl").joinpath("regions.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def region_for(code: str, overrides: dict | None = None) -> Region:
    """The built-in region `code` with job-file overrides; unknown codes get a permissive default."""
    code = code.upper()
    settings = dict(builtin_regions().get(code, {"phone_region": code}))
    settings.update(overrides or {})
    return Region(code=code, **settings)
