"""Read Snowflake tables in key-range chunks with snowflake-connector-python.

The connection comes from the Secrets Manager secret `deplat/<env>/snowflake` (a JSON object of
connector arguments: account, user, password and, locally, host/port/protocol; database,
schema, warehouse, role). It is read inside the job and never logged. `protocol: http` is refused
unless the host is loopback (the local fakesnow server): the password would travel in clear text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

CONNECT_FIELDS = ("account", "user", "password", "host", "port", "protocol", "database", "schema",
                  "warehouse", "role", "authenticator", "private_key_file")


@dataclass(frozen=True)
class KeyRange:
    """Keys in [low, high): the unit of extraction and of the resume watermark."""

    low: int
    high: int


@dataclass(frozen=True)
class Chunk:
    range: KeyRange | None  # None: rows selected by a change column, not a key range
    columns: list[str]  # lower-case source column names
    rows: list[tuple[Any, ...]]
    description: tuple = ()  # cursor.description: the source's declared types (ResultMetadata)


def secret_name(env: str) -> str:
    from deplat_job.sources.secret_store import secret_name as name

    return name(env, "snowflake")


def read_connection(env: str, client=None) -> dict[str, Any]:
    """The connector arguments stored in `deplat/<env>/snowflake` (boto3 honours AWS_ENDPOINT_URL)."""
    if client is None:
        from deplat_job.shared import job_client

        client = job_client("secretsmanager")
    name = secret_name(env)
    try:
        raw = client.get_secret_value(SecretId=name)["SecretString"]
    except client.exceptions.ResourceNotFoundException as exc:
        raise RuntimeError(f"secret {name} has no value: store the Snowflake connection JSON in it "
                           "(locally: `deplat local seed`)") from exc
    params = json.loads(raw)
    params = {k: v for k, v in params.items() if k in CONNECT_FIELDS}
    check_transport(params)
    return params


def check_transport(params: dict[str, Any]) -> None:
    """ConfigError (exit 2) when the connector arguments select plain http to a non-loopback host;
    without `host` the connector talks to <account>.snowflakecomputing.com, which is remote."""
    from deplat_job.shared import refuse_plaintext

    if str(params.get("protocol") or "https").lower() != "https":
        host = params.get("host")
        refuse_plaintext(f"Snowflake over {params.get('protocol')}", [str(host)] if host else [],
                         "remove `protocol` from the snowflake secret (https is the default); "
                         "plain http is only for the local stand-in")


def connect(params: dict[str, Any]):
    """A snowflake-connector-python connection; ConfigError for plain http off loopback."""
    import snowflake.connector

    check_transport(params)

    return snowflake.connector.connect(
        **params,
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        login_timeout=60,
        network_timeout=300,
    )


def key_ranges(low: int, high: int, width: int) -> list[KeyRange]:
    """[low, high] (inclusive, as min/max) split into half-open ranges of `width` keys.

    Only for dense keys: the count grows with the key span. `SnowflakeReader.chunks` uses
    `ranges_from_boundaries` over the keys' real distribution instead.
    """
    if width <= 0:
        raise ValueError("chunk width must be positive")
    return [KeyRange(start, min(start + width, high + 1)) for start in range(low, high + 1, width)]


def ranges_from_boundaries(boundaries: list[int], high: int) -> list[KeyRange]:
    """Half-open ranges starting at each boundary (sorted, distinct keys present in the table),
    the last one ending after `high`. Their number is the number of boundaries, whatever the span."""
    starts = sorted(set(int(b) for b in boundaries))
    return [KeyRange(lo, hi) for lo, hi in zip(starts, [*starts[1:], int(high) + 1])]


class SnowflakeReader:
    """Chunked reads of one table; `conn` is a DB-API connection from `connect`."""

    def __init__(self, conn):
        self.conn = conn
        self.queries = 0  # statements run, so the extraction's cost is visible and testable

    def _fetch(self, sql: str, params: tuple[Any, ...] = ()):
        cur = self.conn.cursor()
        try:
            self.queries += 1
            cur.execute(sql, params)
            return cur, cur.fetchall()
        finally:
            cur.close()

    def bounds(self, table: str, key: str, after: int | None = None) -> tuple[int, int] | None:
        """(min, max) of `key`, only keys >= `after` when given; None when there are none."""
        sql = f"SELECT min({key}), max({key}) FROM {table}"
        params: tuple[Any, ...] = ()
        if after is not None:
            sql += f" WHERE {key} >= %s"
            params = (after,)
        _, rows = self._fetch(sql, params)
        low, high = rows[0]
        return None if low is None else (int(low), int(high))

    def boundaries(self, table: str, key: str, rows_per_chunk: int, after: int | None = None) -> list[int]:
        """Every `rows_per_chunk`-th key in key order (one query): range starts that follow the
        real distribution of keys, so an outlier key (1, 2, 3, 10^12) adds one range, not millions."""
        if rows_per_chunk <= 0:
            raise ValueError("rows per chunk must be positive")
        where, params = (f" WHERE {key} >= %s", (after,)) if after is not None else ("", ())
        sql = (f"SELECT k FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) AS rn "
               f"FROM {table}{where}) WHERE mod(rn - 1, {int(rows_per_chunk)}) = 0 ORDER BY k")
        _, rows = self._fetch(sql, params)
        return [int(r[0]) for r in rows]

    def read(self, table: str, key: str, key_range: KeyRange) -> Chunk:
        cur = self.conn.cursor()
        try:
            self.queries += 1
            cur.execute(f"SELECT * FROM {table} WHERE {key} >= %s AND {key} < %s ORDER BY {key}",
                        (key_range.low, key_range.high))
            columns = [d[0].lower() for d in cur.description]
            return Chunk(key_range, columns, [tuple(r) for r in cur.fetchall()], tuple(cur.description))
        finally:
            cur.close()

    def changed_since(self, table: str, change_column: str, since: Any, rows_per_chunk: int) -> Iterator[Chunk]:
        """Rows whose `change_column` is >= `since` (all rows when None), in change order, in
        chunks of `rows_per_chunk` fetched from one query's result (one statement per call)."""
        if rows_per_chunk <= 0:
            raise ValueError("rows per chunk must be positive")
        where, params = (f" WHERE {change_column} >= %s", (since,)) if since is not None else ("", ())
        cur = self.conn.cursor()
        try:
            self.queries += 1
            cur.execute(f"SELECT * FROM {table}{where} ORDER BY {change_column}", params)
            columns = [d[0].lower() for d in cur.description]
            description = tuple(cur.description)
            while True:
                rows = cur.fetchmany(rows_per_chunk)
                if not rows:
                    return
                yield Chunk(None, columns, [tuple(r) for r in rows], description)
        finally:
            cur.close()

    def chunks(self, table: str, key: str, rows_per_chunk: int, after: int | None = None) -> Iterator[Chunk]:
        """Chunks of about `rows_per_chunk` rows with keys >= `after` (everything when None), in key
        order: 2 + rows / rows_per_chunk queries, bounded by the row count, not the key span."""
        span = self.bounds(table, key, after)
        if span is None:
            return
        for key_range in ranges_from_boundaries(self.boundaries(table, key, rows_per_chunk, after), span[1]):
            yield self.read(table, key, key_range)
