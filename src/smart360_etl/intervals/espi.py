"""Green Button (NAESB ESPI, REQ.21) XML: an Atom feed whose entries are UsagePoint, MeterReading,
ReadingType and IntervalBlock resources, tied together by their `self`, `up` and `related` links.

Each IntervalReading becomes one read: the meter is its UsagePoint's entry title (the id in its link when
the title is empty); `value x 10^powerOfTenMultiplier` in the ReadingType's `uom`; the channel from its
`flowDirection`. Parsed with defusedxml: entity expansion and external references are refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import Element

import polars as pl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from ..errors import SourceError

ATOM, ESPI = "{http://www.w3.org/2005/Atom}", "{http://naesb.org/espi}"
# ESPI UnitSymbolKind and FlowDirectionKind codes (REQ.21, as the OpenESPI reference implementation reads them)
UOM = {"72": "Wh", "42": "m3", "119": "ft3", "128": "gal"}
FLOW = {"1": "delivered", "19": "received", "4": "net"}
COLUMNS = ("meter", "start", "seconds", "value", "unit", "channel", "quality")


@dataclass
class _Feed:
    usage_points: dict[str, str] = field(default_factory=dict)  # href -> meter
    reading_types: dict[str, dict[str, str]] = field(default_factory=dict)  # href -> fields
    meter_readings: dict[str, str] = field(default_factory=dict)  # href -> related ReadingType href
    blocks: list[tuple[str, list[tuple[str, str, str, str]]]] = field(default_factory=list)


def read_green_button(path: Path, batch_size: int) -> Iterator[pl.DataFrame]:
    """The file's interval reads as text columns (COLUMNS), `batch_size` at a time."""
    feed = _parse(path)
    rows: dict[str, list[str | None]] = {name: [] for name in COLUMNS}
    for block_href, readings in feed.blocks:
        meter, reading_type = _owners(feed, block_href, path)
        multiplier = Decimal(10) ** int(reading_type.get("powerOfTenMultiplier") or 0)
        unit = UOM.get(reading_type.get("uom", "72"), f"uom {reading_type.get('uom')}")
        channel = FLOW.get(reading_type.get("flowDirection", "1"), reading_type.get("flowDirection"))
        for start, seconds, value, quality in readings:
            for name, item in zip(COLUMNS, (meter, start, seconds, _scaled(value, multiplier), unit, channel, quality)):
                rows[name].append(item)
            if len(rows["meter"]) >= batch_size:
                yield pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String))
                rows = {name: [] for name in COLUMNS}
    if rows["meter"]:
        yield pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String))


def _scaled(value: str, multiplier: Decimal) -> str:
    try:
        return str(Decimal(value) * multiplier)
    except ArithmeticError:
        return value  # not a number: the normaliser rejects it with the source's text


def _owners(feed: _Feed, block_href: str, path: Path) -> tuple[str, dict[str, str]]:
    """The meter and ReadingType of an IntervalBlock, from the links its href lies under."""
    reading_href = block_href.split("/IntervalBlock")[0]
    usage_href = reading_href.split("/MeterReading")[0]
    meter = feed.usage_points.get(usage_href) or usage_href.rsplit("/", 1)[-1]
    type_href = feed.meter_readings.get(reading_href)
    if type_href is None or type_href not in feed.reading_types:
        raise SourceError(f"{path.name}: IntervalBlock {block_href} has no MeterReading with a ReadingType")
    return meter, feed.reading_types[type_href]


def _parse(path: Path) -> _Feed:
    feed = _Feed()
    try:
        for _, element in iterparse(str(path), events=("end",), forbid_dtd=True):
            if element.tag == f"{ATOM}entry":
                _entry(element, feed)
                element.clear()
    except (ParseError, DefusedXmlException) as exc:
        raise SourceError(f"{path.name} is not Green Button XML: {exc}") from None
    if not feed.blocks and not feed.usage_points:
        raise SourceError(f"{path.name} holds no ESPI entries (UsagePoint, IntervalBlock): is it Green Button XML?")
    return feed


def _entry(entry: Element, feed: _Feed) -> None:
    links = [(link.get("rel"), link.get("href", "")) for link in entry.iter(f"{ATOM}link")]
    href = next((h for rel, h in links if rel == "self"), "")
    content = entry.find(f"{ATOM}content")
    resource = content[0] if content is not None and len(content) else None
    if resource is None:
        return
    kind = resource.tag.removeprefix(ESPI)
    if kind == "UsagePoint":
        feed.usage_points[href] = (entry.findtext(f"{ATOM}title") or "").strip()
    elif kind == "ReadingType":
        feed.reading_types[href] = {child.tag.removeprefix(ESPI): (child.text or "").strip() for child in resource}
    elif kind == "MeterReading":
        feed.meter_readings[href] = next((h for rel, h in links if rel == "related" and "/ReadingType" in h), "")
    elif kind == "IntervalBlock":
        feed.blocks.append((href, [_reading(r) for r in resource.iter(f"{ESPI}IntervalReading")]))


def _reading(reading: Element) -> tuple[str, str, str, str]:
    period = reading.find(f"{ESPI}timePeriod")
    start = period.findtext(f"{ESPI}start", "") if period is not None else ""
    seconds = period.findtext(f"{ESPI}duration", "") if period is not None else ""
    quality = reading.findtext(f"{ESPI}ReadingQuality/{ESPI}quality", "")
    return start.strip(), seconds.strip(), (reading.findtext(f"{ESPI}value") or "").strip(), quality.strip()
