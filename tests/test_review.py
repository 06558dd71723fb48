"""The review loop on a real PostgreSQL: export rejects, fix some in a spreadsheet, resubmit, see them
resolved; warnings exported; bad resubmissions refused with nothing written."""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from smart360_etl.cli import main
from smart360_etl.config import load_job
from smart360_etl.db import target_connection
from smart360_etl.load.schema import migrate
from smart360_etl.review.rejects import REJECT_COLUMNS

from .browser import render

HEADER = "Consumer ID,Name,Address,Contact Number,Email Address\n"
ROWS = (
    "1,Ann Lee,\"12 Oak St, Austin, TX 78701\",512-555-0101,ann@example.com\n"
    "2,Bob,\"14 Oak St, Austin, TX 78701\",512-555-0102,bob@example.com\n"  # one word: name_incomplete
    "3,Cara Diaz,,512-555-0103,cara@example.com\n"  # no address: address_unparsed
    "4,Dan Wu,\"16 Oak St, Austin, TX 78701\",not a phone,dan@example.com\n"  # a warning: phone_invalid
    "5,=1+1,\"18 Oak St, Austin, TX 78701\",512-555-0105,eve@example.com\n"  # a formula-looking name
)


@pytest.fixture
def job_path(target_url, write_job, tmp_path):
    (tmp_path / "consumers.csv").write_text(HEADER + ROWS)
    path = write_job(source={"csv": "consumers.csv"}, target={"url": target_url})
    job = load_job(path)
    with target_connection(job.target) as conn:
        migrate(conn, job.target)
    return path


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def query(url: str, statement: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def last_run(url: str) -> str:
    return query(url, "SELECT run_id FROM smart360_etl.run ORDER BY started_at DESC LIMIT 1")[0][0]


def test_rejects_fixed_in_a_workbook_go_back_and_are_resolved(job_path, target_url, tmp_path):
    assert cli("run", "-c", str(job_path)).exit_code == 0
    first = last_run(target_url)
    out = tmp_path / "rejects.xlsx"
    exported = cli("rejects", "-c", str(job_path), "--out", str(out))
    assert exported.exit_code == 0 and f"3 rejected records of run {first}" in exported.output
    book = load_workbook(out)
    sheet = book.active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Consumer ID", "Name", "Address", "Contact Number", "Email Address", *REJECT_COLUMNS]
    by_id = {row[0]: row for row in rows[1:]}
    assert sorted(by_id) == ["2", "3", "5"]
    assert by_id["2"][5:8] == [first, "2", "name_incomplete"] and "first and a last name" in by_id["2"][8]
    assert by_id["5"][1] == "=1+1" and sheet.cell(row=4, column=2).data_type == "s"  # text, not a formula
    # The business user fixes Bob's name and the formula-looking one, and leaves Cara's address empty.
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == "2":
            row[1].value = "Bob Stone"
        if row[0].value == "5":
            row[1].value = "Eve Ray"
    fixed = tmp_path / "fixed.xlsx"
    book.save(fixed)

    resubmitted = cli("run", "-c", str(job_path), "--resubmit", str(fixed))
    assert resubmitted.exit_code == 0, resubmitted.output
    second = last_run(target_url)
    assert query(target_url, "SELECT resubmits, inserted, rejected FROM smart360_etl.run WHERE run_id = %s",
                 [second]) == [(first, 2, 1)]
    assert query(target_url, "SELECT consumer_id, first_name, last_name FROM smart360.consumer "
                             "WHERE consumer_id IN ('2', '3', '5') ORDER BY 1") == [("2", "Bob", "Stone"),
                                                                                     ("5", "Eve", "Ray")]
    assert query(target_url, "SELECT source_row_number, reasons FROM smart360_etl.reject WHERE run_id = %s",
                 [second]) == [(2, ["address_unparsed"])]  # still wrong: rejected again, nothing of it loaded
    assert query(target_url, "SELECT source_row_number, resolved_by FROM smart360_etl.reject WHERE run_id = %s "
                             "ORDER BY 1", [first]) == [(2, second), (3, None), (5, second)]

    summary = cli("rejects", "-c", str(job_path), "--run", first, "--summary", "--json")
    found = json.loads(summary.output)
    assert found["rejected_rows"] == 3 and found["resolved_rows"] == 2
    assert found["reasons"]["address_unparsed"] == {"rejected": 1, "resolved": 0, "warned": 0,
                                                    "how_to_fix": found["reasons"]["address_unparsed"]["how_to_fix"]}
    left = tmp_path / "left.csv"
    assert cli("rejects", "-c", str(job_path), "--run", first, "--unresolved", "--out", str(left)).exit_code == 0
    assert [line.split(",")[0] for line in left.read_text().splitlines()[1:]] == ["3"]

    # A second round: the resubmission's own rejects, fixed; the first run's row is resolved too.
    again = tmp_path / "again.csv"
    assert cli("rejects", "-c", str(job_path), "--out", str(again)).exit_code == 0  # the last run: `second`
    header, row = again.read_text().splitlines()
    assert row.startswith("3,Cara Diaz,,") and f",{second},2," in row  # its row in the resubmitted file
    again.write_text(header + "\n" + row.replace("3,Cara Diaz,,", '3,Cara Diaz,"20 Oak St, Austin, TX 78701",') + "\n")
    assert cli("run", "-c", str(job_path), "--resubmit", str(again)).exit_code == 0
    third = last_run(target_url)
    # (run ids of one second sort by their random suffix: compared as a set)
    assert set(query(target_url, "SELECT run_id, resolved_by FROM smart360_etl.reject WHERE source_row_number = 3 "
                                 "OR run_id = %s", [second])) == {(first, third), (second, third)}
    assert query(target_url, "SELECT count(*) FROM smart360.consumer") == [(5,)]


def test_warnings_export_the_field_and_the_source_value(job_path, target_url, tmp_path):
    assert cli("run", "-c", str(job_path)).exit_code == 0
    out = tmp_path / "warnings.csv"
    done = cli("rejects", "-c", str(job_path), "--warnings", "--reason", "phone_invalid", "--out", str(out))
    assert done.exit_code == 0 and "1 warnings" in done.output
    header, row = out.read_text().splitlines()
    assert header.split(",")[1:7] == ["source_row_number", "consumer_id", "reason", "field", "source_column",
                                      "source_value"]
    assert row.split(",")[1:7] == ["4", "4", "phone_invalid", "phone_number", "Contact Number", "not a phone"]


FIXED = HEADER.rstrip("\n") + ",rejected_in_run,source_row_number\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (HEADER + ROWS, "has no rejected_in_run or source_row_number column"),
        (FIXED + "2,Bob Stone,1 Elm St,,,R1,2\n3,Cara Diaz,1 Elm St,,,R2,3\n", "all the same run"),
        (FIXED + "2,Bob Stone,1 Elm St,,,{run},\n", "not a number on line(s) [2]"),
        (FIXED + "2,Bob Stone,1 Elm St,,,{run},2\n2,Bob Stone,1 Elm St,,,{run},2\n", "appears more than once"),
        (FIXED + "2,Bob Stone,1 Elm St,,,not-a-run,2\n", "run not-a-run is not a run of job job"),
    ],
)
def test_a_bad_resubmission_is_refused_and_writes_nothing(job_path, target_url, tmp_path, content, message):
    assert cli("run", "-c", str(job_path)).exit_code == 0
    runs = query(target_url, "SELECT count(*) FROM smart360_etl.run")
    path = tmp_path / "fixed.csv"
    path.write_text(content.replace("{run}", last_run(target_url)))
    refused = cli("run", "-c", str(job_path), "--resubmit", str(path))
    assert refused.exit_code == 1 and message in refused.output and "Traceback" not in refused.output
    said = [line for line in refused.output.splitlines() if " INFO " not in line]
    assert len(said) == 1 and said[0].startswith("error: "), refused.output
    assert query(target_url, "SELECT count(*) FROM smart360_etl.run") in (runs, [(runs[0][0] + 1,)])
    assert query(target_url, "SELECT count(*) FROM smart360_etl.run WHERE status IN ('ok', 'checks_failed')") == runs


