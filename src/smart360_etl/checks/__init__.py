"""Post-load checks as data: each has a name, a severity and a threshold; all run, then one list of
outcomes says what passed, what warned and what failed. Work is set-based SQL in the target; only a
few failing keys come back as a sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

from ..result import CheckRow

Severity = Literal["warn", "fail"]


@dataclass(frozen=True)
class Measure:
    """What a check found: how many things fail, out of how many, and a few of their keys."""

    failing: int
    total: int
    sample: list[str] = field(default_factory=list)
    scope: str | None = None  # what it looked at (context.SCOPES), when not what the check runner says


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    severity: Severity
    measure: Callable[..., Measure]
    threshold: float = 0  # failures allowed: a count when >= 1, a rate of `total` when below 1
    needs_run: bool = False  # compares with a run's source, so `validate` alone cannot run it
    limit: int | None = None
    predicate: str | None = None  # a row check: the name of its condition (skipped where the region has none)
    applies: Callable[..., bool] | None = None  # (context) -> False skips the check, e.g. incremental only
    fail_above: float | None = None  # beyond this (a count, or a rate of `total`) it fails whatever its severity


@dataclass
class Outcome:
    name: str
    description: str
    severity: Severity
    status: Literal["pass", "warn", "fail"]
    failing: int
    total: int
    threshold: float
    sample: list[str]
    scope: str = "target"

    def to_json(self) -> CheckRow:
        return CheckRow(name=self.name, description=self.description, severity=self.severity, status=self.status,
                        failing=self.failing, total=self.total, threshold=self.threshold, sample=self.sample,
                        scope=self.scope)


def _allowed(limit: float, total: int) -> float:
    return limit if limit >= 1 else limit * total


def judge(check: Check, measure: Measure, scope: str = "target") -> Outcome:
    """The outcome of `measure`; `scope` is what the check looked at unless the measure says otherwise."""
    status = "pass" if measure.failing <= _allowed(check.threshold, measure.total) else check.severity
    if check.fail_above is not None and measure.failing > _allowed(check.fail_above, measure.total):
        status = "fail"
    return Outcome(
        check.name,
        check.description,
        check.severity,
        status,
        measure.failing,
        measure.total,
        check.threshold,
        measure.sample,
        measure.scope or scope,
    )
