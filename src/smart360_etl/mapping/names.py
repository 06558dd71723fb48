"""Full name -> title, first, middle, last, suffix.

Common shapes ("[Title] First [Middle] Last[, Suffix]", "Last, First [Middle]" of plain words) are
split vectorised; anything else (particles, rare titles, odd punctuation) goes to `nameparser`, once
per distinct value. The fast path refuses names with any word nameparser treats specially, so both
agree (tests/test_names.py checks that). No token is ever dropped: a parse that loses one is refused.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources

import polars as pl
import yaml
from nameparser import Parser, Policy

from ..reasons import NAME_MULTIPLE_PEOPLE, NAME_ORDER_UNCERTAIN, NAME_ORGANISATION
from .text import by_unique, clean

PARTS = ("title", "first", "middle", "last", "suffix")
PART_DTYPE = pl.Struct({part: pl.String for part in PARTS})
# A second person ("John & Jill Smith") and a nickname ('Robert "Bob" Rogers') have fields of their own.
EXTRA_PARTS = ("preferred", "secondary_first", "secondary_last")
ALL_PARTS = PARTS + EXTRA_PARTS
_SPECIAL_DTYPE = pl.Struct({part: pl.String for part in (*ALL_PARTS, "reason")})
NAME_ORDERS = ("given_first", "surname_first", "auto")
_ROLE = {"title": "title", "first": "given", "middle": "middle", "last": "family", "suffix": "suffix"}

# Nicknames in quotes or brackets would be moved out of every part and lost; keep them as tokens.
_PARSER = Parser(policy=Policy(nickname_delimiters=frozenset()))

_TOKEN = r"[A-Za-z][A-Za-z'\-]*"
_MIDDLE = rf"(?P<middle>{_TOKEN}|[A-Za-z]\.)"
_COMMON_TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr", "Prof")  # the fast path's; nameparser knows the rest
_TITLE = rf"(?P<title>(?:{'|'.join(_COMMON_TITLES)})\.?)"
_SUFFIX = r"(?P<suffix>(?:Jr|Sr|II|III|IV|PhD|MD)\.?)"
# The shapes most names come in; anything else (particles, odd punctuation, rare titles) goes to the library.
_GIVEN_FIRST = rf"(?i)^(?:{_TITLE} )?(?P<first>{_TOKEN})(?: {_MIDDLE})?? (?P<last>{_TOKEN})(?:,? {_SUFFIX})?$"
_FAMILY_FIRST = rf"(?i)^(?P<last>{_TOKEN}), (?P<first>{_TOKEN})(?: {_MIDDLE})?$"



@cache
def name_words() -> dict[str, list[str]]:
    """mapping/lexicons/names.yaml: roles, abbreviated given names, legal forms, organisation words."""
    path = resources.files("smart360_etl.mapping").joinpath("lexicons", "names.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\.?\s*") for w in sorted(words, key=len, reverse=True))


@cache
def _organisation_pattern() -> str:
    """Commercial and public-body consumers and estates: split as people they would be wrong, so they are
    flagged (`name_organisation`). Legal forms count as the last word only; a form of three letters or
    fewer only in capitals or with dots ("Siemens AG", "Lee P.C."), so that "Kim Na" stays a person."""
    words = name_words()
    long_forms = [f for f in words["legal_forms"] if len(f.replace(" ", "")) > 3]
    short_forms = [f for f in words["legal_forms"] if len(f.replace(" ", "")) <= 3]
    short = "|".join(
        "\\.?\\s*".join(re.escape(c.upper()) for c in f.replace(" ", "")) + "\\.?" for f in short_forms
    )
    return (
        rf"(?i:(?:^|[\s,&])(?:{_alternation(words['organisation_words'])})(?:[\s,.]|$))"
        rf"|(?i:[\s,](?:{_alternation(long_forms)})\.?$)|[\s,](?:{short})$|&\s*(?i:co)\.?$"
        r"|^\S+\s*&\s*\S+$"  # "Barnes & Noble": two single words joined are a firm, not a couple
    )


def _special_words() -> list[str]:
    """Every word the library treats specially (titles, suffixes, particles, conjunctions...)."""
    lexicon, words = _PARSER.lexicon, set()
    for attr in dir(lexicon):
        value = getattr(lexicon, attr)
        if not attr.startswith("_") and isinstance(value, (set, frozenset)):
            words |= {w.lower().rstrip(".") for w in value if isinstance(w, str)}
    return sorted(words)


_SPECIAL = _special_words()


def split_names(names: pl.Series, order: str = "given_first") -> pl.DataFrame:
    """Split a column of full names into the ALL_PARTS columns (null where absent) and a `reason`:
    `name_organisation` for an organisation's or an estate's name (still split, no word lost),
    `name_multiple_people` for a couple (a primary and a secondary person), `name_order_uncertain` where
    `order: auto` could not confirm the order from the source's own names."""
    cleaned = names.to_frame("name").select(clean(pl.col("name")).alias("name"))["name"]
    organisation = cleaned.str.contains(_organisation_pattern()).fill_null(False)
    special = cleaned.str.contains(_special_shape()).fill_null(False) & ~organisation
    ordinary = pl.select(pl.when(~pl.lit(special)).then(pl.lit(cleaned))).to_series().alias("name")
    ordinary, order_reason = _in_order(ordinary, order)
    fast = _split_common_shapes(ordinary)
    slow_input = ordinary.to_frame().select(pl.when(fast["first"].is_null()).then(pl.col("name")))["name"]
    slow = by_unique(slow_input, parse_one, PART_DTYPE).struct.unnest()
    only_special = pl.select(pl.when(pl.lit(special)).then(pl.lit(cleaned))).to_series()
    unusual = by_unique(only_special, parse_special, _SPECIAL_DTYPE).struct.unnest()
    decided = fast["first"].is_not_null()
    common = pl.DataFrame({p: pl.select(pl.when(decided).then(fast[p]).otherwise(slow[p])).to_series() for p in PARTS})
    parts = pl.DataFrame(
        {
            p: pl.select(pl.when(special).then(unusual[p]).otherwise(common[p] if p in PARTS else None)).to_series()
            for p in ALL_PARTS
        }
    )
    reason = pl.select(
        pl.when(organisation)
        .then(pl.lit(NAME_ORGANISATION))
        .otherwise(pl.coalesce(unusual["reason"], order_reason))
    ).to_series().alias("reason")
    return _fix_case(parts, cleaned).with_columns(reason)


