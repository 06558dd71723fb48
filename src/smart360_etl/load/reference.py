"""Reference data SMART360 is configured with before consumers arrive: tariff plans from a CSV file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from ..config import TargetConfig
from ..errors import SourceError
from .copying import copy_frames
from .merging import Table, merge

TARIFF_PLAN = Table("tariff_plan", ("code",), ("name", "service", "unit"), stamped=False)
STAGE = sql.Identifier("smart360_etl_stage_reference")


def read_tariff_plans(path: Path) -> pl.DataFrame:
    """The file's rows, checked: header `code,name,service,unit`, every value present, codes unique."""
    if not path.is_file():
        raise SourceError(f"reference file {path} not found")
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"{path} is not a readable CSV file: {exc}") from None
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    expected = list(TARIFF_PLAN.columns)
    if sorted(frame.columns) != sorted(expected):
        raise SourceError(f"{path} must have the header {','.join(expected)}; it has {','.join(frame.columns)}")
    frame = frame.select(pl.col(c).str.strip_chars() for c in expected)
    blank = frame.with_row_index("line", offset=2).filter(pl.any_horizontal(pl.col(expected).fill_null("") == ""))
    if blank.height:
        raise SourceError(f"{path}: empty values on line(s) {blank['line'].head(10).to_list()}")
    repeated = frame.filter(pl.col("code").is_duplicated())["code"].unique().sort().to_list()
    if repeated:
        raise SourceError(f"{path}: tariff plan codes {repeated[:10]} appear more than once")
    return frame


def load_tariff_plans(conn: psycopg.Connection, target: TargetConfig, plans: pl.DataFrame) -> tuple[int, int]:
    """Insert new plans and update changed ones, in one transaction; returns (inserted, updated)."""
    with conn.transaction():
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (code text, name text, service text, unit text) ON COMMIT DROP").format(STAGE)
        )
        copy_frames(conn, STAGE, [plans], list(TARIFF_PLAN.columns))
        return merge(conn, target.table("tariff_plan"), TARIFF_PLAN, STAGE)
