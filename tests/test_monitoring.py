"""Logs, metrics and alerts after real runs: a real SMTP server and a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from smart360_etl.cli import main
from smart360_etl.demo.job import create_demo_source

PASSWORD = "s3cret-smtp-pass"


class Inbox:
    """An aiosmtpd handler that keeps what arrives."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content), session.authenticated and session.auth_data.login)
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(
            success=auth_data.login == b"etl" and auth_data.password == PASSWORD.encode(), auth_data=auth_data
        )

    controller = Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def http_receiver():
    """An HTTP receiver on loopback: records each POSTed JSON body; answers 500 to the first `failures`."""
    state = {"bodies": [], "failures": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["bodies"].append(body)
            failing = len(state["bodies"]) <= state["failures"]
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", state
    server.shutdown()
    server.server_close()


@pytest.fixture
def job_with(source_url, target_url, write_job, tmp_path):
    create_demo_source(source_url, 600)

    def make(init: bool = True, **sections):
        path = write_job(source={"url": source_url, "table": "consumer_data"}, target={"url": target_url}, **sections)
        if init:
            assert CliRunner().invoke(main, ["init", "-c", str(path)]).exit_code == 0
        return path

    return make


def invoke_run(path, *options):
    return CliRunner().invoke(main, ["run", "-c", str(path), *options], catch_exceptions=False)


def metrics(path) -> dict[tuple, float]:
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            samples[(sample.name, *(v for k, v in sorted(sample.labels.items()) if k != "job"))] = sample.value
    return samples


def test_a_failed_run_alerts_by_webhook_and_email(job_with, smtp_server, http_receiver, tmp_path):
    port, inbox = smtp_server
    url, received = http_receiver
    email = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "username": "etl",
        "password": PASSWORD,
        "from": "etl@utility.example",
        "to": ["ops@utility.example", "lead@utility.example"],
    }
    log_file = tmp_path / "logs" / "etl.jsonl"
    path = job_with(init=False, alerts={"webhook": {"url": url}, "email": email}, logging={"file": str(log_file)})
    result = invoke_run(path)
    assert result.exit_code == 1 and "pending migration" in result.output
    [body] = received["bodies"]
    assert body["smart360_etl"]["status"] == "failed" and "run failed" in body["text"]
    assert "smart360-etl init" in body["text"]
    [(recipients, mail, login)] = inbox.messages
    assert recipients == ["ops@utility.example", "lead@utility.example"] and login == b"etl"
    assert mail["Subject"].startswith("smart360-etl: job job run ") and mail["Subject"].endswith(" failed")
    assert "pending migration" in mail.get_payload()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {"time", "level", "run_id", "message"} <= set(lines[0])
    assert lines[0]["run_id"] == body["smart360_etl"]["run_id"] and lines[0]["stage"] == "start"
    assert any(line["message"] == "alert sent via email" for line in lines)
    assert PASSWORD not in log_file.read_text() + result.output


def test_a_failed_check_alerts_and_a_clean_run_does_not(job_with, http_receiver):
    url, received = http_receiver
    strict = {"likely_duplicate_consumers": {"severity": "fail", "threshold": 0}}
    assert invoke_run(job_with(alerts={"webhook": {"url": url}}, checks=strict)).exit_code == 2
    [body] = received["bodies"]
    assert (
        "checks failed: likely_duplicate_consumers" in body["text"]
        and body["smart360_etl"]["status"] == "checks_failed"
    )
    assert invoke_run(job_with(alerts={"webhook": {"url": url}})).exit_code == 0
    assert len(received["bodies"]) == 1  # the clean run sent nothing: failure and check_fail only by default


def test_warnings_and_the_reject_rate_alert_when_asked(job_with, http_receiver):
    url, received = http_receiver
    alerts = {"webhook": {"url": url}, "on": ["check_warn"], "reject_rate": 0.001}
    assert invoke_run(job_with(alerts=alerts)).exit_code == 0
    [body] = received["bodies"]
    assert "checks warned:" in body["text"] and "reject rate" in body["text"] and "is above 0.10%" in body["text"]


def test_delivery_is_retried_and_a_dead_channel_never_changes_the_exit_status(job_with, http_receiver, tmp_path):
    url, received = http_receiver
    received["failures"] = 2
    alerts = {"webhook": {"url": url}, "on": ["check_warn"], "retries": 2, "backoff_s": 0.01}
    result = invoke_run(job_with(alerts=alerts))
    assert result.exit_code == 0 and len(received["bodies"]) == 3 and "alert sent via webhook" in result.output
    dead = {
        "webhook": {"url": f"http://127.0.0.1:{_free_port()}/hook"},
        "on": ["check_warn"],
        "retries": 1,
        "backoff_s": 0.01,
    }
    # A re-run that writes nothing checks nothing new; a full refresh checks the whole target (and warns) again.
    result = invoke_run(job_with(alerts=dead), "--full-refresh")
    assert result.exit_code == 0 and "alert via webhook not delivered after 2 attempts" in result.output


