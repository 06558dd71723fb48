"""The duplicate finder, measured: people written differently must be found (recall), people who only
look alike must not (precision). End to end: messy CSV -> run -> candidate table."""

from __future__ import annotations

import csv
import random

import psycopg

from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.load.schema import migrate
from smart360_etl.run.pipeline import run

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "Lucas",
    "Mia",
    "Mason",
    "Harper",
    "Ethan",
    "Amelia",
    "Logan",
    "Evelyn",
    "James",
    "Abigail",
    "Jacob",
    "Emily",
    "Henry",
]
LAST = [
    "Okonkwo",
    "Lindqvist",
    "Barrientos",
    "Kowalczyk",
    "Nakamura",
    "Fitzgerald",
    "Abernathy",
    "Castellano",
    "Drummond",
    "Esposito",
    "Haverford",
    "Ingram",
    "Jablonski",
    "Kingsley",
    "Lombardi",
    "Montague",
    "Novak",
    "Oyelaran",
    "Pemberton",
    "Quintero",
]
STREETS = ["Oak St", "Maple Ave", "Cedar Rd", "Pine Ln", "Elm St", "Birch Blvd"]


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def name(i: int) -> tuple[str, str]:
    return FIRST[i % 20], LAST[(i // 20 + i * 7) % 20]  # 40 different people


def people(rng: random.Random):
    """(rows, expected duplicate pairs): 40 people written twice, 40 who only share a name."""
    rows, expected, n = [], set(), 1000
    for i in range(40):
        first, last = name(i)
        street = f"{100 + i} {STREETS[i % 6]}"
        phone = f"312{rng.randint(200, 999)}{rng.randint(1000, 9999)}"
        email = f"{first}.{last}{i}@example.com".lower()
        original = (
            n,
            f"{first} {last}",
            f"{street}, Chicago, IL 606{i % 50:02d}",
            f"({phone[:3]}) {phone[3:6]}-{phone[6:]}",
            email,
        )
        kind = i % 4
        if kind == 0:  # typo in the last name, phone written another way
            again = (n + 1, f"{first} {typo(last, rng)}", original[2], f"{phone[:3]}.{phone[3:6]}.{phone[6:]}", email)
        elif kind == 1:  # "Last, First" and upper case, no e-mail
            again = (n + 1, f"{last.upper()}, {first.upper()}", original[2], "+1 " + phone, "")
        elif kind == 2:  # missing unit, different e-mail, same phone
            again = (n + 1, f"{first} {last}", original[2].replace(",", " Apt 2,", 1), phone, f"{first}{i}@mail.com")
        else:  # typo in the first name, no phone, same address
            again = (n + 1, f"{typo(first, rng)} {last}", original[2], "", email.upper())
        rows += [original, again]
        expected.add((str(n), str(n + 1)))
        n += 2
    for i in range(40):  # lookalikes: the same name as someone above, another address, phone and e-mail
        first, last = name(i)
        rows.append(
            (
                n,
                f"{first} {last}",
                f"{900 + i} {STREETS[(i + 3) % 6]}, Chicago, IL 606{(i + 7) % 50:02d}",
                f"773{rng.randint(200, 999)}{rng.randint(1000, 9999)}",
                f"{first}{i}@other.org",
            )
        )
        n += 1
    return rows, expected


def test_duplicate_finder_precision_and_recall(target_url, write_job, tmp_path):
    rows, expected = people(random.Random(7))
    path = tmp_path / "people.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Consumer ID", "Name", "Address", "Contact Number", "Email Address"])
        writer.writerows(rows)
    job = load_job(write_job(source={"csv": str(path)}, target={"url": target_url}))
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    result = run(job)
    assert result.counts["inserted"] == len(rows)
    with psycopg.connect(target_url) as conn:
        found = {
            (a, b)
            for a, b in conn.execute(
                "SELECT consumer_id_a, consumer_id_b FROM smart360_etl.duplicate_candidate WHERE run_id = %s",
                [result.run_id],
            )
        }
    true_positives = len(found & expected)
    precision = true_positives / len(found)
    recall = true_positives / len(expected)
    print(f"duplicates: precision={precision:.2f} recall={recall:.2f} found={len(found)} expected={len(expected)}")
    assert recall >= 0.9 and precision >= 0.9
    check = {c["name"]: c for c in result.checks}["likely_duplicate_consumers"]
    assert check["status"] == "warn" and check["failing"] == len(found)
