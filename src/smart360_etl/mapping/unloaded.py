"""Source columns that no field reads: named in the run log, the report and `doctor`, never dropped silently."""

from __future__ import annotations

from ..config import JobConfig
from ..errors import SourceError
from .accounts import PART_COLUMNS
from .fields import FieldRule, column_key, resolve_column


def unloaded_columns(job: JobConfig, columns: list[str], rules: list[FieldRule]) -> list[str]:
    """The source's columns, in its order, that neither a field, the accounts nor the sync reads."""
    read = {rule.column for rule in rules}
    if job.accounts is not None:
        for part, default in PART_COLUMNS.items():
            try:
                read.add(resolve_column(job.accounts.columns.get(part, default), columns, part) or part)
            except SourceError:
                pass  # the run names a missing account column itself
    incremental = job.source.incremental
    if incremental is not None and incremental.column:
        read |= {c for c in columns if column_key(c) == column_key(incremental.column)}
    return [column for column in columns if column not in read]


def unloaded_message(job: JobConfig, unloaded: list[str]) -> str:
    """'3 source columns not loaded: ...', with how to load the account columns when they are among them."""
    text = f"{len(unloaded)} source column{'s' if len(unloaded) != 1 else ''} not loaded: {', '.join(unloaded)}"
    account_columns = {column_key(c) for c in PART_COLUMNS.values()}
    if job.accounts is None and any(column_key(c) in account_columns for c in unloaded):
        text += "; add `accounts:` to the job to load accounts, meters, tariffs and readings"
    return text + "; map a column (`mapping.<field>.from`) to load it"
