"""A MySQL / MariaDB, SQLite, SQL Server or Oracle table or query as a source, read through SQLAlchemy
(one engine-neutral layer, with each engine's own driver: PyMySQL, sqlite3, pyodbc, oracledb).

Why SQLAlchemy and not a reader that fills Arrow from several connections at once (connectorx): a run
reads its source twice (the id pass, then the main pass) and both must see the same rows. That needs one
connection holding one snapshot for the whole run, which only a single-connection reader gives; its rows
are streamed with a server-side cursor, `batch_size` at a time, so memory stays bounded whatever the
table's size. Every value arrives as text, as from PostgreSQL's COPY.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from ..errors import SourceError
from ..urls import redact, redact_url

# What opens the run's one snapshot, per engine (the connection is in autocommit: these statements own it).
_BEGIN = {
    "mysql": ("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
              "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"),
    "sqlite": ("BEGIN",),
    "oracle": ("SET TRANSACTION READ ONLY",),
    "mssql": ("SET TRANSACTION ISOLATION LEVEL SNAPSHOT", "BEGIN TRANSACTION"),
}
_NAMES = {"mysql": "MySQL / MariaDB", "sqlite": "SQLite", "oracle": "Oracle", "mssql": "SQL Server"}
_DRIVERS = {"mysql": "pymysql", "oracle": "oracledb", "mssql": "pyodbc"}
_PERMANENT = ("Access denied", "Unknown database", "unable to open database", "Login failed", "ORA-01017")
BACKOFF_S = 1.0



def _connect_args(engine: str) -> dict[str, Any]:
    """PyMySQL without its value decoders (it keeps the encoders, keyed by Python type): every value arrives
    as the text the server sent (a number, a date in ISO form), which is what the reader wants anyway, at
    about half the cost of parsing it and printing it back."""
    if engine != "mysql":
        return {}
    from pymysql.converters import conversions

    return {"conv": {k: v for k, v in conversions.items() if not isinstance(k, int)}, "charset": "utf8mb4"}


class DatabaseSource:
    def __init__(self, url: str, engine: str, table: str | None, query: str | None, limit: int | None = None,
                 connect_retries: int = 3) -> None:
        self.url, self.engine, self.table, self.query, self.limit = url, engine, table, query, limit
        self.connect_retries = connect_retries
        self._conn: Any = None
        self._base: Any = None  # the table, or the query as a subquery
        self._window: Any = None  # incremental runs: a filter on the change column

    def describe(self) -> str:
        return f"{_NAMES[self.engine]} {redact_url(self.url)} ({self.table or 'query'})"

    def __enter__(self) -> DatabaseSource:
        import sqlalchemy

        try:
            engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool,
                                              isolation_level="AUTOCOMMIT", connect_args=_connect_args(self.engine))
        except ModuleNotFoundError as exc:
            raise SourceError(f"reading {_NAMES[self.engine]} needs the `{_DRIVERS.get(self.engine, exc.name)}` "
                              f"package: pip install {_DRIVERS.get(self.engine, exc.name)}") from None
        self._conn = self._connect(engine)
        try:
            for statement in _BEGIN[self.engine]:
                self._conn.exec_driver_sql(statement)
            self._base = self._relation_base(sqlalchemy)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("ROLLBACK")
            except Exception:  # noqa: S110 - the connection is closed next either way
                pass
            self._conn.close()
            self._conn = None

    def _connect(self, engine: Any) -> Any:
        import sqlalchemy

        for attempt in range(self.connect_retries + 1):
            try:
                return engine.connect()
            except sqlalchemy.exc.DBAPIError as exc:
                cause = redact(str(exc.orig)).strip().splitlines()[0]
                if attempt == self.connect_retries or any(word in cause for word in _PERMANENT):
                    raise SourceError(f"cannot connect to the source {redact_url(self.url)}: {cause}; check "
                                      "`source.url` (host, port, user, password, database)") from None
                time.sleep(BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")

    def _relation_base(self, sqlalchemy: Any) -> Any:
        """The table (reflected: its columns and types) or the query, as something to select from."""
        if self.table is not None:
            schema, _, name = self.table.rpartition(".")
            try:
                return sqlalchemy.Table(name, sqlalchemy.MetaData(), schema=schema or None, autoload_with=self._conn)
            except sqlalchemy.exc.NoSuchTableError:
                raise SourceError(f"table {self.table} not found in the source {redact_url(self.url)}; check "
                                  "`source.table`") from None
            except sqlalchemy.exc.DBAPIError as exc:
                raise SourceError(f"cannot read {self.describe()}: {_cause(exc)}") from None
        text = sqlalchemy.text((self.query or "").strip().rstrip(";"))
        return text.columns().subquery("q")

    def _select(self, columns: list[str] | None, whole: bool = False) -> Any:
        import sqlalchemy

        names = columns or self.columns()
        statement: Any = sqlalchemy.select(*(sqlalchemy.column(n) for n in names)).select_from(self._base)
        if self._window is not None and not whole:
            statement = statement.where(self._window)
        if self.limit is not None:
            statement = statement.limit(self.limit)
        return statement

    def schema(self) -> dict[str, str]:
        """Column name -> the engine's type name, in the source's order."""
        import sqlalchemy

        if isinstance(self._base, sqlalchemy.Table):
            # str(): SQLAlchemy's names are a str subclass, which polars cannot take as a literal
            return {str(column.name): str(column.type) for column in self._base.columns}
        try:
            result = self._conn.execute(sqlalchemy.select(sqlalchemy.literal_column("*"))
                                        .select_from(self._base).limit(0))
        except sqlalchemy.exc.DBAPIError as exc:
            raise SourceError(f"`source.query` cannot be read: {_cause(exc)}; it must be one SELECT") from None
        description = result.cursor.description or []
        result.close()
        return {str(entry[0]): _type_name(self.engine, entry[1]) for entry in description}

    def columns(self) -> list[str]:
        return list(self.schema())

    def batches(self, batch_size: int, columns: list[str] | None = None, whole: bool = False) -> Iterator[pl.DataFrame]:
        import sqlalchemy

        names = columns or self.columns()
        try:
            result = self._conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                self._select(names, whole))
            try:
                yield from read_ahead(_frame(names, rows) for rows in result.partitions(batch_size))
            finally:
                result.close()  # read to its end or not, the connection is free for the next query
        except sqlalchemy.exc.DBAPIError as exc:
            raise SourceError(f"cannot read {self.describe()}: {_cause(exc)}") from None

    def max_value(self, column: str) -> str | None:
        import sqlalchemy

        value = self._conn.execute(sqlalchemy.select(sqlalchemy.func.max(sqlalchemy.column(column)))
                                   .select_from(self._base)).scalar()
        return None if value is None else _text(value)

    def restrict(self, column: str, after: str, overlap_s: float, until: str | None = None) -> None:
        """Only rows whose `column` is past `after` minus the overlap (and up to `until`); rows where it is
        null are read too, every run, rather than never."""
        import sqlalchemy

        stamp: Any = sqlalchemy.column(column)
        lower, upper = _bound(after, -overlap_s), None if until is None else _bound(until, 0)
        window = stamp > sqlalchemy.literal(lower)
        if upper is not None:
            window = sqlalchemy.and_(window, stamp <= sqlalchemy.literal(upper))
        self._window = sqlalchemy.or_(stamp.is_(None), window)


_DONE = object()


def read_ahead(frames: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """The next batch read in a second thread while the caller maps this one: the driver parses rows in
    Python while mapping spends its time in polars, outside the GIL. One batch waits at most (bounded
    memory); an error in the reader is raised in the caller, and stopping early stops the reader."""
    slot: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        slot.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slot.put(_DONE)
        except BaseException as exc:  # handed to the caller's thread, which raises it
            slot.put(exc)

    reader = threading.Thread(target=produce, name="smart360-etl-read", daemon=True)
    reader.start()
    try:
        while (item := slot.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _bound(text: str, shift_s: float) -> Any:
    """A stored watermark as the value it was: a number, or a date and time (shifted by the overlap)."""
    try:
        return Decimal(text) + Decimal(shift_s)
    except ArithmeticError:
        pass
    try:
        return datetime.fromisoformat(text) + timedelta(seconds=shift_s)
    except ValueError:
        raise SourceError(f"the watermark {text!r} is neither a number nor a date and time: check "
                          "`source.incremental.column`") from None


def _frame(names: list[str], rows: list[Any]) -> pl.DataFrame:
    schema = dict.fromkeys(names, pl.String)
    try:  # values that are text or numbers (PyMySQL without decoders: all text) build the frame in polars
        return pl.DataFrame(rows, schema=schema, orient="row")
    except (TypeError, pl.exceptions.PolarsError):
        pass
    columns = list(zip(*rows)) if rows else [() for _ in names]
    return pl.DataFrame([
        pl.Series(name, [v if v is None or type(v) is str else _text(v) for v in values], dtype=pl.String)
        for name, values in zip(names, columns)
    ])


def _text(value: Any) -> str:
    """A value as the database would print it: dates in ISO form, bytes decoded (bad bytes as U+FFFD)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(engine: str, code: Any) -> str:
    """A DBAPI type code as a type name (PyMySQL gives numbers; SQLite gives none)."""
    if engine == "mysql" and isinstance(code, int):
        from pymysql.constants import FIELD_TYPE

        names = {v: k for k, v in vars(FIELD_TYPE).items() if not k.startswith("_") and isinstance(v, int)}
        return names.get(code, str(code)).lower()
    return "" if code is None else str(getattr(code, "__name__", code)).lower()


