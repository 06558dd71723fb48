"""The files a run or a validation leaves: `<id>.json`, `<run_id>.html` and the refreshed `index.html`."""

from __future__ import annotations

import json
from pathlib import Path

from ..result import RunResult
from .masking import mask_row, mask_warning


def _masked(body: dict, mask: bool) -> dict:
    if mask:
        body["duplicates"] = [mask_row(pair) for pair in body["duplicates"]]
        body["samples"] = {name: [mask_row(row) for row in rows] for name, rows in body["samples"].items()}
        if body.get("reason_samples"):
            warnings = body["reason_samples"].get("warnings", {})
            masked = {reason: [mask_warning(row) for row in rows] for reason, rows in warnings.items()}
            body["reason_samples"]["warnings"] = masked
    body["personal_data_masked"] = mask
    return body


def write_validation_report(validation_id: str, job: str, found: dict, report_dir: Path, mask: bool = True) -> Path:
    """`<report_dir>/<validation_id>.json`: what `validate` found (checks, profile, samples, duplicates)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    body = _masked({"validation_id": validation_id, "job": job, **found}, mask)
    path = report_dir / f"{validation_id}.json"
    path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_reports(result: RunResult, report_dir: Path, mask: bool = True) -> Path:
    """`<run_id>.json` and `<run_id>.html`, and the refreshed `index.html`; returns the JSON's path."""
    from .html import write_index, write_run_page

    report_dir.mkdir(parents=True, exist_ok=True)
    body = _masked({k: v for k, v in result.to_json().items() if k != "report_path"}, mask)
    path = report_dir / f"{result.run_id}.json"
    path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    write_run_page(body, report_dir)
    write_index(report_dir)
    return path


def write_comparison(comparison: dict, report_dir: Path) -> Path:
    """`compare-<A>-<B>.json` and `.html`; returns the JSON's path."""
    from .html import write_compare_page

    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"compare-{comparison['a']['run_id']}-{comparison['b']['run_id']}.json"
    path.write_text(json.dumps(comparison, indent=2, default=str) + "\n", encoding="utf-8")
    write_compare_page(comparison, path.with_suffix(".html"))
    return path
