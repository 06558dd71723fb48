"""Every command against a table of broken job files: a one-line cause with its fix, exit 1, no traceback,
and no secret of the file in the output."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from smart360_etl.cli import main

# Nothing listens on port 9 of the loopback: a connection is refused at once.
NOWHERE = "127.0.0.1:9"
SECRETS = ("TopSecret99", "p@ss#w0rd", "Hash#SECRET?1", "TopSecret123", "Hunter2Pw")

BROKEN = {
    "sqlalchemy_form_unreachable": f"target: {{url: 'postgresql+psycopg2://etl:TopSecret99@{NOWHERE}/db'}}",
    "unencoded_at_in_password": "target: {url: 'postgresql://postgres:p@ss#w0rd@127.0.0.1:5432/postgres'}",
    "mysql_target": "target: {url: 'mysql://root@127.0.0.1:3306/legacy'}",
    "hash_and_question_mark_unreachable": f"target: {{url: 'postgresql://u:Hash#SECRET?1@{NOWHERE}/db'}}",
    "unclosed_ipv6_bracket": "target: {url: 'postgresql://etl:TopSecret123@[::1/smart360'}",
    "no_database": f"target: {{url: 'postgresql://etl:TopSecret99@{NOWHERE}'}}",
    "bad_port": "target: {url: 'postgresql://etl:TopSecret99@h:5x/db'}",
    "yaml_syntax_error": "target: {url: 'postgresql://etl:Hunter2Pw@h/db'\nreasons: [",
    "unknown_key": "target: {url: 'postgresql://etl:Hunter2Pw@h/db'}\nregoin: US",
    "unset_variable": "target: {url: '${NOT_SET_ANYWHERE_42}'}",
}
COMMANDS = {
    "init": [],
    "run": [],
    "validate": [],
    "preview": [],
    "history": [],
    "schedule": ["--print-cron"],
    "export": ["--out", "{tmp}/out"],
    "load-reference": ["{tmp}/plans.csv"],
    "doctor": [],
}
FIX_WORDS = re.compile(r"\b(write|set|check|use|add|give|end it|supported|e\.g\.|fix|create|run|did you mean)\b", re.I)


@pytest.fixture
def broken(tmp_path):
    (tmp_path / "consumers.csv").write_text("consumer_id,name\n1,Ann Lee\n", encoding="utf-8")
    (tmp_path / "plans.csv").write_text("code,name,service,unit\nR1,Residential,water,m3\n", encoding="utf-8")

    def write(name: str):
        text = f"source: {{csv: consumers.csv}}\n{BROKEN[name]}\nreport_dir: {tmp_path / 'reports'}\n"
        if "connect_retries" not in text and name.endswith("unreachable"):
            text = text.replace("'}", "', connect_retries: 0}")
        path = tmp_path / "job.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_job_file_gets_a_cause_and_a_fix_and_no_secret(broken, tmp_path, command, name, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE_42", raising=False)
    path = broken(name)
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]]
    result = CliRunner().invoke(main, [command, "-c", str(path), *args], catch_exceptions=False)
    output = result.output  # stdout and stderr, as a terminal shows them
    assert result.exit_code == 1, output
    assert "Traceback" not in output and output.strip()
    for secret in SECRETS:
        assert secret not in output
    assert FIX_WORDS.search(output), output
    if command != "doctor":  # doctor prints a table of findings
        errors = [line for line in output.splitlines() if line.startswith(("error:", "database error:"))]
        assert len(errors) == 1, output
