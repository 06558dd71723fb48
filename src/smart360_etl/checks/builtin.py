"""The built-in checks: record counts, integrity, formats, shared contacts, reject rates, duplicates.

Defaults: record-count and integrity checks `fail`; formats, quality and anomalies `warn`. A job's
`checks:` section changes severity, threshold or limit, or switches a check off.
"""

from __future__ import annotations

from psycopg import sql

from ..config import NULLING_REASONS
from ..db import one_row
from ..mapping.places import SPELLED_OUT, has_gazetteer, places_for
from ..reasons import REQUIRED_FIELDS
from ..result import IncrementalSummary
from . import Check, Measure
from .context import RUN_ROWS, CheckContext
from .rows import failing_rows


def consumer_id_unique(ctx: CheckContext, check: Check) -> Measure:
    """By the catalog where a unique index on consumer_id guarantees it for the whole table; otherwise
    counted (scoped, the written rows hold every row with a written id: a duplicate of one is among them)."""
    if unique_index(ctx, ctx.consumer, "consumer_id") is not None:
        return Measure(0, ctx.predicate_counts["total"], [], scope="constraint")
    rows = ctx.conn.execute(
        sql.SQL(
            "SELECT consumer_id, count(*) OVER () FROM {} WHERE consumer_id IS NOT NULL GROUP BY consumer_id "
            "HAVING count(*) > 1 ORDER BY consumer_id LIMIT 5"
        ).format(ctx.rows_table)
    ).fetchall()
    return Measure(rows[0][1] if rows else 0, ctx.predicate_counts["total"], [r[0] for r in rows])


def unique_index(ctx: CheckContext, table: sql.Identifier, column: str) -> str | None:
    """The name of a valid, whole-table unique index on `column` alone (a primary key is one), if any."""
    found = ctx.conn.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indisvalid "
        "AND i.indpred IS NULL AND i.indnkeyatts = 1 AND a.attname = %s ORDER BY 1 LIMIT 1",
        [table.as_string(ctx.conn), column],
    ).fetchone()
    return found[0] if found else None


def shared_contact(column: str):
    def measure(ctx: CheckContext, check: Check) -> Measure:
        distinct, groups = ctx.shared_contacts[column]
        firsts = sorted(first_id for n, first_id in groups if n > (check.limit or 0))
        return Measure(len(firsts), distinct, firsts[:5])

    return measure


def record_count(ctx: CheckContext, check: Check) -> Measure:
    c = ctx.facts.counts
    outcomes = c["inserted"] + c["updated"] + c["unchanged"] + c["rejected"]
    return Measure(abs(c["extracted"] - outcomes), c["extracted"], [])


def source_keys(ctx: CheckContext, check: Check) -> Measure:
    """Every source id of the run is in the target or the rejects; nothing else of the run is."""
    keys, consumer = ctx.source_keys, ctx.consumer
    reject = ctx.target.table("reject")
    missing = ctx.conn.execute(
        sql.SQL(
            "SELECT 'missing ' || k.consumer_id FROM {keys} k WHERE NOT EXISTS (SELECT FROM {consumer} c "
            "WHERE c.consumer_id = k.consumer_id) AND NOT EXISTS (SELECT FROM {reject} r WHERE r.run_id = %s "
            "AND r.consumer_id = k.consumer_id) ORDER BY 1"
        ).format(keys=keys, consumer=consumer, reject=reject),
        [ctx.facts.run_id],
    ).fetchall()
    # The rows the run wrote: recorded as it wrote them (scoped), or stamped with its transaction's time.
    written = (
        sql.SQL("SELECT consumer_id FROM {}").format(RUN_ROWS)
        if ctx.scoped
        else sql.SQL("SELECT consumer_id FROM {} c WHERE c.created_at = now() OR c.updated_at = now()").format(consumer)
    )
    unexpected = ctx.conn.execute(
        sql.SQL(
            "SELECT 'unexpected ' || w.consumer_id FROM ({written}) w "
            "WHERE NOT EXISTS (SELECT FROM {keys} k WHERE k.consumer_id = w.consumer_id) ORDER BY 1"
        ).format(keys=keys, written=written)
    ).fetchall()
    found = [r[0] for r in missing + unexpected]
    return Measure(len(found), ctx.facts.source_key_count, found[:20])


