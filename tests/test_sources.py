"""CSV reading: record boundaries inside quotes, encodings, BOMs, and clear errors for broken files."""

from __future__ import annotations

import polars as pl
import pytest

from smart360_etl.errors import SourceError
from smart360_etl.sources import chunks
from smart360_etl.sources.csv_file import CsvSource


def read_all(path, batch_size=3, **options):
    source = CsvSource(path, **options)
    return source.columns(), pl.concat(list(source.batches(batch_size)))


def test_quoted_newlines_and_quotes_survive_tiny_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(chunks, "READ_BYTES", 7)  # cut the stream everywhere, also inside quotes
    rows = [("1", 'Ann "Nan" Lee', "12 Oak St\nApt 4"), ("2", "Bo, Jr.", ""), ("3", "Cy", "x")] * 5
    text = "Consumer ID,Name,Address\n" + "".join(
        f'{i},"{n.replace(chr(34), chr(34) * 2)}","{a}"\n' for i, n, a in rows
    )
    path = tmp_path / "c.csv"
    path.write_text(text)
    columns, frame = read_all(path)
    assert columns == ["Consumer ID", "Name", "Address"]
    assert frame.height == 15 and frame.row(0) == rows[0]
    assert frame["Name"].to_list() == [n for _, n, _ in rows]


def test_batches_are_bounded(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id\n" + "".join(f"{i}\n" for i in range(10)))
    assert [b.height for b in CsvSource(path).batches(4)] == [4, 4, 2]


def test_bom_and_latin1(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("Consumer ID;Name\n1;Zoë Müller\n".encode("latin-1"))
    columns, frame = read_all(path, delimiter=";", encoding="latin-1")
    assert frame.row(0) == ("1", "Zoë Müller")
    path.write_bytes(b"\xef\xbb\xbfConsumer ID,Name\n1,Ann\n")
    assert read_all(path)[0] == ["Consumer ID", "Name"]


def test_bytes_that_are_not_utf8_cost_their_record_only_and_are_named(tmp_path, caplog):
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,name\n1,Ann Lee\n2," + "Zoë".encode("latin-1") + b"\n3,Bo Ek\n")
    columns, frame = read_all(path, encoding="utf-8")
    assert frame["name"].to_list() == ["Ann Lee", "Zo\ufffd", "Bo Ek"]  # the mapper rejects it: encoding_invalid
    assert "data record(s) 2" in caplog.text and "source.encoding" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("a,,c\n1,2,3\n", "empty column name"),
        ("a,a\n1,2\n", "repeats a column name"),
        ("a,b\n1,2,3\n", "data record 1 has 3 field"),
        ("a,b\n1,2\n4,5,6\n", "data record 2 has 3 field"),
        # a short record (here a value broken by an unquoted line break) is not padded with nulls
        ('a,b,c\n1,"x,y",z\n\n2,12 Oak St\nApt 4,z\n', "data record 2 has 2 field"),
        ("Consumer ID;Name\n1;Ann\n", "set `source.delimiter: ';'`"),
        ("id,name,,\n1,Ann,,\n2,Bo,x,\n", "data record 2 has a value under a column without a name"),
        (",\n1,\n", "empty column name"),
        ("Consumer ID|Name\n1|Ann\n", "set `source.delimiter: '|'`"),
    ],
)
def test_broken_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "c.csv"
    path.write_text(content)
    with pytest.raises(SourceError, match=message):
        read_all(path)