def _in_order(names: pl.Series, order: str) -> tuple[pl.Series, pl.Series]:
    """Names written surname first without a comma ("Swanson Peter A") given their comma, so that the
    splitter reads them right; with `auto` only when the source's own "Last, First" names say that its
    order is surname first. Returns the names and a reason per row (`name_order_uncertain` or null)."""
    none = pl.Series("reason", [None] * len(names), dtype=pl.String)
    if order == "given_first":
        return names, none
    frame = names.to_frame("name").with_columns(
        plain=pl.col("name").str.contains(r"^[^,\s]+(?:\s+[^,\s]+){1,2}$")
        & ~pl.col("name").str.contains(rf"(?i)^{_TITLE}\s"),
        w0=pl.col("name").str.extract(r"^(\S+)").str.to_lowercase(),
        wn=pl.col("name").str.extract(r"(\S+)$").str.to_lowercase(),
    )
    reorder = pl.col("plain")
    uncertain = pl.lit(False)
    if order == "auto":
        commas = names.drop_nulls().filter(names.drop_nulls().str.contains(","))
        surnames = commas.str.extract(r"^([^,]+?)\s*,").str.to_lowercase().unique().implode()
        givens = commas.str.extract(r",\s*(\S+)").str.to_lowercase().unique().implode()
        surname_first = pl.col("w0").is_in(surnames) | pl.col("wn").is_in(givens)
        given_first = pl.col("w0").is_in(givens) | pl.col("wn").is_in(surnames)
        votes = frame.filter("plain").select(surname_first.sum().alias("s"), given_first.sum().alias("g"))
        chosen_surname_first = votes["s"][0] > votes["g"][0]
        reorder = pl.col("plain") & pl.lit(chosen_surname_first)
        confirmed = surname_first if chosen_surname_first else given_first
        uncertain = pl.col("plain") & ~confirmed.fill_null(False)
    out = frame.select(
        pl.when(reorder).then(pl.col("name").str.replace(r"^(\S+)\s+", "$1, ")).otherwise(pl.col("name")).alias("name"),
        pl.when(uncertain).then(pl.lit(NAME_ORDER_UNCERTAIN)).alias("reason"),
    )
    return out["name"], out["reason"]


