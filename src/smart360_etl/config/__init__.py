"""The job file: its typed sections (model.py) and how a file becomes a JobConfig (loading.py)."""

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
    AlertsConfig,
    CheckSetting,
    Crosswalks,
    Disposition,
    EmailChannel,
    ExportConfig,
    FieldSpec,
    IncrementalConfig,
    JobConfig,
    LoggingConfig,
    ReportConfig,
    ScheduleConfig,
    SourceConfig,
    TargetConfig,
    WebhookChannel,
    parse_duration,
)

__all__ = [
    "ACCOUNT_REASONS", "ETL_TABLES", "HARD_REASONS", "NULLING_REASONS", "PAYMENT_STATUSES", "SOFT_REASONS",
    "TARGET_TABLES", "AccountsConfig", "AlertsConfig", "CheckSetting", "Crosswalks", "Disposition", "EmailChannel",
    "ExportConfig", "FieldSpec", "IncrementalConfig", "JobConfig", "LoggingConfig", "ReportConfig", "ScheduleConfig",
    "SourceConfig", "TargetConfig", "WebhookChannel", "load_job", "parse_duration", "parse_job", "read_yaml",
]