def test_a_spreadsheets_empty_trailing_columns_are_dropped(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Consumer ID,Name,,\n1,Ann Lee,,\n2,Bo Chan,,\n")
    columns, frame = read_all(path)
    assert columns == frame.columns == ["Consumer ID", "Name"] and frame.rows() == [("1", "Ann Lee"), ("2", "Bo Chan")]


def test_blank_lines_are_not_records(tmp_path, monkeypatch):
    monkeypatch.setattr(chunks, "READ_BYTES", 7)
    path = tmp_path / "c.csv"
    path.write_bytes(b'a,b\n1,"x,\n\ny"\n\n2,\r\n\r\n,\n3,4\n\n')
    columns, frame = read_all(path)
    assert frame.rows() == [("1", "x,\n\ny"), ("2", None), (None, None), ("3", "4")]  # an empty record stays


def test_nul_bytes_are_removed_and_reported(tmp_path, caplog):
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,name\n1,Ann\x00 Lee\x00\x00\n2,Bo\n")
    source = CsvSource(path)
    frame = pl.concat(list(source.batches(10)))
    pl.concat(list(source.batches(10)))  # a second pass reports nothing new
    assert frame["name"].to_list() == ["Ann Lee", "Bo"]
    assert [r.getMessage() for r in caplog.records if "NUL" in r.getMessage()] == [
        f"{path}: removed 3 NUL byte(s), which PostgreSQL text cannot hold"
    ]


def test_missing_file_and_unknown_encoding(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        CsvSource(tmp_path / "nope.csv")
    (tmp_path / "c.csv").write_text("a\n")
    with pytest.raises(SourceError, match="unknown encoding"):
        CsvSource(tmp_path / "c.csv", encoding="klingon")


def test_limit_reads_only_the_first_rows(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id\n" + "".join(f"{i}\n" for i in range(100)))
    assert sum(b.height for b in CsvSource(path, limit=7).batches(5)) == 7


@pytest.mark.parametrize("name", ["consumers.csv", "consumers.xlsx"])
def test_a_workbook_given_as_csv_is_named_with_how_to_export_it(tmp_path, name):
    """An .xlsx is a zip archive of XML parts; whatever its name, it is not read as text."""
    import zipfile

    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>")
    with pytest.raises(SourceError) as error:
        CsvSource(path)
    assert "Excel workbook (.xlsx)" in str(error.value) and "Save As > CSV UTF-8" in str(error.value)


@pytest.mark.parametrize(
    "query",
    [
        "select * from consumer_data) q; commit; delete from consumer_data; select * from (select 1",
        "select * from consumer_data; delete from consumer_data",
        "delete from consumer_data",
        "with gone as (delete from consumer_data returning *) select * from gone",
    ],
)
def test_a_query_source_is_one_select_and_never_writes(source_url, query):
    import psycopg

    from smart360_etl.sources.postgres import PostgresSource

    with psycopg.connect(source_url) as conn:
        conn.execute("CREATE TABLE consumer_data (id int)")
        conn.execute("INSERT INTO consumer_data SELECT generate_series(1, 50)")
    with pytest.raises(SourceError):
        with PostgresSource(source_url, None, query) as source:
            list(source.batches(10))
    with psycopg.connect(source_url) as conn:
        assert conn.execute("SELECT count(*) FROM consumer_data").fetchone()[0] == 50
    with PostgresSource(source_url, None, "select * from consumer_data where id > 40;") as source:
        assert sum(batch.height for batch in source.batches(10)) == 10


def test_a_table_is_read_in_the_same_order_whatever_else_scans_it(source_url):
    """Synchronised scans would start a sequential scan where another session's is: row numbers move."""
    from smart360_etl.sources.postgres import PostgresSource

    with PostgresSource(source_url, None, "select 1 as id") as source:
        assert source._snapshot.execute("SHOW synchronize_seqscans").fetchone()[0] == "off"


def test_one_column_in_one_piece_is_what_the_batches_read(source_url):
    """The fast narrow read (one aggregate) gives the values COPY gives, awkward ones included."""
    import psycopg

    from smart360_etl.sources.postgres import PostgresSource

    values = ["C-1", "with,comma", 'a "quote"', "new\nline", "São Paulo", "  spaced  ", "", "\\back", None]
    with psycopg.connect(source_url) as conn:
        conn.execute("CREATE TABLE odd (id text, n numeric, at timestamptz)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO odd VALUES (%s, %s, '2026-03-08 02:30:00+00')",
                            [(v, i / 3) for i, v in enumerate(values)])
    with PostgresSource(source_url, "odd", None) as source:
        for column in ("id", "n", "at"):
            batched = pl.concat(list(source.batches(4, columns=[column])))[column].drop_nulls()
            assert pl.concat(list(source.column_text(column, 3))).to_list() == batched.to_list(), column
        assert pl.concat(list(source.column_text("id", 2))).to_list() == [v for v in values if v is not None]
