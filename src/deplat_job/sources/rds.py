"""The RDS (PostgreSQL) source of DMS, read directly: a key snapshot for ghost-key reconciliation.

DMS's S3 target carries no before-image, so a primary-key change arrives as an update of the new
key only and the old key stays in silver for good (a "ghost"). A snapshot of the table's primary
keys, taken in one REPEATABLE READ transaction and stamped with the WAL position on the CDC files'
`_dms_seq` scale, lets the silver step remove keys whose last change is older than the snapshot
and that the source no longer has (pipelines.dms.current_rows).

The snapshot is taken where the source is reachable: by the `dms_key_snapshot` job on the engine
(EMR Serverless in the cloud, spark-submit locally), with credentials read from Secrets Manager by
name. The secret is the JSON object RDS and DMS use for PostgreSQL credentials: host, port,
dbname, username, password (optional sslmode, default `require` outside loopback).

Python 3.9-compatible and standard library only at import time (psycopg inside `connect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

SECRET_SOURCE = "rds"
SECRET_KEYS = ("host", "port", "dbname", "username", "password")
CONNECT_TIMEOUT_S = 10
# The scale of the CDC files' `_dms_seq`, which the snapshot's sequence must share:
# - "dms": AWS DMS's AR_H_CHANGE_SEQ, a 35-digit YYYYMMDDHHmmSShh (commit time, UTC, as the
#   replication instance sees it) + a 19-digit change counter (AWS DMS "Transformation rule
#   expressions", headers; Qlik Replicate's header columns document the layout);
# - "wal": deplat's local capture (deplat.local.dms_capture), the commit's WAL position (20
#   digits) + the change's index in its transaction (15 digits).
SEQ_SCALES = ("dms", "wal")
# "dms": the snapshot claims to have seen only changes up to this long before it was taken, so a
# replication instance whose clock lags the database's never makes a key inserted after the
# snapshot look older than it (and removed). A ghost younger than this goes at the next snapshot.
DMS_CLOCK_MARGIN = timedelta(minutes=5)


def lsn_to_int(lsn: str) -> int:
    """PostgreSQL's pg_lsn text `16/B374D848` as an integer (the WAL byte position)."""
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(secret: dict[str, Any], timeout: float = CONNECT_TIMEOUT_S):
    """A psycopg connection (autocommit, session in UTC) from an RDS credentials secret.

    Raises ValueError naming the missing keys (never a value); psycopg's OperationalError when the
    server refuses. TLS is required unless the host is loopback or the secret sets `sslmode`.
    """
    import psycopg

    missing = [k for k in SECRET_KEYS if k != "password" and not secret.get(k)]
    if missing:
        raise ValueError(f"the RDS secret lacks {', '.join(missing)} (keys: {', '.join(SECRET_KEYS)})")
    host = str(secret["host"])
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    conn = psycopg.connect(host=host, port=int(secret["port"]), dbname=str(secret["dbname"]),
                           user=str(secret["username"]), password=str(secret.get("password") or ""),
                           sslmode=str(secret.get("sslmode") or ("prefer" if loopback else "require")),
                           connect_timeout=int(timeout), autocommit=True,
                           application_name="deplat-key-snapshot")
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def primary_key(conn, qualified: str) -> tuple[str, ...]:
    """The table's primary-key columns in key order (empty when it has none)."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
        "ON true JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n", (qualified,)).fetchall()
    return tuple(r[0] for r in rows)


@dataclass
class KeySnapshot:
    """A table's primary keys at one point of the source's commit order."""

    table: str  # schema.table
    columns: tuple[str, ...]  # the key columns
    rows: list[tuple[Any, ...]]  # the keys, as PostgreSQL's text output
    taken_at: datetime  # the point the snapshot stands for, UTC (the file name's time)
    seq: str  # that point on the CDC files' _dms_seq scale (SEQ_SCALES)


def snapshot_point(statement_ts: datetime, wal_lsn: str, scale: str,
                   margin: timedelta = DMS_CLOCK_MARGIN) -> tuple[datetime, str]:
    """(time, change sequence) a snapshot taken at `statement_ts` / `wal_lsn` stands for on the
    `_dms_seq` scale `scale`: the WAL position itself ("wal"), or the statement time less
    `margin` as an AR_H_CHANGE_SEQ with a zero counter ("dms")."""
    if scale == "wal":
        return statement_ts.astimezone(timezone.utc), f"{lsn_to_int(wal_lsn):020d}{0:015d}"
    if scale != "dms":
        raise ValueError(f"unknown change-sequence scale {scale!r}; one of {', '.join(SEQ_SCALES)}")
    at = statement_ts.astimezone(timezone.utc) - margin
    return at, f"{at:%Y%m%d%H%M%S}{at.microsecond // 10000:02d}{0:019d}"


def take_key_snapshot(conn, qualified: str, scale: str = "dms", margin: timedelta = DMS_CLOCK_MARGIN
                      ) -> KeySnapshot:
    """The primary keys of `schema.table` from one REPEATABLE READ transaction, stamped with the
    point of the source's commit order they show (snapshot_point).

    The time and WAL position are read in the transaction's first statement, which also fixes its
    snapshot, so every change committed before that point is visible in the keys read. Raises
    ValueError when the table has no primary key or `scale` is unknown.
    """
    schema, _, table = qualified.partition(".")
    if scale not in SEQ_SCALES:
        raise ValueError(f"unknown change-sequence scale {scale!r}; one of {', '.join(SEQ_SCALES)}")
    if not schema or not table:
        raise ValueError(f"{qualified!r} is not <schema>.<table>")
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ts, lsn = conn.execute("SELECT statement_timestamp(), pg_current_wal_lsn()::text").fetchone()
        key = primary_key(conn, qualified)
        if not key:
            raise ValueError(f"{qualified} has no primary key to reconcile on")
        rows = conn.execute(f"SELECT {', '.join(quote_ident(k) + '::text' for k in key)} "
                            f"FROM {quote_ident(schema)}.{quote_ident(table)}").fetchall()
    at, seq = snapshot_point(ts, lsn, scale, margin)
    return KeySnapshot(qualified, key, [tuple(r) for r in rows], at, seq)