def reject_rate(ctx: CheckContext, check: Check) -> Measure:
    extracted = ctx.facts.counts["extracted"] or 1
    allowed = check.threshold if check.threshold >= 1 else check.threshold * extracted
    over = [
        f"{reason}: {count} ({count / extracted:.1%})"
        for reason, count in ctx.facts.rejects_by_reason.items()
        if count > allowed
    ]
    worst = max(ctx.facts.rejects_by_reason.values(), default=0)
    return Measure(worst, ctx.facts.counts["extracted"], over)


def field_mostly_nulled(ctx: CheckContext, check: Check) -> Measure:
    """Of the run's loaded rows, how many had each field nulled by a warning (the worst field counts)."""
    warning = ctx.target.table("warning")
    rows = ctx.conn.execute(
        sql.SQL(
            "SELECT reason, count(DISTINCT source_row_number) FROM {} WHERE run_id = %s AND reason = ANY(%s) "
            "GROUP BY reason ORDER BY 2 DESC, 1"
        ).format(warning),
        [ctx.facts.run_id, list(NULLING_REASONS)],
    ).fetchall()
    loaded = ctx.facts.counts["extracted"] - ctx.facts.counts["rejected"]
    allowed = check.threshold if check.threshold >= 1 else check.threshold * loaded
    over = [f"{NULLING_REASONS[r]}: {n} of {loaded} nulled ({r})" for r, n in rows if n > allowed]
    return Measure(max((n for _, n in rows), default=0), loaded, over)


def _incremental(ctx: CheckContext) -> bool:
    return ctx.run is not None and ctx.facts.incremental is not None


def _reporting_deletes(ctx: CheckContext) -> bool:
    return _incremental(ctx) and _window(ctx)["deletes"] == "report"


def _window(ctx: CheckContext) -> IncrementalSummary:
    """An incremental run's window: its verification and deleted rows (the checks apply only then)."""
    if ctx.facts.incremental is None:
        raise ValueError("an incremental check ran in a run that is not incremental")
    return ctx.facts.incremental


def window_verified(ctx: CheckContext, check: Check) -> Measure:
    verified = _window(ctx)["verified"]
    return Measure(verified["failing"], verified["total"], verified["sample"])


def source_deletes(ctx: CheckContext, check: Check) -> Measure:
    deleted = _window(ctx)["deleted"]
    return Measure(deleted["count"], ctx.facts.source_key_count + deleted["count"], deleted["sample"])


def _has_accounts(ctx: CheckContext) -> bool:
    """The account checks apply once the target holds accounts (a consumer-only job leaves them empty, and
    its role need not read them: a job with accounts has that privilege checked by `doctor`)."""
    table = ctx.target.table("account").as_string(ctx.conn)
    readable = one_row(ctx.conn.execute(
        "SELECT CASE WHEN to_regclass(%s) IS NULL THEN false ELSE has_table_privilege(%s, 'SELECT') END",
        [table, table],
    ))[0]
    if not readable:
        return False
    return one_row(ctx.conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(ctx.target.table("account"))))[0]


def _without(ctx: CheckContext, table: sql.Identifier, key: str, other: sql.Identifier) -> Measure:
    """Rows of `table` whose `key` no row of `other` has: an anti-join, which PostgreSQL runs as a merge of
    two indexes where both keys have one (3x faster than an outer join against the distinct keys)."""
    k = sql.Identifier(key)
    failing, sample = one_row(ctx.conn.execute(
        sql.SQL(
            "SELECT count(*), (array_agg(t.{k} ORDER BY t.{k}))[1:5] FROM {t} t "
            "WHERE NOT EXISTS (SELECT FROM {o} o WHERE o.{k} = t.{k})"
        ).format(k=k, t=table, o=other)
    ))
    total = one_row(ctx.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)))[0]
    return Measure(failing, total, sample or [], scope="target")


def consumer_without_account(ctx: CheckContext, check: Check) -> Measure:
    return _without(ctx, ctx.consumer, "consumer_id", ctx.target.table("account"))


def account_without_meter(ctx: CheckContext, check: Check) -> Measure:
    return _without(ctx, ctx.target.table("account"), "account_number", ctx.target.table("meter"))


