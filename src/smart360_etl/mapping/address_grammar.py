"""One free-text address -> line 1, line 2, city, state, postal code, by a grammar over its words.

The address is cut into words (commas kept as boundaries) and read from the right: a postal code where
the region's shape fits, a state or county where the region knows it, then the city, then units. The
city boundary, when no comma gives it, is where the street ends: after a street type ("Ln"), a
post-directional ("Ln NE"), a route number ("State Route 690") or a unit ("Apt 2A"); a place the
gazetteer knows for the postal code or state decides first. Words are compared whole (address_words.py),
never inside another word. Every word lands in exactly one part, none is invented; the only words left
out are separators, and a state or postal code that is malformed (its row gets the reason).

`address_ambiguous` marks a parse that had to choose between readings or found no city where one
should be: the row loads, and the reason says it is worth a look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..reasons import ADDRESS_AMBIGUOUS, POSTAL_CODE_INVALID, STATE_INVALID
from ..regions import Region
from .address_words import AddressWords, address_words, phrase_key, word_key
from .places import Places, place_key, places_for

_SEPARATOR = re.compile(r"^[-–—/|:;.]+$")
_UNIT_ID = re.compile(r"(?i)#?(?:\d+[A-Z]?|[A-Z]|[A-Z]?\d+[-/]?[A-Z0-9]{0,4})")
_ORDINAL = re.compile(r"(?i)\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|ground|lower|upper|top")
_HASH_UNIT = re.compile(r"#[A-Za-z0-9][A-Za-z0-9\-]*")
_SLASH_UNIT = re.compile(r"(\d+[A-Za-z]?)/(\d+[A-Za-z]?)")
_MAX_PLACE_WORDS = 6


@dataclass
class Word:
    text: str  # as written, commas removed
    key: str
    part: int  # which comma-separated part of the address it is in


@dataclass
class Parsed:
    line_1: str | None = None
    line_2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return dict(self.__dict__)


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _by_part(words: list[Word]) -> list[list[Word]]:
    """The words of each comma part, in order."""
    parts: dict[int, list[Word]] = {}
    for word in words:
        parts.setdefault(word.part, []).append(word)
    return list(parts.values())


def _joined(words: list[Word]) -> str | None:
    """Words back into text: a space within a comma part, a comma between parts."""
    if not words:
        return None
    out = words[0].text
    for before, word in zip(words, words[1:]):
        out += (" " if before.part == word.part else ", ") + word.text
    return out


class AddressGrammar:
    """The parser for one region; `parse` is pure, so callers may cache it per distinct address."""

    def __init__(self, region: Region, places: Places | None = None):
        self.words: AddressWords = address_words(region.code, region.address_words)
        self.places = places if places is not None else places_for(region.code)
        self.postal = re.compile(rf"(?i)(?:{region.postal})")
        self.needs_context = region.postal_needs_context
        self.codes = {code.upper() for code in region.states}
        self.names = {phrase_key(name.split()) for name in region.states.values()}
        self.names |= set(self.words.counties)
        self.name_ends = {name.rsplit(" ", 1)[-1] for name in self.names}  # a cheap first test
        self.longest_name = max((len(n.split()) for n in self.names), default=1)

    # -- words -------------------------------------------------------------------------------------

    def tokenise(self, text: str) -> list[Word]:
        words = []
        for part, chunk in enumerate(c for c in text.split(",") if c.strip()):
            for raw in chunk.split():
                if not _SEPARATOR.match(raw):
                    words.append(Word(raw, word_key(raw), part))
        if words:  # "Mumbai-400001": a postal code joined to the city by a hyphen
            last = words[-1]
            head, _, tail = last.text.rpartition("-")
            if head and self.postal.fullmatch(tail) and not _has_digit(head):
                words[-1:] = [Word(head, word_key(head), last.part), Word(tail, word_key(tail), last.part)]
        return words

    def _is_type(self, word: Word) -> bool:
        return word.key in self.words.street_types

    def _city_may_start(self, word: Word) -> bool:
        key = word.key
        return not (
            key[:1].isdigit()
            or key in self.words.street_only
            or key in self.words.directional_abbreviations
            or key in self.words.units
            or key in self.words.units_alone
        )

    # -- units -------------------------------------------------------------------------------------

    def unit_end(self, words: list[Word], start: int) -> int:
        """The index after the unit phrase(s) that begin at `start` ("Bldg 4 Ste 200", "41st Floor",
        "#2A", "Rear"); `start` itself when none does."""
        i, w = start, self.words
        while i < len(words):
            word, following = words[i], words[i + 1] if i + 1 < len(words) else None
            paired = following is not None and following.part == word.part
            if (word.key in w.units or word.key in w.floor_words) and following is not None and paired \
                    and _UNIT_ID.fullmatch(following.text):
                i += 2
            elif _ORDINAL.fullmatch(word.text) and following is not None and paired and following.key in w.floor_words:
                i += 2
            elif _HASH_UNIT.fullmatch(word.text) or word.key in w.units_alone:
                i += 1
            else:
                break
        return i

    # -- the street's end --------------------------------------------------------------------------

    def _name_start(self, words: list[Word]) -> int:
        """Where the street's name begins: after the house number ("123", "12B", "H.No. 45", "12/34")."""
        i = 0
        while i < len(words) and (_has_digit(words[i].text) or words[i].key in self.words.house_number_words):
            i += 1
        return i

    def street_ends_at(self, words: list[Word], i: int, name_start: int) -> bool:
        """Whether a street can end with words[i]."""
        word, w = words[i], self.words
        before = words[i - 1] if i > 0 else None
        if self._is_type(word) and i > name_start:
            return True
        if _has_digit(word.text) and before is not None:
            if before.key in w.route_words or before.key in w.po_box:
                return True
        head, _, number = word.key.partition("-")  # "I-95", "NH-48"
        if head in w.route_words and number[:1].isdigit():
            return True
        if word.key in w.directionals and before is not None and before.key not in w.directionals:
            return self.street_ends_at(words, i - 1, name_start)  # "Tower Ln NE"
        return False

    # -- postal code and state ---------------------------------------------------------------------

    def _take_postal(self, words: list[Word], end: int) -> tuple[str | None, int]:
        for n in (2, 1):
            if end - n < 0 or (n == 2 and words[end - 2].part != words[end - 1].part):
                continue
            candidate = " ".join(word.text for word in words[end - n : end])
            if self.postal.fullmatch(candidate):
                return candidate, end - n
        return None, end

    def _state_at(self, words: list[Word], end: int) -> int | None:
        """Where a state or county name or code ending at `end` begins (the longest), or None."""
        ends_a_name = end >= 1 and words[end - 1].key in self.name_ends
        for n in range(min(self.longest_name, end) if ends_a_name else 0, 0, -1):
            chunk = words[end - n : end]
            if chunk[0].part == chunk[-1].part and " ".join(word.key for word in chunk) in self.names:
                return end - n
        if end >= 1 and words[end - 1].key in self.codes:
            return end - 1
        return None

    def _state_in_context(self, words: list[Word], start: int, end: int, has_postal: bool) -> bool:
        """A state without a postal code only after a comma, or in capitals (or a name) after a city that
        follows a comma ("12 Oak St, Austin TX"): "12 Elm Ct" keeps its Court."""
        if start == 0:
            return False
        if has_postal or words[start - 1].part != words[start].part:
            return True
        later_part = words[start].part > 0 and words[start - 1].part == words[start].part
        is_code = end - start == 1 and words[start].key in self.codes
        capitals = words[start].text.replace(".", "").isupper()
        return later_part and (not is_code or capitals)

    # -- the whole address -------------------------------------------------------------------------

    def parse(self, text: str) -> dict[str, str | None]:
        words = self.tokenise(text)
        out = Parsed()
        end = len(words)
        postal, before_postal = self._take_postal(words, end)
        state_start = self._state_at(words, before_postal) if postal else None
        if postal and self.needs_context:
            comma_before = before_postal > 0 and words[before_postal - 1].part != words[before_postal].part
            bad_state = state_start is None and self._looks_like_state(words, before_postal)
            if not (state_start is not None or comma_before or bad_state):
                postal, before_postal = None, end
        if postal:
            out.zip_code, end = postal, before_postal
        elif end >= 2 and _has_digit(words[-1].text):
            start = self._state_at(words, end - 1)
            if start is not None and self._state_in_context(words, start, end - 1, True):
                out.reason, end = POSTAL_CODE_INVALID, end - 1  # "IL 6270": the malformed code is nulled
        state_by_name = False
        start = self._state_at(words, end)
        if start is not None and self._state_in_context(words, start, end, out.zip_code is not None):
            out.state = _joined(words[start:end])
            state_by_name = end - start > 1 or words[start].key not in self.codes
            end = start
        elif out.zip_code and self._looks_like_state(words, end):
            out.reason, end = STATE_INVALID, end - 1
        located = out.zip_code is not None or out.state is not None or out.reason == STATE_INVALID
        street, line_2, city, ambiguous = self._split_city(words[:end], out, located)
        if city is None and state_by_name and street:
            # "12 High St, Durham, DH1 3AA": the county's name is the post town's here
            city, out.state, ambiguous = out.state, None, True
        line_1, more_units = self._take_units(street)
        out.line_1 = line_1
        out.line_2 = ", ".join(u for u in (*line_2, *more_units) if u) or None
        out.city = city
        if ambiguous and out.reason is None:
            out.reason = ADDRESS_AMBIGUOUS
        return out.as_dict()

    def _looks_like_state(self, words: list[Word], end: int) -> bool:
        """A code in capitals where a state would be, that the region does not know ("XX 62704")."""
        if not self.codes or end < 2:
            return False
        word = words[end - 1]
        w = self.words
        return (
            re.fullmatch(r"[A-Z]{2,3}", word.text) is not None
            and word.key not in w.street_types
            and word.key not in w.directionals
            and word.key not in w.units
        )

    # -- the city ----------------------------------------------------------------------------------

    def _split_city(self, words: list[Word], out: Parsed, located: bool):
        """(street words, unit texts, city, ambiguous)."""
        if not words:
            return [], [], None, located
        parts = _by_part(words)
        if not located:
            return words, [], None, self._trailing_words(words, parts)
        if len(parts) >= 2:
            last, rest = parts[-1], words[: -len(parts[-1])]
            unit_end = self.unit_end(last, 0)
            if unit_end == len(last) or (len(last) == 1 and _has_digit(last[0].text)):
                return rest, [_joined(last)], None, True  # "..., Apt 4, IL 62701": no city
            if unit_end > 0:  # "12 Elm St, Apt 4 Springfield IL"
                return rest, [_joined(last[:unit_end])], _joined(last[unit_end:]), False
            if last[0].key[:1].isdigit() and len(last) >= 3:  # "Suite 5, 123 Main St Springfield, IL"
                street, units, city, ambiguous = self._boundary(last, out)
                return rest + street, units, city, ambiguous
            return rest, [], _joined(last), False
        return self._boundary(words, out)

    def _trailing_words(self, words: list[Word], parts: list[list[Word]]) -> bool:
        """Without a state or postal code, words after a street's end that are no unit may be a city that
        cannot be confirmed ("12 Main St Springfield"): worth a look."""
        if len(parts) >= 2:
            last = parts[-1]
            return self.unit_end(last, 0) < len(last) and not last[0].key[:1].isdigit()
        name_start = self._name_start(words)
        ends = [i for i in range(len(words)) if self.street_ends_at(words, i, name_start)]
        if not ends or ends[-1] == len(words) - 1:
            return False
        return self.unit_end(words, ends[-1] + 1) < len(words)

    def _boundary(self, words: list[Word], out: Parsed):
        """Street and city in one comma part: (street words, unit texts, city, ambiguous)."""
        lead = self.unit_end(words, 0)
        leading = [_joined(words[:lead])] if 0 < lead < len(words) else []
        body = words[lead:] if leading else words
        if len(body) < 2:
            return words, [], None, True
        name_start = self._name_start(body)
        for i in range(len(body) - 2, 0, -1):  # a unit between street and city is the surest boundary
            j = self.unit_end(body, i)
            if j > i and j < len(body) and i >= name_start and self._city_may_start(body[j]):
                return body[:i], [*leading, _joined(body[i:j])], _joined(body[j:]), False
        ends = [
            b
            for b in range(1, len(body))
            if self.street_ends_at(body, b - 1, name_start) and self._city_may_start(body[b])
        ]
        places = self.places.for_postal(out.zip_code)
        by_postal = places is not None
        if not by_postal:
            places = self.places.for_state(out.state)
        # A place of the postal code decides alone; a place somewhere in the state only where a street can end.
        for k in range(min(_MAX_PLACE_WORDS, len(body) - 1), 0, -1):
            b = len(body) - k
            if places and b > name_start and place_key([word.text for word in body[b:]]) in places:
                if by_postal or b in ends or not ends:
                    return body[:b], leading, _joined(body[b:]), False
        if not ends:
            return words, [], None, True
        b = ends[0]
        ambiguous = len(ends) > 1 or bool(places)
        return body[:b], leading, _joined(body[b:]), ambiguous

    # -- units in the street part ------------------------------------------------------------------

    def _take_units(self, words: list[Word]) -> tuple[str | None, list[str | None]]:
        """(line 1, unit texts): unit phrases at the start or end of a comma part, a comma part that is
        only a unit or a bare secondary number ("212 W. Washington, 1506"), and AU's "5/12 Smith St"."""
        units: list[str | None] = []
        kept: list[Word] = []
        for n, chunk in enumerate(_by_part(words)):
            lead = self.unit_end(chunk, 0)
            bare_number = n > 0 and len(chunk) == 1 and _UNIT_ID.fullmatch(chunk[0].text) and _has_digit(chunk[0].text)
            if lead == len(chunk) or bare_number:
                units.append(_joined(chunk))
                continue
            if lead:
                units.append(_joined(chunk[:lead]))
                chunk = chunk[lead:]
            tail = self._trailing_unit_start(chunk)
            if tail is not None:
                units.append(_joined(chunk[tail:]))
                chunk = chunk[:tail]
            if self.words.slash_units and chunk and len(chunk) > 1:
                slash = _SLASH_UNIT.fullmatch(chunk[0].text)
                if slash:
                    units.append(slash.group(1))
                    chunk = [Word(slash.group(2), slash.group(2), chunk[0].part), *chunk[1:]]
            kept.extend(chunk)
        return _joined(kept), units

    def _trailing_unit_start(self, chunk: list[Word]) -> int | None:
        for i in range(1, len(chunk)):
            if self.unit_end(chunk, i) == len(chunk):
                return i
        return None