def _split_common_shapes(cleaned: pl.Series) -> pl.DataFrame:
    """Vectorised split of the common shapes; all-null rows where the library must decide."""
    frame = cleaned.to_frame("name").with_columns(
        given=pl.col("name").str.extract_groups(_GIVEN_FIRST),
        family=pl.col("name").str.extract_groups(_FAMILY_FIRST),
    )
    parts = frame.select(
        pl.coalesce(pl.col("given").struct[p], pl.col("family").struct[p]).alias(p)
        if p in ("first", "middle", "last")
        else pl.col("given").struct[p]
        for p in PARTS
    )

    # Which words the library treats specially, decided once per distinct word (names repeat their words:
    # a few thousand distinct at 200,000 names), then looked up per row: 4x less CPU than per row and part.
    words = pl.concat([parts[p] for p in ("first", "middle", "last")]).drop_nulls().unique()
    special_words = words.filter(_word(words).is_in(_SPECIAL) | words.str.contains(r"(?i)^[ivx]+$"))  # "Ix"
    flags = [pl.col(p).is_in(special_words.implode()) for p in ("first", "middle", "last")]
    flags.append(pl.lit(_split_special_word(parts)))
    plain = ~pl.any_horizontal(flag.fill_null(False) for flag in flags)
    return parts.select(pl.when(plain & pl.col("first").is_not_null()).then(pl.col(p)).alias(p) for p in PARTS)


def _split_special_word(parts: pl.DataFrame) -> pl.Series:
    """Two adjacent words that make one special word ("Ph D."): only names with a middle word can have them."""
    with_middle = parts["middle"].is_not_null().arg_true()
    joined = parts[with_middle].select(
        pl.any_horizontal(
            (_word(pl.col(a)) + _word(pl.col(b))).is_in(_SPECIAL) for a, b in (("first", "middle"), ("middle", "last"))
        )
    )
    return pl.repeat(False, parts.height, eager=True).scatter(with_middle, joined.to_series().fill_null(False))


def _word(text):
    """Lower case, dots dropped: how the library's word lists are written (works on a Series or an Expr)."""
    return text.str.to_lowercase().str.replace_all(".", "", literal=True)


@lru_cache(maxsize=100_000)  # a pure function; names repeat across batches
def parse_one(name: str) -> dict[str, str | None]:
    """The library path for one name; refuses (all None) a parse that would lose a token."""
    parsed = _PARSER.parse(name).as_dict()
    parts = {p: (parsed[_ROLE[p]] or None) for p in PARTS}
    if parts["last"] is None and parts["first"] and parts["suffix"] and " " not in parts["suffix"]:
        # "Ed Vi": a lone numeral-like word after a given name is a family name, not a suffix
        parts["last"], parts["suffix"] = parts["suffix"], None
    title = (parts["title"] or "").lower().rstrip(".")
    if title in name_words()["given_abbreviations"]:  # "Wm. Smith": William, not a title
        first = " ".join(p for p in (parts["first"], parts["middle"]) if p) or None
        parts["title"], parts["first"], parts["middle"] = None, parts["title"], first
        if parts["last"] is None and parts["middle"]:
            parts["last"], parts["middle"] = parts["middle"], None
    if sorted(_tokens(name)) != sorted(_tokens(" ".join(v for v in parts.values() if v))):
        return dict.fromkeys(PARTS)
    return parts


@cache
def _special_shape() -> str:
    """Names the common split cannot read: a role after a comma, a nickname, a couple, 'Wm.'."""
    words = name_words()
    return (
        rf"(?i),\s*(?:{_alternation(words['roles'])})\.?$|\s(?:&|and|\+)\s|[(\"“]|\s'\S[^']*'(?:\s|$)"
        rf"|(?i)^(?:{_alternation(words['given_abbreviations'])})\.?\s"
    )