def meter_on_several_active_accounts(ctx: CheckContext, check: Check) -> Measure:
    # Our meter table keys meters by number; a SMART360 database may not: count, never assume.
    failing, total, sample = one_row(ctx.conn.execute(
        sql.SQL(
            # min <> max: two accounts, as count(DISTINCT) > 1 says, hashed instead of sorted
            "SELECT count(*) FILTER (WHERE several), count(*), (array_agg(meter_number ORDER BY meter_number) "
            "FILTER (WHERE several))[1:5] FROM (SELECT m.meter_number, "
            "min(m.account_number) <> max(m.account_number) AS several "
            "FROM {meter} m JOIN {account} a ON a.account_number = m.account_number AND a.status = 'ACTIVE' "
            "GROUP BY m.meter_number) AS v"
        ).format(meter=ctx.target.table("meter"), account=ctx.target.table("account"))
    ))
    return Measure(failing, total, sample or [], scope="target")


def _has_gazetteer(ctx: CheckContext) -> bool:
    return has_gazetteer(ctx.region.code)


def city_matches_postal_code(ctx: CheckContext, check: Check) -> Measure:
    """Consumers whose postal code the gazetteer knows but whose city is none of that code's places. The
    gazetteer's (postal code, place) pairs are COPYed into a temporary table; the city is keyed as the
    gazetteer keys its places (upper case, no dots or accents, hyphens as spaces, St/Ft/Mt spelled out)."""
    postals = None  # scoped: only the codes of the run's rows need their places
    if ctx.scoped:
        postals = {row[0] for row in ctx.conn.execute(
            sql.SQL("SELECT DISTINCT left(zip_code, 5) FROM {} WHERE zip_code IS NOT NULL").format(ctx.rows_table)
        )}
        if not postals:
            return Measure(0, 0, [])
    places = places_for(ctx.region.code)
    ctx.conn.execute("CREATE TEMPORARY TABLE IF NOT EXISTS smart360_etl_place (postal text, place text)")
    ctx.conn.execute("TRUNCATE smart360_etl_place")
    with ctx.conn.cursor().copy("COPY smart360_etl_place (postal, place) FROM STDIN") as copy:
        for row in places.pairs(postals):
            copy.write_row(row)
    ctx.conn.execute("CREATE INDEX IF NOT EXISTS smart360_etl_place_key ON smart360_etl_place (postal, place)")
    key: sql.Composable = sql.SQL("upper(translate(city, '.-', '  '))")
    for short, long in SPELLED_OUT.items():
        key = sql.SQL("regexp_replace({}, {}, {}, 'g')").format(
            key, sql.Literal(f"(^| ){short}(?= |$)"), sql.Literal(f"\\1{long}")
        )
    key = sql.SQL("btrim(regexp_replace({}, '\\s+', ' ', 'g'))").format(key)
    # Judged once per distinct (postal code, city) pair, not once per consumer: the key's regular expressions
    # run per distinct city, the gazetteer probes per pair; only the consumers of wrong pairs are read again,
    # for the sample.
    failing, total, sample = one_row(ctx.conn.execute(
        sql.SQL(
            "WITH keyed AS (SELECT city, {key} AS key FROM (SELECT DISTINCT city FROM {consumer} "
            "WHERE city IS NOT NULL) d), "
            "pairs AS (SELECT left(zip_code, 5) AS postal, city, count(*) AS n FROM {consumer} "
            "WHERE city IS NOT NULL AND zip_code IS NOT NULL GROUP BY 1, 2), "
            "judged AS MATERIALIZED (SELECT p.postal, p.city, p.n, NOT EXISTS (SELECT FROM smart360_etl_place g "
            "WHERE g.postal = p.postal AND g.place = k.key) AS wrong FROM pairs p JOIN keyed k USING (city) "
            "WHERE EXISTS (SELECT FROM smart360_etl_place g WHERE g.postal = p.postal)) "
            "SELECT coalesce(sum(n) FILTER (WHERE wrong), 0)::bigint, coalesce(sum(n), 0)::bigint, "
            "ARRAY(SELECT c.consumer_id FROM {consumer} c JOIN judged j ON j.wrong AND j.city = c.city "
            "AND j.postal = left(c.zip_code, 5) ORDER BY c.consumer_id LIMIT 5) FROM judged"
        ).format(key=key, consumer=ctx.rows_table)
    ))
    return Measure(failing, total, sample or [])


