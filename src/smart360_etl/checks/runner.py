"""Choose the checks a job wants, run them all, and return every outcome (lazily: none stops the rest)."""

from __future__ import annotations

import difflib
import logging
import time
from dataclasses import replace

from ..config import CheckSetting
from ..db import for_whole_tables
from ..errors import ConfigError
from . import Check, Outcome, judge
from .builtin import builtin_checks
from .context import CheckContext
from .profile import profile_conditions, quality_profile
from .rows import row_predicates

log = logging.getLogger("smart360_etl")


def configured_checks(settings: dict[str, CheckSetting]) -> list[Check]:
    """The built-in checks with the job's overrides; an unknown name is an error that suggests the fix."""
    checks = {check.name: check for check in builtin_checks()}
    for name in settings:
        if name not in checks:
            close = difflib.get_close_matches(name, list(checks), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise ConfigError(f"unknown check `checks.{name}`; {hint}checks are: {', '.join(checks)}")
    chosen = []
    for name, check in checks.items():
        setting = settings.get(name, CheckSetting())
        if not setting.enabled:
            continue
        chosen.append(
            replace(
                check,
                severity=setting.severity or check.severity,
                threshold=check.threshold if setting.threshold is None else setting.threshold,
                limit=setting.limit or check.limit,
                fail_above=check.fail_above if setting.fail_above is None else setting.fail_above,
            )
        )
    return chosen


SAMPLE_COLUMNS = (
    "consumer_id",
    "first_name",
    "last_name",
    "address_line_1",
    "city",
    "state",
    "zip_code",
    "phone_number",
    "email_address",
)


def failing_samples(ctx: CheckContext, checks: list[Check], outcomes: list[Outcome]) -> dict[str, list[dict]]:
    """For each row check that did not pass, the rows behind its sample ids (masked later, in the report)."""
    by_name = {check.name: check for check in checks}
    samples = {}
    for outcome in outcomes:
        check = by_name[outcome.name]
        ids = [i for i in outcome.sample if i != "(no id)"]
        if outcome.status != "pass" and ids and (check.predicate or check.name == "consumer_id_unique"):
            samples[outcome.name] = [
                {k: (None if v is None else str(v)) for k, v in row.items()} for row in ctx.rows(ids, SAMPLE_COLUMNS)
            ]
    return samples


def run_checks(ctx: CheckContext, checks: list[Check], on_progress=None) -> list[Outcome]:
    """Every applicable check, in order; `on_progress(label, done, total)` hears of each one."""
    for_whole_tables(ctx.conn)  # checks aggregate and join whole tables
    ctx.prepare_scope()
    ctx.predicates = row_predicates(ctx) | profile_conditions(ctx)
    outcomes = []
    for done, check in enumerate(checks):
        if on_progress:
            on_progress(f"checking {check.name}", done, len(checks))
        if check.needs_run and ctx.run is None:
            continue
        if check.applies is not None and not check.applies(ctx):
            continue
        if check.predicate is not None and check.predicate not in ctx.predicates:
            continue  # the region has nothing to check against (e.g. no state list)
        started = time.perf_counter()
        outcome = judge(check, check.measure(ctx, check), "run" if check.needs_run else ctx.scope)
        log.info(
            "check %s: %s (%d of %d over the line; allowed %s; scope %s) in %.2fs",
            check.name,
            outcome.status,
            outcome.failing,
            outcome.total,
            f"{check.threshold:.0%}" if 0 < check.threshold < 1 else f"{check.threshold:g}",
            outcome.scope,
            time.perf_counter() - started,
            extra={"stage": "check"},
        )
        outcomes.append(outcome)
    return outcomes


def gather_findings(ctx: CheckContext, checks: list[Check], on_progress=None) -> tuple[list[Outcome], dict]:
    """Run the checks; return their outcomes and what the reports show: checks, profile, samples, duplicates."""
    outcomes = run_checks(ctx, checks, on_progress)
    return outcomes, {
        "checks": [outcome.to_json() for outcome in outcomes],
        "profile": quality_profile(ctx),
        "check_scope": ctx.scope,
        "samples": failing_samples(ctx, checks, outcomes),
        "duplicates": ctx.duplicate_pairs,
    }
