"""The README tells the truth: its set-up commands exist, and every command it lists is real."""

from __future__ import annotations

import re
from pathlib import Path

from smart360_etl.cli import main
from smart360_etl.config import HARD_REASONS, SOFT_REASONS
from smart360_etl.mapping.fields import CONSUMER_FIELDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_setup_is_make_demo_and_make_test_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert re.search(r"^demo:.*\n\t.*smart360-etl demo", makefile, re.M)
    assert re.search(r"^test:.*\n\t.*pytest", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_documented_command_exists_and_every_command_is_documented():
    documented = set(re.findall(r"`smart360-etl (\w[\w-]*)", README))
    assert documented == set(main.commands)


def test_every_reason_and_field_is_documented():
    for name in (*HARD_REASONS, *SOFT_REASONS, *CONSUMER_FIELDS):
        assert name in README, name