def test_metrics_textfile_keeps_the_last_success_across_a_failure(job_with, source_url, tmp_path):
    prom = tmp_path / "metrics" / "smart360_etl.prom"
    path = job_with(metrics_file=str(prom))
    result = invoke_run(path)
    assert result.exit_code == 0
    first = metrics(prom)
    report = json.loads(sorted((tmp_path / "reports").glob("2*.json"))[-1].read_text())
    for outcome, count in report["counts"].items():
        assert first[("smart360_etl_rows", outcome)] == count
    for reason, count in report["rejects_by_reason"].items():
        assert first[("smart360_etl_rejects", reason)] == count
    assert first[("smart360_etl_last_run_success",)] == 1
    for check in report["checks"]:
        assert first[("smart360_etl_check_failed", check["name"], check["severity"])] == (check["status"] != "pass")
    success = first[("smart360_etl_last_success_timestamp_seconds",)]
    with psycopg.connect(source_url) as conn:
        conn.execute("ALTER TABLE consumer_data RENAME COLUMN address TO street")
    assert invoke_run(path).exit_code == 1
    second = metrics(prom)
    assert second[("smart360_etl_last_run_success",)] == 0
    assert second[("smart360_etl_last_success_timestamp_seconds",)] == success
    assert second[("smart360_etl_last_run_timestamp_seconds",)] >= success


def test_log_lines_mask_personal_data(job_with, tmp_path):
    import logging

    from smart360_etl.config import load_job
    from smart360_etl.ops.logs import close_file, setup_job

    log_file = tmp_path / "etl.log"
    setup_job(load_job(job_with(logging={"file": str(log_file), "format": "text"})))
    try:
        logging.getLogger("smart360_etl").warning(
            "row of ann.lee@example.com, phone +1 (212) 555-0147 rejected; 1500000 rows mapped at 2026-11-26 11:00:05"
        )
    finally:
        close_file()
    line = log_file.read_text()
    assert "a***@example.com" in line and "+1******0147" in line
    assert "ann.lee" not in line and "555-0147" not in line
    assert "1500000 rows mapped at 2026-11-26 11:00:05" in line  # counts and times are not personal data


def test_json_log_lines_carry_the_stage_and_the_counts(job_with, tmp_path):
    log_file = tmp_path / "etl.jsonl"
    assert invoke_run(job_with(logging={"file": str(log_file)})).exit_code == 0
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len({line["run_id"] for line in lines}) == 1
    stages = {line.get("stage") for line in lines}
    assert {"start", "extract", "load", "reconcile", "check", "done"} <= stages
    done = lines[-1]
    report = json.loads(sorted((tmp_path / "reports").glob("2*.json"))[-1].read_text())
    assert done["stage"] == "done" and done["counts"] == report["counts"] and done["level"] == "INFO"


def test_a_source_that_cannot_be_opened_still_alerts(write_job, target_url, http_receiver, tmp_path):
    url, received = http_receiver
    prom = tmp_path / "m.prom"
    source = {"url": "postgresql://legacy:pw@127.0.0.1:1/abc", "table": "consumer_data", "connect_retries": 0}
    path = write_job(
        source=source, target={"url": target_url}, alerts={"webhook": {"url": url}}, metrics_file=str(prom)
    )
    result = invoke_run(path)
    assert result.exit_code == 1 and "cannot connect to the source" in result.output
    [body] = received["bodies"]
    assert "run failed: cannot connect to the source" in body["text"] and "pw@" not in body["text"]
    assert metrics(prom)[("smart360_etl_last_run_success",)] == 0


@pytest.fixture
def tls_smtp_server(tmp_path):
    """An SMTP server that requires STARTTLS, with a certificate from a throwaway CA of its own."""
    import ssl
    import subprocess

    cert, key = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), tls_context=context, require_starttls=True)
    controller.start()
    yield controller.port, inbox, cert
    controller.stop()


def test_starttls_verifies_the_server_certificate(job_with, tls_smtp_server):
    port, inbox, cert = tls_smtp_server
    email = {"host": "127.0.0.1", "port": port, "from": "etl@utility.example", "to": ["ops@utility.example"]}
    alerts = {"on": ["check_warn"], "retries": 0}
    result = invoke_run(job_with(alerts={**alerts, "email": {**email, "cafile": str(cert)}}))
    assert result.exit_code == 0 and len(inbox.messages) == 1 and "alert sent via email" in result.output
    # the system CAs do not know this one (a full refresh: the re-run's checks warn again)
    unverified = invoke_run(job_with(alerts={**alerts, "email": email}), "--full-refresh")
    assert unverified.exit_code == 0 and len(inbox.messages) == 1
    assert "alert via email not delivered" in unverified.output and "CERTIFICATE_VERIFY_FAILED" in unverified.output
