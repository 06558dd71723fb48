"""Job files: interpolation, .env, and errors that name the key and suggest the fix."""

from __future__ import annotations

import pytest

from smart360_etl.config import load_job
from smart360_etl.errors import ConfigError
from smart360_etl.urls import redact_url


def write(tmp_path, text: str):
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    return path


ENV = {"ABC_DB_URL": "postgresql://abc@legacy/abc", "SMART360_DB_URL": "postgresql://etl@db/smart360"}
MINIMAL = """
source:
  url: ${ABC_DB_URL}
  table: consumer_data
target:
  url: ${SMART360_DB_URL}
  schema: smart360
region: US
report_dir: reports
"""


def test_minimal_job_reads_environment_and_dotenv(tmp_path):
    (tmp_path / ".env").write_text("SMART360_DB_URL=postgresql://etl@db/smart360\n")
    job = load_job(write(tmp_path, MINIMAL), environ={"ABC_DB_URL": "postgresql://abc@legacy/abc"})
    assert job.source.url == "postgresql://abc@legacy/abc" and job.target.url == "postgresql://etl@db/smart360"
    assert job.target.schema_ == "smart360" and job.report_dir == tmp_path / "reports" and job.name == "job"


def test_environment_wins_over_dotenv(tmp_path):
    (tmp_path / ".env").write_text("ABC_DB_URL=postgresql://file/db\nSMART360_DB_URL=postgresql://t/db\n")
    assert load_job(write(tmp_path, MINIMAL), environ={"ABC_DB_URL": "postgresql://env/db"}).source.url == "postgresql://env/db"


def test_missing_variable_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_job(write(tmp_path, MINIMAL), environ={"ABC_DB_URL": "postgresql://x/db"})
    message = str(error.value)
    assert "${SMART360_DB_URL} (in `target.url`) is not set" in message and str(tmp_path / ".env") in message


T = "target: {url: 'postgresql://h/d'}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"source: {{csv: a.csv, tabel: x}}\n{T}", "unknown key `source.tabel`; did you mean `table`?"),
        (f"source: {{csv: a.csv}}\n{T}\nregoin: US", "did you mean `region`?"),
        ("source: {csv: a.csv}\n", "`target` is required"),
        (f"source: {{url: 'postgresql://h/d'}}\n{T}", "give exactly one of `table` or `query`"),
        (f"source: {{csv: a.csv, url: 'postgresql://h/d'}}\n{T}", "give exactly one of `url`"),
        (f"source: {{csv: a.csv, batch_size: lots}}\n{T}", "`source.batch_size`"),
        (f"source: {{csv: a.csv}}\n{T}\nreasons: {{phone_invalid: drop}}", "`reasons.phone_invalid`"),
        (f"source: {{csv: a.csv}}\n{T}\nreasons: {{name_incomplete: warn}}", "always rejects the row"),
        (f"source: {{csv: a.csv}}\n{T}\nreasons: {{email_invalidd: warn}}", "did you mean `email_invalid`?"),
        ("- just\n- a list", "must hold a mapping"),
        (f"source: {{csv: a.csv}}\n{T}\nmapping: {{consumer_id: [a]}}", "`mapping.consumer_id`: expected a"),
        ("source: [unclosed", "is not valid YAML"),
    ],
)
def test_bad_job_files_name_the_key_and_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_job(write(tmp_path, text), environ={})
    assert message in str(error.value)


def test_a_column_name_alone_is_short_for_from(tmp_path):
    job = load_job(write(tmp_path, MINIMAL + "mapping: {consumer_id: cust_no, email_address: null}\n"), environ=ENV)
    assert job.mapping["consumer_id"].from_ == "cust_no" and job.mapping["email_address"] is None


def test_batches_are_smaller_by_default_when_accounts_are_loaded_too(tmp_path):
    assert load_job(write(tmp_path, MINIMAL), environ=ENV).source.batch_size == 25_000
    assert load_job(write(tmp_path, MINIMAL + "accounts: {}\n"), environ=ENV).source.batch_size == 15_000
    sized = MINIMAL.replace("table: consumer_data", "table: consumer_data\n  batch_size: 500") + "accounts: {}\n"
    assert load_job(write(tmp_path, sized), environ=ENV).source.batch_size == 500


def test_missing_job_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_job(tmp_path / "nope.yaml")


def test_password_never_shown_in_config_errors(tmp_path):
    text = "source: {url: 'postgresql://u:hunter2@h/db', table: t, batch_size: -1}\ntarget: {url: 'postgresql://h/d'}"
    with pytest.raises(ConfigError) as error:
        load_job(write(tmp_path, text), environ={})
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/x", "postgresql://bob:***@db:5432/x"),
        ("postgresql://bob@db/x", "postgresql://bob@db/x"),
        ("host=db user=bob password=s3cret dbname=x", "host=db user=bob password=*** dbname=x"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_database_row_values_are_hidden():
    from smart360_etl.urls import redact

    text = (
        'new row violates check constraint "no_austin"\nDETAIL:  Failing row contains (999, Ann, (x), Lee, Austin).'
        "\nKey (consumer_id)=(999) already exists. postgresql://u:pw@h/db"
    )
    shown = redact(text)
    assert "Ann" not in shown and "999" not in shown and "pw" not in shown
    assert (
        "no_austin" in shown
        and "Failing row contains (values hidden)" in shown
        and "Key (consumer_id)=(values hidden)" in shown
    )


def test_an_unset_variable_is_named_with_its_key_and_an_example_of_its_kind(tmp_path):
    text = "source: {csv: a.csv}\ntarget: {url: 'postgresql://h/d'}\nalerts: {webhook: {url: '${HOOK_URL}'}}\n"
    with pytest.raises(ConfigError) as error:
        load_job(write(tmp_path, text), environ={})
    message = str(error.value)
    assert "${HOOK_URL} (in `alerts.webhook.url`) is not set" in message and "export HOOK_URL=https://" in message


def test_file_mode_is_a_setting_of_the_job_not_of_its_accounts(tmp_path):
    text = f"source: {{csv: a.csv}}\n{T}\naccounts: {{file_mode: '0644'}}\n"
    with pytest.raises(ConfigError, match="unknown key `accounts.file_mode`"):
        load_job(write(tmp_path, text), environ={})