def _cause(exc: Any) -> str:
    return redact(str(getattr(exc, "orig", exc))).strip().splitlines()[0]


# A type name of any of these engines -> its family, for drift detection (the reader reads them all as text).
_FAMILIES = (
    ("text", ("char", "varchar", "text", "tinytext", "mediumtext", "longtext", "string", "var_string", "enum",
              "set", "nchar", "nvarchar", "varchar2", "nvarchar2", "clob", "nclob", "ntext", "uniqueidentifier")),
    ("number", ("int", "integer", "tinyint", "smallint", "mediumint", "bigint", "decimal", "numeric", "newdecimal",
                "float", "double", "real", "number", "bit", "long", "longlong", "short", "tiny", "int24", "money",
                "smallmoney", "binary_float", "binary_double")),
    ("temporal", ("date", "datetime", "datetime2", "timestamp", "time", "year", "newdate", "smalldatetime",
                  "datetimeoffset")),
    ("binary", ("blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary", "raw", "image", "long raw")),
)


def type_family(type_name: str) -> str:
    """The family of a MySQL, SQLite, SQL Server or Oracle type name (`VARCHAR(40)`, `NUMBER(10,0)`, ...)."""
    base = type_name.lower().split("(")[0].strip().removesuffix(" unsigned")
    for family, names in _FAMILIES:
        if base in names:
            return family
    return base or "text"  # SQLite's untyped columns hold text as far as the source is concerned