def test_compare_two_mock_loads_with_known_differences(job_path, target_url, tmp_path, chromium):
    assert cli("run", "-c", str(job_path)).exit_code == 0
    first = last_run(target_url)
    source = tmp_path / "consumers.csv"
    lines = source.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("Ann Lee", "Ann Stone")  # changed
    del lines[4]  # Dan Wu (and his phone warning) gone
    lines.append("6,Fay Wong,\"22 Oak St, Austin, TX 78701\",512-555-0106,fay@example.com\n")  # new
    lines.append("7,Gus,\"24 Oak St, Austin, TX 78701\",512-555-0107,gus@example.com\n")  # a second name_incomplete
    source.write_text("".join(lines))
    assert cli("run", "-c", str(job_path)).exit_code == 0
    second = last_run(target_url)

    shown = cli("compare", "-c", str(job_path), "--json")
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert (found["a"]["run_id"], found["b"]["run_id"]) == (first, second)
    ledger = dict(query(target_url, "SELECT run_id, extracted FROM smart360_etl.run"))
    counts = {row["name"]: row for row in found["counts"]}
    assert counts["extracted"]["a"] == ledger[first] == 5 and counts["extracted"]["b"] == ledger[second] == 6
    rejects = {row["name"]: row for row in found["rejects"]}
    assert rejects["name_incomplete"] == {"name": "name_incomplete", "a": 2, "b": 3, "delta": 1}
    warnings = {row["name"]: row for row in found["warnings"]}
    assert warnings["phone_invalid"]["delta"] == -1
    consumers = found["consumers"]
    assert (consumers["new"], consumers["gone"], consumers["changed"], consumers["unchanged"]) == (1, 1, 1, 0)
    assert consumers["samples"] == {"new": ["6"], "gone": ["4"], "changed": ["1"]}

    page = job_path.parent / "reports" / f"compare-{first}-{second}.html"
    dom, errors = render(chromium, tmp_path, page)
    assert errors == [] and 'id="consumers-new">1<' in dom and 'id="consumers-changed">1<' in dom
    assert re.search(r'data-name="name_incomplete"><td>name_incomplete</td><td class="num">2</td>'
                     r'<td class="num">3</td><td class="num">\+1</td>', dom)
    assert "http://" not in dom.replace("http://www.w3.org", "") and "https://" not in dom


