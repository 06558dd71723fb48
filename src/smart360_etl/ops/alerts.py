"""Alerts: a webhook (a JSON body Slack and Teams incoming webhooks accept) and e-mail over SMTP.

Delivery retries with exponential backoff. A channel that still fails is logged; it never changes the
run's own outcome or exit status: the alert is about the run, not part of it.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.request
from email.message import EmailMessage

from tenacity import retry, stop_after_attempt, wait_exponential

from ..config import AlertsConfig, EmailChannel, WebhookChannel
from ..urls import redact

log = logging.getLogger("smart360_etl")


def alert_reasons(result, alerts: AlertsConfig) -> list[str]:
    """Why this run deserves an alert under the job's settings (empty: it does not)."""
    reasons = []
    if result.status == "failed" and "failure" in alerts.on:
        reasons.append(f"run failed: {result.error}")
    failed = [c["name"] for c in result.checks if c["status"] == "fail"]
    if failed and "check_fail" in alerts.on:
        reasons.append(f"checks failed: {', '.join(failed)}")
    warned = [c["name"] for c in result.checks if c["status"] == "warn"]
    if warned and "check_warn" in alerts.on:
        reasons.append(f"checks warned: {', '.join(warned)}")
    extracted, rejected = result.counts["extracted"], result.counts["rejected"]
    if alerts.reject_rate is not None and extracted and rejected / extracted > alerts.reject_rate:
        reasons.append(f"reject rate {rejected / extracted:.2%} is above {alerts.reject_rate:.2%}")
    return reasons


def message(result, reasons: list[str]) -> tuple[str, str]:
    """Subject and body: what happened, the counts, and where the report is."""
    subject = f"smart360-etl: job {result.job} run {result.run_id} {result.status}"
    lines = [*reasons, "", result.reconciliation]
    if result.rejects_by_reason:
        lines.append("rejects: " + ", ".join(f"{r} {n}" for r, n in result.rejects_by_reason.items()))
    lines += [f"duration: {result.duration_s} s", f"report: {result.report_path}"]
    return subject, "\n".join(lines)


def send_alerts(result, alerts: AlertsConfig | None) -> dict[str, bool]:
    """Send to every configured channel when the run calls for it; returns channel -> delivered."""
    reasons = alert_reasons(result, alerts) if alerts else []
    if alerts is None or not reasons:
        return {}
    subject, body = message(result, reasons)
    payload = {
        "text": f"*{subject}*\n{body}",
        "smart360_etl": {
            "job": result.job,
            "run_id": result.run_id,
            "status": result.status,
            "counts": result.counts,
            "reasons": reasons,
        },
    }
    sent = {}
    deliveries = [
        ("webhook", alerts.webhook, lambda c: _post(c, payload)),
        ("email", alerts.email, lambda c: _mail(c, subject, body)),
    ]
    for name, channel, deliver in deliveries:
        if channel is not None:
            sent[name] = _with_retries(name, lambda deliver=deliver, channel=channel: deliver(channel), alerts)
    return sent


def _with_retries(name: str, attempt, alerts: AlertsConfig) -> bool:
    retrying = retry(
        stop=stop_after_attempt(alerts.retries + 1),
        wait=wait_exponential(multiplier=alerts.backoff_s, max=60),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "alert via %s failed (attempt %d): %s; retrying", name, state.attempt_number,
            state.outcome.exception() if state.outcome else None,
        ),
    )
    try:
        retrying(attempt)()
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is logged, never raised
        log.error("alert via %s not delivered after %d attempts: %s", name, alerts.retries + 1, redact(str(exc)))
        return False
    log.info("alert sent via %s", name)
    return True


def _post(channel: WebhookChannel, payload: dict) -> None:
    request = urllib.request.Request(
        channel.url, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=channel.timeout_s) as response:  # raises on 4xx / 5xx
        response.read()


def _mail(channel: EmailChannel, subject: str, body: str) -> None:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, channel.from_, ", ".join(channel.to)
    mail.set_content(body)
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
        if channel.starttls:  # verified: smtplib's own default would accept any certificate
            smtp.starttls(context=ssl.create_default_context(cafile=channel.cafile))
        if channel.username:
            smtp.login(channel.username, channel.password or "")
        smtp.send_message(mail)
