"""A seeded, messy "ABC Utility" consumer table in the case-study layout, with the dirt real utilities have."""

from __future__ import annotations

import random

import polars as pl

FIRST = [
    "John",
    "Jane",
    "Michael",
    "Sarah",
    "David",
    "Emily",
    "Robert",
    "Lisa",
    "Matthew",
    "Amy",
    "Christopher",
    "Amanda",
    "James",
    "Maria",
    "Wei",
    "Priya",
    "Ahmed",
    "Olga",
    "Jose",
    "Fatima",
    "Liam",
    "Chloe",
    "Noah",
    "Mary-Jane",
    "Sean",
    "Aisha",
    "Carlos",
    "Hannah",
    "Dmitri",
    "Grace",
]
LAST = [
    "Doe",
    "Smith",
    "Johnson",
    "Brown",
    "Lee",
    "Davis",
    "Wilson",
    "Taylor",
    "Anderson",
    "Martinez",
    "Garcia",
    "Hernandez",
    "Nguyen",
    "O'Neil",
    "McDonald",
    "van der Berg",
    "de la Cruz",
    "Kowalski",
    "Patel",
    "Chen",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Murphy",
    "Kim",
    "MacLeod",
    "Fitzgerald",
    "Silva",
    "Novak",
    "Haddad",
]
MIDDLE = ["A.", "B.", "J.", "Marie", "Lee", "Ann", "Paul", "K."]
TITLES = ["Mr.", "Mrs.", "Ms.", "Dr.", "Mr", "Mrs"]
SUFFIXES = ["Jr.", "Sr.", "III", "II", "PhD"]
ORGANISATIONS = ["Holdings LLC", "Apartments", "Properties Inc.", "& Co.", "Family Trust", "Realty Ltd"]
STREETS = [
    "Main",
    "Elm",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Birch",
    "Walnut",
    "Lake",
    "Hill",
    "Washington",
    "Park",
    "Sunset",
    "River",
    "Church",
    "Mill",
    "Spring",
    "Ridge",
    "Highland",
    "Forest",
]
TYPES = ["St", "Street", "Ave", "Avenue", "Rd", "Road", "Blvd", "Dr", "Ln", "Ct", "Way", "Pl"]
UNITS = ["Apt 4B", "Apt. 12", "Suite 200", "Unit 7", "#12", "Apt 3"]
CITIES = [
    ("Springfield", "IL", "627"),
    ("Chicago", "IL", "606"),
    ("Austin", "TX", "787"),
    ("Seattle", "WA", "981"),
    ("Denver", "CO", "802"),
    ("Boston", "MA", "021"),
    ("Atlanta", "GA", "303"),
    ("Portland", "OR", "972"),
    ("Phoenix", "AZ", "850"),
    ("Albany", "NY", "122"),
    ("Columbus", "OH", "432"),
    ("Miami", "FL", "331"),
]
AREA_CODES = ["212", "312", "415", "617", "713", "206", "303", "404", "503", "602", "614", "305"]
DOMAINS = ["example.com", "mail.com", "utility-mail.net", "inbox.org", "post.co"]
COLUMNS = [
    "consumer_id",
    "name",
    "address",
    "contact_number",
    "email_address",
    "account_number",
    "meter_number",
    "tariff_plan",
    "consumption_history",
    "payment_status",
]


def generate(rows: int, seed: int = 360) -> pl.DataFrame:
    """`rows` legacy records; deterministic for a given seed."""
    rng = random.Random(seed)
    billing = random.Random(seed + 1)  # its own stream: the consumer columns do not depend on it
    records: list[tuple] = []
    for i in range(rows):
        if records and rng.random() < 0.003:  # the same id twice: a legacy key that was never unique
            consumer_id = records[rng.randrange(len(records))][0]
        else:
            consumer_id = 100001 + i
        if records and rng.random() < 0.01:  # the same person again under a new id, written differently
            records.append(_again(rng, consumer_id, records[rng.randrange(len(records))], i))
            continue
        first, last = rng.choice(FIRST), rng.choice(LAST)
        records.append(
            (
                consumer_id,
                _name(rng, first, last),
                _address(rng),
                _phone(rng),
                _email(rng, first, last, i),
                f"ACCT-{i + 1:07d}",
                f"MTR-{i + 1:07d}",
                rng.choice(["Plan A", "Plan B", "Plan C"]),
                f"{rng.randint(40, 900)} kWh",
                rng.choice(["Paid", "Unpaid", "Paid", "Paid"]),
            )
        )
        records[-1] = records[-1][:7] + _billing(billing, i, *records[-1][7:])
        if billing.random() < 0.002:  # an account number another consumer already has: a conflict
            records[-1] = records[-1][:5] + (records[billing.randrange(len(records))][5],) + records[-1][6:]
    return pl.DataFrame(
        records, schema={c: (pl.Int64 if c == "consumer_id" else pl.String) for c in COLUMNS}, orient="row"
    )


