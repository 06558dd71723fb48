"""The intervals run's report: `intervals/<run_id>.json` and `.html` in the job's report folder."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from .rejects import FIXES


def write_report(report: dict, report_dir: Path, mask: bool) -> Path:
    """Meter numbers in samples are already masked when `mask` (the units mask them as they find them)."""
    folder = report_dir / "intervals"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report['run_id']}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    env = Environment(loader=PackageLoader("smart360_etl.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("intervals.html.j2").render(r=report, fixes=FIXES, masked=mask)
    path.with_suffix(".html").write_text(page, encoding="utf-8")
    return path
