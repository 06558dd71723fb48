"""The README tells the truth: its set-up commands exist, and every command it lists is real."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from smart360_etl.cli import main
from smart360_etl.config import HARD_REASONS, SOFT_REASONS, load_job, read_yaml
from smart360_etl.mapping.fields import CONSUMER_FIELDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_setup_is_make_demo_and_make_test_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert re.search(r"^demo:.*\n\t.*smart360-etl demo", makefile, re.M)
    assert re.search(r"^test:.*\n(?:\t.*\n)*\t.*pytest", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_documented_command_exists_and_every_command_is_documented():
    documented = set(re.findall(r"`smart360-etl (\w[\w-]*)", README))
    assert documented == set(main.commands)


def test_every_reason_and_field_is_documented():
    for name in (*HARD_REASONS, *SOFT_REASONS, *CONSUMER_FIELDS):
        assert name in README, name


def test_the_readme_gives_each_reason_its_kind_from_the_catalog():
    """The reasons table says reject (always) or warn as reasons.py classifies each one."""
    from smart360_etl.reasons import CATALOG

    rows = re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| (reject \(always\)|warn) \|", README, re.M)
    documented = {code.strip("` "): default for codes, default in rows for code in codes.split(",")}
    for reason in CATALOG:
        if reason.kind != "account":
            assert documented[reason.code] == ("warn" if reason.kind == "soft" else "reject (always)"), reason.code


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


ENVIRON = {
    "ABC_DB_URL": "postgresql://abc@legacy:5432/abc",
    "SMART360_DB_URL": "postgresql://etl@smart360:5432/smart360",
    "SLACK_WEBHOOK_URL": "https://hooks.example/services/T000",
    "SMTP_PASSWORD": "not-a-real-one",
}


def test_every_yaml_block_of_the_readme_is_a_valid_job_section(tmp_path):
    """Each block, put beside the README's minimal job, loads as written (`alerts: {on: ...}` included)."""
    blocks = _yaml_blocks(README)
    minimal = read_yaml(blocks[0])
    assert minimal["source"] and minimal["target"]
    for n, block in enumerate(blocks):
        job = {**minimal, **read_yaml(block)}
        path = tmp_path / f"block{n}.yaml"
        path.write_text(yaml.safe_dump(job), encoding="utf-8")
        load_job(path, environ=ENVIRON)
        path.write_text(blocks[0] + block if n else block, encoding="utf-8")  # and as text, as a user pastes it
        load_job(path, environ=ENVIRON)


def test_the_example_job_file_loads_and_has_every_section(tmp_path):
    from smart360_etl.config import JobConfig, load_job

    example = Path(__file__).resolve().parents[1] / "examples" / "job.yaml"
    env = {"ABC_DB_URL": "postgresql://etl@legacy:5432/abc", "SMART360_DB_URL": "postgresql://etl@smart360/db",
           "ALERT_WEBHOOK_URL": "https://hooks.example.com/x", "SMTP_PASSWORD": "s3cret-example"}
    job = load_job(example, environ=env)
    written = set(yaml.safe_load(example.read_text()))
    assert written == {field.alias or name for name, field in JobConfig.model_fields.items()}
    assert job.accounts is not None and job.alerts is not None and job.alerts.email is not None
    assert job.source.incremental is not None and job.schedule is not None and job.checks["reject_rate"].threshold
