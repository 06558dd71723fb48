"""Self-contained HTML: one page per run and an index of all runs. Inline CSS and SVG, no network."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..reasons import CATALOG, FIXES
from ..result import SCOPES

OUTCOMES = ("inserted", "updated", "unchanged", "rejected")
COLOURS = {
    "inserted": "#2e7d32",
    "updated": "#1565c0",
    "unchanged": "#9e9e9e",
    "rejected": "#c62828",
    "pass": "#2e7d32",
    "warn": "#ef6c00",
    "fail": "#c62828",
}
PALETTE = ["#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457"]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("smart360_etl.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(colours=COLOURS, outcomes=OUTCOMES, palette=PALETTE, reason_fixes=FIXES, scopes=SCOPES,
                       reason_fields={r.code: r.field for r in CATALOG})
    return env


def write_run_page(report: dict, report_dir: Path) -> Path:
    """`<run_id>.html` beside the run's JSON report (the same content: masked when that is)."""
    page = _environment().get_template("run.html.j2").render(r=report, masked=report["personal_data_masked"])
    path = report_dir / f"{report['run_id']}.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_compare_page(comparison: dict, path: Path) -> Path:
    """The comparison of two runs as a page (`compare`)."""
    path.write_text(_environment().get_template("compare.html.j2").render(c=comparison), encoding="utf-8")
    return path


def _rates(report: dict) -> dict:
    """Rejected records and warnings per 100 extracted rows; None for a failed run (it loaded nothing)."""
    extracted = report["counts"].get("extracted") or 0
    if report.get("status") == "failed" or not extracted:
        return {"reject_rate": None, "warning_rate": None}
    warnings = sum(report.get("warnings_by_reason", {}).values())
    return {"reject_rate": round(100 * report["counts"].get("rejected", 0) / extracted, 2),
            "warning_rate": round(100 * warnings / extracted, 2)}


def write_index(report_dir: Path) -> Path:
    """`index.html`: per job, the reject and warning rates of its runs over time (failed runs marked as
    failures), and its runs newest first."""
    runs = []
    for path in sorted(report_dir.glob("*.json")):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue  # not one of ours, or half-written: the index lists what it can read
    runs = sorted((r for r in runs if "run_id" in r and "counts" in r), key=lambda r: r.get("started_at", ""))
    jobs: dict[str, list[dict]] = {}
    for report in runs:
        jobs.setdefault(report.get("job", ""), []).append({**report, **_rates(report)})
    page = _environment().get_template("index.html.j2").render(jobs=jobs, runs=len(runs))
    path = report_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
