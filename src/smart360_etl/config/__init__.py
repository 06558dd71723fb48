"""The job file: its typed sections (model.py; operations.py for schedule, logging and alerts) and how a
file becomes a JobConfig (loading.py)."""

from .loading import load_job, parse_job, read_yaml
from .model import (
    ACCOUNT_REASONS,
    ETL_TABLES,
    HARD_REASONS,
    NULLING_REASONS,
    PAYMENT_STATUSES,
    SOFT_REASONS,
    TARGET_TABLES,
    AccountsConfig,
    CheckSetting,
    Crosswalks,
    Disposition,
    ExportConfig,
    FieldSpec,
    IncrementalConfig,
    JobConfig,
    ReportConfig,
    SourceConfig,
    TargetConfig,
    parse_duration,
)
from .operations import AlertsConfig, EmailChannel, LoggingConfig, ScheduleConfig, WebhookChannel

__all__ = [
    "ACCOUNT_REASONS", "ETL_TABLES", "HARD_REASONS", "NULLING_REASONS", "PAYMENT_STATUSES", "SOFT_REASONS",
    "TARGET_TABLES", "AccountsConfig", "AlertsConfig", "CheckSetting", "Crosswalks", "Disposition", "EmailChannel",
    "ExportConfig", "FieldSpec", "IncrementalConfig", "JobConfig", "LoggingConfig", "ReportConfig", "ScheduleConfig",
    "SourceConfig", "TargetConfig", "WebhookChannel", "load_job", "parse_duration", "parse_job", "read_yaml",
]