def _billing(rng: random.Random, i: int, plan: str, usage: str, paid: str) -> tuple:
    """Tariff, consumption and payment as legacy systems export them: mostly clean, some odd, a few wrong."""
    roll = rng.random()
    if roll < 0.004:
        plan = rng.choice(["Plan Z", "legacy-7"])  # no crosswalk entry
    elif roll < 0.05:
        plan = rng.choice([plan.lower(), f" {plan.upper()} "])
    roll = rng.random()
    kwh = int(usage.split()[0])
    if roll < 0.004:
        usage = rng.choice(["-5 kWh", "n/a", "999999 kWh", "Jan-2024:abc"])  # consumption_invalid
    elif roll < 0.02:
        usage = f"Jan-2024:{kwh}; Feb-2024:{kwh + rng.randint(-30, 30)}; Mar-2024:{kwh + rng.randint(-30, 30)}"
    elif roll < 0.04:
        usage = rng.choice([f"{kwh / 1000:.3f} MWh", f"{kwh}", f"{kwh * 3:,} kWh"])
    roll = rng.random()
    if roll < 0.003:
        paid = "??"  # no crosswalk entry
    elif roll < 0.08:
        paid = rng.choice(["P", "1", "Partially paid", "OVERDUE", "unpaid"])
    return plan, usage, paid


def _again(rng: random.Random, consumer_id: int, earlier: tuple, i: int) -> tuple:
    """The same person under a new id, written differently, with an account of the new id's own."""
    name = earlier[1].upper() if earlier[1] and rng.random() < 0.5 else earlier[1]
    phone = earlier[3].replace("-", ".") if earlier[3] else earlier[3]
    return (consumer_id, name, earlier[2], phone, earlier[4], f"ACCT-{i + 1:07d}", f"MTR-{i + 1:07d}", *earlier[7:])


def _name(rng: random.Random, first: str, last: str) -> str | None:
    roll = rng.random()
    if roll < 0.005:
        return None
    if roll < 0.015:
        return rng.choice([first, last.split()[-1]])  # one word: cannot be split honestly
    if roll < 0.065:
        return f"{last}, {first}"
    if roll < 0.095:
        return f"{first} {last}".upper()
    if roll < 0.125:
        return f"{first} {last}".lower()
    if roll < 0.165:
        return f"{rng.choice(TITLES)} {first} {last}"
    if roll < 0.185:
        return f"{first} {last} {rng.choice(SUFFIXES)}"
    if roll < 0.265:
        return f"{first} {rng.choice(MIDDLE)} {last}"
    if roll < 0.285:
        return f"  {first}   {last} "
    if roll < 0.293:  # a commercial consumer
        return f"{last.split()[-1]} {rng.choice(ORGANISATIONS)}"
    return f"{first} {last}"


def _address(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.005:
        return rng.choice([None, "", "   "])
    street = f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(TYPES)}"
    if rng.random() < 0.1:
        street += (", " if rng.random() < 0.5 else " ") + rng.choice(UNITS)
    city, state, prefix = rng.choice(CITIES)
    zip_code = f"{prefix}{rng.randint(0, 99):02d}" + (f"-{rng.randint(0, 9999):04d}" if rng.random() < 0.08 else "")
    if roll < 0.15:
        return street
    if roll < 0.35:
        return f"{street} {city} {state} {zip_code}"
    return f"{street}, {city}, {state} {zip_code}"


def _phone(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.02:
        return None
    if roll < 0.045:
        return rng.choice([f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", "12345", "000-000-0000"])
    area, exchange, line = rng.choice(AREA_CODES), rng.randint(200, 999), rng.randint(0, 9999)
    if exchange == 555:
        exchange = 556
    shapes = [
        f"({area}) {exchange}-{line:04d}",
        f"{area}-{exchange}-{line:04d}",
        f"{area}.{exchange}.{line:04d}",
        f"+1 {area} {exchange} {line:04d}",
        f"{area}{exchange}{line:04d}",
        f"1-{area}-{exchange}-{line:04d}",
    ]
    number = rng.choice(shapes)
    return number + f" x{rng.randint(1, 999)}" if roll > 0.97 else number


def _email(rng: random.Random, first: str, last: str, i: int) -> str | None:
    roll = rng.random()
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    address = f"{local}{i}@{rng.choice(DOMAINS)}"  # people have their own addresses
    if roll < 0.03:
        return None
    if roll < 0.05:
        return rng.choice([f"{local}@", f"{first} {last}@example.com", f"{local}@@mail.com", f"{local}.mail.com"])
    if roll < 0.10:
        return address.upper()
    if roll < 0.13:
        return f"  {address} "
    return address
