"""A real headless Chromium for the HTML pages: the DOM after scripts ran, and the console errors."""

from __future__ import annotations

import re
import subprocess

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def render(chromium, tmp_path, page) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console errors, from a real headless Chromium."""
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [
        line for line in done.stderr.splitlines() if "CONSOLE" in line and re.search("error|uncaught", line, re.I)
    ]
    return done.stdout, errors