def builtin_checks() -> list[Check]:
    """Every built-in check, in report order: the run's reconciliation, the row checks, then the rest."""
    return [*_reconciling_checks(), *_row_checks(), *_contact_and_rate_checks(), *_account_checks(),
            *_incremental_checks()]


def _row_checks() -> list[Check]:
    """One condition per row of the target (the region's, where it has one); integrity ones fail."""
    described = {
        "consumer_id_not_null": "every consumer has an id",
        "first_name_present": "first_name is not null or blank",
        "last_name_present": "last_name is not null or blank",
        "address_line_1_present": "address_line_1 is not null or blank",
        "phone_number_format": "phone_number is E.164 and fits the region's numbering plan",
        "email_address_format": "email_address passes the syntax check, domain in lower case",
        "zip_code_format": "zip_code has the region's postal-code shape",
        "state_known": "state is one of the region's states",
        "zip_code_matches_state": "the ZIP code's prefix belongs to the state",
    }
    integrity = {"consumer_id_not_null"} | {f"{f}_present" for f in REQUIRED_FIELDS if f != "consumer_id"}
    return [
        Check(name, text, "fail" if name in integrity else "warn", failing_rows, predicate=name)
        for name, text in described.items()
    ]


def _reconciling_checks() -> list[Check]:
    return [
        Check(
            "record_count_reconciles",
            "extracted = inserted + updated + unchanged + rejected",
            "fail",
            record_count,
            needs_run=True,
        ),
        Check(
            "source_keys_reconcile",
            "every source id is in the target or the rejects, nothing else of the run is",
            "fail",
            source_keys,
            needs_run=True,
        ),
        Check("consumer_id_unique", "no consumer id appears twice in the target", "fail", consumer_id_unique),
    ]


def _contact_and_rate_checks() -> list[Check]:
    from .duplicates import likely_duplicates

    return [
        Check(
            "shared_phone_number",
            "no phone number is shared by more than `limit` consumers",
            "warn",
            shared_contact("phone_number"),
            limit=3,
        ),
        Check(
            "shared_email_address",
            "no e-mail address is shared by more than `limit` consumers",
            "warn",
            shared_contact("email_address"),
            limit=3,
        ),
        Check(
            "reject_rate",
            "no reject reason above `threshold` of the extracted rows",
            "warn",
            reject_rate,
            threshold=0.05,
            needs_run=True,
        ),
        Check(
            "field_mostly_nulled",
            "no field nulled by warnings in more than `threshold` of the loaded rows (fails above `fail_above`)",
            "warn",
            field_mostly_nulled,
            threshold=0.2,
            fail_above=0.5,
            needs_run=True,
        ),
        Check(
            "city_matches_postal_code",
            "the city is one of the places of its postal code (the region's gazetteer)",
            "warn",
            city_matches_postal_code,
            applies=_has_gazetteer,
        ),
        Check("likely_duplicate_consumers", "no two consumer ids look like the same person", "warn", likely_duplicates),
    ]


def _account_checks() -> list[Check]:
    return [
        Check(
            "consumer_without_account",
            "every consumer has an account (jobs with accounts)",
            "warn",
            consumer_without_account,
            applies=_has_accounts,
        ),
        Check(
            "account_without_meter",
            "every account has a meter (a metered service)",
            "warn",
            account_without_meter,
            applies=_has_accounts,
        ),
        Check(
            "meter_on_several_active_accounts",
            "no meter is on more than one active account",
            "warn",
            meter_on_several_active_accounts,
            applies=_has_accounts,
        ),
    ]


def _incremental_checks() -> list[Check]:
    return [
        Check(
            "incremental_window_verified",
            "every source row of the incremental window is in the target as the source has it now, or rejected",
            "fail",
            window_verified,
            needs_run=True,
            applies=_incremental,
        ),
        Check(
            "source_rows_deleted",
            "no consumer loaded earlier has disappeared from the source (incremental, `deletes: report`)",
            "warn",
            source_deletes,
            needs_run=True,
            applies=_reporting_deletes,
        ),
    ]
