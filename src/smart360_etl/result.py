"""What one run did: the report, the console summary, the ledger and the alerts read only this."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RunResult:
    """One run: its counts, reasons, checks, profile and findings, as the report shows them."""

    run_id: str
    job: str
    status: str  # ok | dry_run | checks_failed (loaded; exit code 2) | failed (rolled back)
    dry_run: bool
    started_at: str
    source: str
    duration_s: float = 0.0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("extracted", "inserted", "updated", "unchanged", "rejected"), 0)
    )
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_reason: dict[str, int] = field(default_factory=dict)
    reason_samples: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # first rows per reason
    checks: list[dict] = field(default_factory=list)
    profile: dict[str, dict] = field(default_factory=dict)
    samples: dict[str, list[dict]] = field(default_factory=dict)
    duplicates: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    incremental: dict | None = None  # window, watermark, verification, deleted rows (incremental runs only)
    entities: dict[str, dict[str, int]] = field(default_factory=dict)  # with `accounts:`: counts per table
    unmapped_codes: dict[str, dict[str, int]] = field(default_factory=dict)  # source code -> rows, per crosswalk
    business_totals: list[dict] = field(default_factory=list)  # source against target, per measure and key
    source_schema: dict[str, str] = field(default_factory=dict)
    unloaded_columns: list[str] = field(default_factory=list)  # source columns that no field reads
    error: str | None = None
    report_path: str | None = None

    @property
    def failed_checks(self) -> list[str]:
        """Checks with severity `fail` that failed: the data is loaded (or would be, in a dry run); exit code 2."""
        return [check["name"] for check in self.checks if check["status"] == "fail"]

    @property
    def reconciliation(self) -> str:
        c = self.counts
        return (
            f"extracted {c['extracted']} = inserted {c['inserted']} + updated {c['updated']} + "
            f"unchanged {c['unchanged']} + rejected {c['rejected']}"
        )

    def to_json(self) -> dict:
        return asdict(self)
