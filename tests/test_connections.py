"""Transient connection failures are retried: a target that starts answering late still gets its run."""

from __future__ import annotations

import socket
import threading
import time

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.load.schema import migrate
from smart360_etl.run.pipeline import run

from .conftest import SAMPLES


class LateForwarder:
    """A TCP port on loopback that starts listening only after `delay`, then relays to the real server."""

    def __init__(self, upstream_url: str, delay: float) -> None:
        params = conninfo_to_dict(upstream_url)
        host, port = params.get("host", "127.0.0.1"), int(params.get("port") or 5432)
        self.upstream = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") else (socket.AF_INET, (host, port))
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, args=(delay,), daemon=True).start()

    def _serve(self, delay: float) -> None:
        time.sleep(delay)
        listener = socket.create_server(("127.0.0.1", self.port))
        while True:
            client, _ = listener.accept()
            self.accepted += 1
            server = socket.socket(self.upstream[0], socket.SOCK_STREAM)
            server.connect(self.upstream[1])
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()


def test_a_target_that_answers_late_is_retried_until_it_does(target_url, write_job, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("smart360_etl.db.BACKOFF_S", 0.3)
    (tmp_path / "c.csv").write_text(SAMPLES.joinpath("case_study_sample.csv").read_text())
    direct = load_job(write_job(source={"csv": "c.csv"}, target={"url": target_url})).target
    with target_connection(direct) as conn:
        migrate(conn, direct)
    forwarder = LateForwarder(target_url, delay=0.5)
    late_url = make_conninfo(target_url, host="127.0.0.1", port=str(forwarder.port))
    job = load_job(write_job(source={"csv": "c.csv"}, target={"url": late_url, "connect_retries": 5}))
    result = run(job)
    assert result.status == "checks_failed" and result.counts["inserted"] > 0  # loaded; its phones are all nulled
    assert forwarder.accepted >= 1 and "retrying" in caplog.text and "the SMART360 target" in caplog.text