_NICKNAME = re.compile(r"""(?:^|\s)(?:\((?P<p>[^()]+)\)|"(?P<q>[^"]+)"|“(?P<c>[^”]+)”|'(?P<s>[^' ][^']*)')(?=\s|$)""")
_CONNECTOR = re.compile(r"(?i)\s+(&|and|\+)\s+")
_COUPLE_TITLES = {t.lower() for t in _COMMON_TITLES} | {"rev", "sir", "dame", "mx"}


@lru_cache(maxsize=20_000)
def parse_special(name: str) -> dict[str, str | None]:
    """A name with a nickname, a role or two people: ALL_PARTS plus `reason`."""
    out: dict[str, str | None] = dict.fromkeys((*ALL_PARTS, "reason"))
    nickname = _NICKNAME.search(name)
    if nickname:
        out["preferred"] = next(g for g in nickname.groups() if g)
        name = " ".join((name[: nickname.start()] + " " + name[nickname.end() :]).split())
    role = re.match(rf"(?i)^(?P<name>.+?),\s*(?P<role>(?:{_alternation(name_words()['roles'])})\.?)$", name)
    if role:
        name = role["name"]
    halves = _CONNECTOR.split(name, maxsplit=1)
    if len(halves) == 3:
        primary, secondary = _couple(halves[0], halves[1], halves[2])
        out.update(primary)
        out["secondary_first"], out["secondary_last"] = secondary
        out["reason"] = NAME_MULTIPLE_PEOPLE
    else:
        out.update(_person(name))
    if role:
        out["suffix"] = ", ".join(p for p in (out["suffix"], role["role"]) if p)
    return out


def _person(name: str) -> dict[str, str | None]:
    fast = _split_common_shapes(pl.Series("name", [name])).row(0, named=True)
    return fast if fast["first"] is not None else parse_one(name)


def _is_title(word: str) -> bool:
    return word.lower().rstrip(".") in _COUPLE_TITLES


def _couple(left: str, connector: str, right: str) -> tuple[dict, tuple[str | None, str | None]]:
    """(primary person's parts, (second person's first name, last name)) of "left & right"."""
    other = _person(right)
    left_words = left.replace(",", " ").split()
    if "," in left:  # "Smith, John & Jill"
        primary = _person(left)
        return primary, (right, primary["last"])
    if all(_is_title(w) for w in left_words):  # "Mr and Mrs J Smith"
        title: str | None = " ".join(p for p in (left, connector, other["title"]) if p)
        return {**other, "title": title}, (None, other["last"])
    second_first = " ".join(p for p in (other["first"], other["middle"]) if p) or None
    if len(left_words) == 1 or (len(left_words) == 2 and _is_title(left_words[0])):
        # "John & Jill Smith": one surname for both
        title = left_words[0] if len(left_words) == 2 else None
        primary = {"title": title, "first": left_words[-1], "middle": None, "last": other["last"], "suffix": None}
        return primary, (second_first, other["last"])
    primary = _person(left)
    if other["last"] is None:  # "John Smith & Jill"
        return primary, (right, primary["last"])
    return primary, (second_first, other["last"])


def _tokens(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _fix_case(parts: pl.DataFrame, cleaned: pl.Series) -> pl.DataFrame:
    """Re-case only names written all upper or all lower; 'McDonald' and 'van der Berg' stay as written."""
    shouting = ~cleaned.str.contains("[a-z]") | ~cleaned.str.contains("[A-Z]")
    recased = parts.with_columns(
        pl.when(pl.lit(shouting).fill_null(False)).then(pl.col(p).str.to_titlecase()).otherwise(pl.col(p)).alias(p)
        for p in ALL_PARTS
    )
    roman = pl.col("suffix").str.contains(r"(?i)^[ivx]+\.?$")
    return recased.with_columns(pl.when(roman).then(pl.col("suffix").str.to_uppercase()).otherwise("suffix"))
