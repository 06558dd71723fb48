"""What one run did: the report, the console summary, the ledger and the alerts read only this."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

# A run's counts: extracted = inserted + updated + unchanged + rejected.
COUNTS = ("extracted", "inserted", "updated", "unchanged", "rejected")
Counts = dict[str, int]  # COUNTS -> rows


# What a check looked at (CheckRow.scope, RunResult.check_scope):
SCOPES = {
    "run": "the run's own source rows and counts",
    "written": "the consumers this run inserted or updated",
    "target": "every row of the target",
    "constraint": "every row of the target, by its unique index (a catalog look-up)",
}


class CheckRow(TypedDict):
    """A check's outcome, as checks.Outcome.to_json gives it."""

    name: str
    description: str
    severity: str
    status: str  # pass | warn | fail
    failing: int
    total: int
    threshold: float
    sample: list[str]
    scope: str  # SCOPES: what the check looked at


class DriftRow(TypedDict):
    side: str  # source | target
    column: str
    change: str
    breaking: bool
    message: str
    fix: str
    affects: list[str]


class Verification(TypedDict):
    failing: int
    total: int
    sample: list[str]


class Deleted(TypedDict):
    count: int
    sample: list[str]


class IncrementalSummary(TypedDict):
    """An incremental run's window, what became of its watermark, its verification and deleted rows."""

    mode: str  # column | compare
    window: str
    since: str | None
    until: str | None
    watermark_saved: bool
    verified: Verification
    deletes: str  # ignore | report | mark_inactive
    deleted: Deleted


class BusinessTotal(TypedDict):
    measure: str
    key: str
    source: float
    target: float
    match: bool


class ResubmissionSummary(TypedDict):
    """A resubmitted rejects file: the run it fixes, its rows, how many loaded (resolved), how many not."""

    fixes_run: str
    file: str
    rows: int
    resolved: int
    rejected_again: int


class ReasonSamples(TypedDict):
    """The first rows of each reason: rejects (row number, consumer id) and warnings (also field, value)."""

    rejects: dict[str, list[dict[str, Any]]]
    warnings: dict[str, list[dict[str, Any]]]


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
    counts: Counts = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_reason: dict[str, int] = field(default_factory=dict)
    reason_samples: ReasonSamples = field(default_factory=lambda: ReasonSamples(rejects={}, warnings={}))
    checks: list[CheckRow] = field(default_factory=list)
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)  # per field: present, missing, ... (rates)
    check_scope: str | None = None  # what the row checks and the profile looked at (SCOPES)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # failing rows per check
    duplicates: list[dict[str, Any]] = field(default_factory=list)  # likely duplicate pairs, the first few
    drift: list[DriftRow] = field(default_factory=list)
    incremental: IncrementalSummary | None = None  # incremental runs only
    entities: dict[str, dict[str, int]] = field(default_factory=dict)  # with `accounts:`: counts per table
    unmapped_codes: dict[str, dict[str, int]] = field(default_factory=dict)  # source code -> rows, per crosswalk
    business_totals: list[BusinessTotal] = field(default_factory=list)  # source against target, per measure and key
    source_schema: dict[str, str] = field(default_factory=dict)
    unloaded_columns: list[str] = field(default_factory=list)  # source columns that no field reads
    resubmits: str | None = None  # a resubmission: the run whose rejects it fixes
    resubmission: ResubmissionSummary | None = None
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
