"""What a run leaves behind for people: the JSON report, the HTML report, the run index (files.py, html.py),
and what is printed on the console (console.py)."""

from .console import print_checks, print_summary
from .files import write_reports, write_validation_report

__all__ = ["print_checks", "print_summary", "write_reports", "write_validation_report"]
