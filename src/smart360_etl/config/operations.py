"""The sections for running unattended: schedule, logging, alerts (webhook, e-mail)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel


class ScheduleConfig(StrictModel):
    cron: str = Field(description="five-field cron expression, e.g. '0 8 * * *'")
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in, e.g. Europe/London")
    catch_up: bool = Field(False, description="at start, run once if a scheduled run was missed while down")

    @model_validator(mode="after")
    def _valid(self) -> ScheduleConfig:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from croniter import croniter

        if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
            raise ValueError(f"`{self.cron}` is not a five-field cron expression (minute hour day month weekday)")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone `{self.timezone}`; use an IANA name such as Europe/London") from None
        return self


class LoggingConfig(StrictModel):
    file: Path | None = Field(None, description="structured log file, rotated by size")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="lowest level written")
    format: Literal["json", "text"] = Field("json", description="format of the file's lines")
    max_bytes: int = Field(10_000_000, gt=0, description="rotate the file at this size")
    backups: int = Field(5, ge=0, description="rotated files kept")
    mask_personal_data: bool = Field(True, description="mask e-mail addresses and phone numbers in log lines")


class WebhookChannel(StrictModel):
    url: str = Field(description="incoming-webhook URL (Slack, Teams, or any HTTP receiver)")
    timeout_s: float = Field(10, gt=0)


class EmailChannel(StrictModel):
    host: str
    port: int = Field(587, gt=0, lt=65536)
    starttls: bool = Field(True, description="upgrade the connection with STARTTLS (the certificate is verified)")
    cafile: Path | None = Field(None, description="CA bundle for a server certificate from a private CA")
    username: str | None = None
    password: str | None = None
    from_: str = Field(alias="from", description="sender address")
    to: list[str] = Field(min_length=1, description="recipient addresses")
    timeout_s: float = Field(10, gt=0)


AlertEvent = Literal["failure", "check_fail", "check_warn"]


class AlertsConfig(StrictModel):
    on: list[AlertEvent] = Field(["failure", "check_fail"], description="events that send an alert")
    reject_rate: float | None = Field(None, ge=0, le=1, description="also alert when rejected/extracted exceeds it")
    retries: int = Field(3, ge=0, description="delivery attempts after the first")
    backoff_s: float = Field(1.0, ge=0, description="first wait between attempts; doubles each time")
    webhook: WebhookChannel | None = None
    email: EmailChannel | None = None