def test_compare_needs_two_runs(job_path):
    assert cli("run", "-c", str(job_path)).exit_code == 0
    refused = cli("compare", "-c", str(job_path))
    assert refused.exit_code == 1 and "has 1 run(s) that loaded: compare needs two" in refused.output


def test_the_index_charts_rates_per_job_and_marks_failed_runs(job_path, target_url, tmp_path, chromium):
    from smart360_etl.errors import StageFailed
    from smart360_etl.run.context import RunHooks
    from smart360_etl.run.pipeline import run

    job = load_job(job_path)
    first = run(job)

    def disk_full(event):
        if event == "check":
            raise OSError("disk full")

    with pytest.raises(StageFailed):
        run(job, hooks=RunHooks(at=disk_full))
    third = run(job)
    dom, errors = render(chromium, tmp_path, job.report_dir / "index.html")
    assert errors == [] and 'data-ready="1"' in dom
    order = re.findall(r'<tr data-run="([^"]+)">', dom)
    assert order[0] == third.run_id and order[-1] == first.run_id and len(order) == 3  # newest first
    failed = re.findall(r'class="failed-run" data-run="([^"]+)"', dom)
    assert len(failed) == 1 and failed[0] not in (first.run_id, third.run_id)
    rate = round(100 * first.counts["rejected"] / first.counts["extracted"], 2)
    assert re.search(rf'class="reject_rate" data-run="{first.run_id}".*?<title>{first.run_id}: {rate} rejected', dom)
    assert f'class="reject_rate" data-run="{failed[0]}"' not in dom  # a failure is not drawn as zero rejects


def test_json_outputs_for_scripts(job_path, target_url):
    from smart360_etl.cli import main as entry

    assert cli("run", "-c", str(job_path)).exit_code == 0
    runner = CliRunner()
    history = json.loads(runner.invoke(entry, ["history", "-c", str(job_path), "--json"]).stdout)
    ledger = query(target_url, "SELECT run_id, status, extracted FROM smart360_etl.run")
    assert [(r["run_id"], r["status"], r["extracted"]) for r in history["runs"]] == ledger
    assert isinstance(history["runs"][0]["duration_s"], float)
    doctor = json.loads(runner.invoke(entry, ["doctor", "-c", str(job_path), "--json"]).stdout)
    assert doctor["problems"] == 0 and {f["status"] for f in doctor["findings"]} <= {"ok", "warn"}
    checked = runner.invoke(entry, ["validate", "-c", str(job_path), "--json"])
    validated = json.loads(checked.stdout)
    assert checked.exit_code == (2 if validated["failed"] else 0) and validated["checks"]
